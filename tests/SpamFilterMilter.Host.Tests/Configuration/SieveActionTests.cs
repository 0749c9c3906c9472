using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests.Configuration;

/// <summary>Action URLs (RFC 2397 data:) are decoded once, and $U is substituted after decoding.</summary>
public class SieveActionTests
{
    private static string Decode(string url) =>
        SieveAction.TryParse(url, out var problem)?.Template ?? throw new AssertionException(problem!);

    [TestCase("data:,discard;", "discard;")]
    [TestCase("DATA:,keep;", "keep;")]
    [TestCase("data:,require \"fileinto\"; fileinto \"SPAM_CAN\";", "require \"fileinto\"; fileinto \"SPAM_CAN\";")]
    [TestCase("data:,fileinto%20%22Junk%22;", "fileinto \"Junk\";")]
    [TestCase("data:,keep;%0Adiscard;", "keep;\ndiscard;")]
    [TestCase("data:text/plain;charset=utf-8,addtag \"%C3%A9t%C3%A9\";", "addtag \"été\";")]
    [TestCase("data:;charset=iso-8859-1,addtag \"%E9\";", "addtag \"é\";")]
    [TestCase("data:;charset=iso-8859-1,addtag \"é%E9\";", "addtag \"éé\";")]
    [TestCase("data:;charset=iso-8859-1,addtag \"€ 100%\";", "addtag \"€ 100%\";")]
    [TestCase("data:,addtag \"é%C3%A9\";", "addtag \"éé\";")]
    public void A_plain_data_URL_is_percent_decoded(string url, string script)
    {
        Assert.That(Decode(url), Is.EqualTo(script));
    }

    [Test]
    public void A_script_without_U_is_parsed_once_for_every_verdict_and_one_with_U_for_each()
    {
        var fixedScript = SieveAction.TryParse("data:,require \"fileinto\"; fileinto \"Junk\";", out _)!;
        var perVerdict = SieveAction.TryParse("data:,$U", out _)!;

        Assert.That(fixedScript.ScriptFor("a"), Is.SameAs(fixedScript.ScriptFor("b")));
        var first = perVerdict.ScriptFor("keep;");
        Assert.That(perVerdict.ScriptFor("keep;"), Is.Not.SameAs(first));
        Assert.That(perVerdict.ScriptFor("require \"fileinto\"; fileinto \"Junk\";").Run("Subject: x\r\n\r\n"u8.ToArray(), new SpamFilterMilter.Host.Editing.Envelope("a@b", null, [new("c@d")])).Folders,
            Is.EqualTo(new[] { "Junk" }), "the verdict is substituted before parsing");
    }

    [TestCase("data:,addtag \"100%\";", "addtag \"100%\";")]
    [TestCase("data:,addtag \"%zz%4\";", "addtag \"%zz%4\";")]
    public void A_percent_sign_that_is_not_an_escape_stays(string url, string script)
    {
        Assert.That(Decode(url), Is.EqualTo(script));
    }

    [Test]
    public void A_base64_data_URL_is_decoded_after_its_percent_escapes()
    {
        Assert.That(Decode("data:;base64,ZGlzY2FyZDs="), Is.EqualTo("discard;"));
        Assert.That(Decode("data:text/plain;base64,ZGlzY2FyZDs%3D"), Is.EqualTo("discard;"));
    }

    [Test]
    public void U_is_substituted_after_decoding_so_the_verdict_is_used_as_it_came()
    {
        var action = SieveAction.TryParse("data:,addheader \"X-Verdict\" \"$U\";", out _)!;

        Assert.That(action.Expand("50%20off %41"), Is.EqualTo("addheader \"X-Verdict\" \"50%20off %41\";"));
        Assert.That(action.Expand(null), Is.EqualTo("addheader \"X-Verdict\" \"\";"));
    }

    [TestCase("https://example.com/a.sieve", "only data: URLs are supported (the script inline, e.g. data:,discard), not https:")]
    [TestCase("discard;", "is not a URL: write the Sieve script as data:,<script> (e.g. data:,discard)")]
    [TestCase("data:discard;", "a data: URL needs a comma before the script (data:,<script>)")]
    [TestCase("data:;base64,not*base64", "the data: URL says ;base64 but its data is not valid base64")]
    [TestCase("data:;charset=koi8-r,keep;", "charset koi8-r is not supported (use utf-8, us-ascii or iso-8859-1)")]
    [TestCase("data:,keep%FF;", "the decoded script is not valid UTF-8")]
    public void A_URL_that_cannot_be_used_says_why(string url, string problem)
    {
        Assert.That(SieveAction.TryParse(url, out var actual), Is.Null);
        Assert.That(actual, Is.EqualTo(problem));
    }
}
