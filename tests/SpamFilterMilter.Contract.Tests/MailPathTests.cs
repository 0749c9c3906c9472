namespace SpamFilterMilter.Contract.Tests;

/// <summary>The one reading of an envelope address the plug-in and the host share (<see cref="MailPath"/>).</summary>
public class MailPathTests
{
    [TestCase("alice@example.org", "<alice@example.org>")]
    [TestCase("<alice@example.org>", "<alice@example.org>")]
    [TestCase("  <alice@example.org> ", "<alice@example.org>")]
    [TestCase(" alice@example.org\t", "<alice@example.org>")]
    [TestCase("", "<>")]           // the null sender
    [TestCase("   ", "<>")]
    [TestCase("<>", "<>")]
    public void Bracket_writes_the_address_as_SMTP_does(string address, string bracketed)
    {
        Assert.That(MailPath.Bracket(address), Is.EqualTo(bracketed));
    }

    [TestCase("<alice@example.org>", "alice@example.org")]
    [TestCase("alice@example.org", "alice@example.org")]
    [TestCase(" < alice@example.org > ", "alice@example.org")]
    [TestCase("<>", "")]
    [TestCase("", "")]
    [TestCase("  ", "")]
    [TestCase("<\"a b\"@example.org>", "\"a b\"@example.org")]
    public void Bare_drops_angle_brackets_and_surrounding_blanks(string address, string bare)
    {
        Assert.That(MailPath.Bare(address), Is.EqualTo(bare));
    }

    [TestCase("<Alice@Example.ORG>", "alice@example.org", true)]
    [TestCase(" <>", "", true)]
    [TestCase("alice@example.org", "alice@example.com", false)]
    [TestCase("<alice@example.org>", "<>", false)]
    public void Same_compares_bare_addresses_without_regard_to_case(string a, string b, bool same)
    {
        Assert.That((MailPath.Same(a, b), MailPath.Same(b, a)), Is.EqualTo((same, same)));
    }

    [TestCase("alice@example.org", "alice", "example.org")]
    [TestCase("\"a@b\"@example.org", "\"a@b\"", "example.org")] // the last @ splits
    [TestCase("postmaster", "postmaster", null)]
    [TestCase("alice@", "alice", "")]
    [TestCase("", "", null)]                                    // the null sender, bare
    public void The_local_part_and_domain_split_at_the_last_at_sign(string address, string localPart, string? domain)
    {
        Assert.That((MailPath.LocalPart(address), MailPath.Domain(address)), Is.EqualTo((localPart, domain)));
    }

    [TestCase("alice@example.org", -1)]
    [TestCase("\"a b\"@example.org", -1)]
    [TestCase("", -1)]
    [TestCase("NOTIFY=SUCCESS,FAILURE", -1)]
    [TestCase("a@example.org>\r\nRCPT TO:<evil@example.net", 14)] // would become an SMTP command of its own
    [TestCase("a\nb", 1)]
    [TestCase("a\0b", 1)]
    [TestCase("tab\there", 3)]
    [TestCase("del\u007F", 3)]
    [TestCase("c1\u0085", 2)]  // NEL: a Latin-1 byte 0x85 read as text
    [TestCase("c1\u009B2J", 2)] // CSI
    public void No_control_character_may_stand_in_an_address_or_parameter(string text, int firstBad)
    {
        Assert.That(MailPath.FindBadCharacter(text), Is.EqualTo(firstBad));
    }

    [TestCase("alice@example.org")]
    [TestCase("<alice@example.org>")]
    [TestCase(" < alice@example.org > ")]
    [TestCase("<>")]
    [TestCase("")]
    [TestCase("<\"a b\"@example.org>")]
    [TestCase("\"a \\\" > b\"@example.org")]
    [TestCase("<@relay.example,@mx.example:alice@example.org>")]
    public void One_path_as_MAIL_or_RCPT_writes_it_is_an_address(string text)
    {
        Assert.That(MailPath.PathProblem(text), Is.Null);
    }

    [TestCase("<a@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;boss@example.net", "text after the closing '>', or no closing '>'")]
    [TestCase("<a@example.org", "text after the closing '>', or no closing '>'")]
    [TestCase("a@example.org SIZE=1", "a blank outside a quoted local part")]
    [TestCase("<a@example.org\tRET=FULL>", "a control character (\\x09)")]
    [TestCase("a@example.org>", "'>' inside the address")]
    [TestCase("<a<b@example.org>", "'<' inside the address")]
    [TestCase("\"a b@example.org", "a quoted local part without its closing '\"'")]
    [TestCase("a\u0085b@example.org", "a control character (\\x85)")]
    public void Text_that_is_not_one_path_is_refused_saying_why(string text, string problem)
    {
        Assert.That(MailPath.PathProblem(text), Is.EqualTo(problem));
    }

    [TestCase("alice", "example.org", "alice@example.org")]
    [TestCase("first.last+tag", "example.org", "first.last+tag@example.org")]
    [TestCase("j\u00f6rg", "example.org", "j\u00f6rg@example.org")]                  // UTF-8 is atext (RFC 6531)
    [TestCase("john doe", "example.org", "\"john doe\"@example.org")]
    [TestCase("a\"b\\c", "example.org", "\"a\\\"b\\\\c\"@example.org")]
    [TestCase(".dot", "example.org", "\".dot\"@example.org")]
    [TestCase("a..b", "example.org", "\"a..b\"@example.org")]
    public void A_local_part_that_is_not_a_dot_string_is_quoted(string localPart, string domain, string address)
    {
        Assert.That(MailPath.Address(localPart, domain), Is.EqualTo(address));
        Assert.That(MailPath.PathProblem(address), Is.Null, "and is one path");
    }

    [Test]
    public void A_null_address_is_a_caller_bug()
    {
        Assert.Throws<ArgumentNullException>(() => MailPath.Bracket(null!));
        Assert.Throws<ArgumentNullException>(() => MailPath.Bare(null!));
    }
}
