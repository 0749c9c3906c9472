using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// The whole chain: option.dat selects the milter plug-in (loaded by path from plugins/) for one user and not
/// for another; a real libmilter milter filters the message; the action string it produced is run, and the
/// delivered copies differ exactly as they should.
/// </summary>
[Category("Integration")]
public class EndToEndTests : TempFolderTest
{
    private const string Text = "From: alice@example.org\r\nTo: bob@example.com, carol@example.com\r\nSubject: hello\r\n\r\nBody\r\n";

    private static HostMessage Message() => new()
    {
        Message = Encoding.ASCII.GetBytes(Text),
        Envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("carol@example.com")]),
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net"),
        HeloName = "client.example.net",
    };

    private string OptionDat(MilterProcess milter, string extra = "")
    {
        Folder.Write("directory.ldif", "dn: uid=bob\nmail: bob@example.com\nmailAntiUBEService: spam\n\ndn: uid=carol\nmail: carol@example.com\n");
        return Folder.Write("option.dat",
            $"spamfilter1_library={DeployedPlugin.Path}\n" +
            $"spamfilter1_config_file={milter.OptionFile(Folder)}\n" +
            "LDAP_OPTIN1=mailAntiUBEService\n" +
            "DIRECTORY_FILE=directory.ldif\n" + extra);
    }

    [Test]
    public async Task A_libmilter_milter_selected_for_one_user_edits_and_quarantines_only_that_users_copy()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "eom=addheader:X-Spam-Flag:YES",
            "-a", "eom=chgheader:1:Subject:[SPAM] hello",
            "-a", "eom=quarantine:held by the test milter");
        await using var host = SpamFilterHost.Create(HostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        var bob = result.For("bob@example.com");
        var carol = result.For("carol@example.com");
        Assert.That((bob.Disposition, bob.QuarantineReason), Is.EqualTo((Disposition.Quarantine, "held by the test milter")));
        Assert.That(Encoding.ASCII.GetString(bob.Message), Is.EqualTo(
            "From: alice@example.org\r\nTo: bob@example.com, carol@example.com\r\nSubject: [SPAM] hello\r\nX-Spam-Flag: YES\r\n\r\nBody\r\n"));
        Assert.That(bob.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That((carol.Disposition, Encoding.ASCII.GetString(carol.Message)), Is.EqualTo((Disposition.Deliver, Text)), "carol did not opt in: her copy is untouched");

        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields[0]), Is.EqualTo(new[] { "<bob@example.com>" }), "the milter saw only the recipient that opted in");
        Assert.That(transcript.Any(l => l.Event == "macro" && l.Fields is [_, "{spamfilter_optin}", "spam"]), Is.True, "the opt-in value reached the milter");
    }

    // Each row: the body the milter sends back (the test milter decodes \r, \n), and the body delivered.
    [TestCase("Replaced.\\r\\nLast line without CRLF", "Replaced.\r\nLast line without CRLF\r\n", TestName = "A replacement body without a final CRLF is delivered with its last line ended, as Postfix does")]
    [TestCase("one\\ntwo\\r\\n", "one\r\ntwo\r\n", TestName = "A bare LF in a replacement body is delivered as the message's CRLF")]
    [TestCase("", "", TestName = "An empty replacement body is delivered empty")]
    public async Task A_libmilter_replacement_body_is_delivered_with_whole_lines(string replacement, string delivered)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=replbody:" + replacement);
        await using var host = SpamFilterHost.Create(HostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        Assert.That(Encoding.ASCII.GetString(result.For("bob@example.com").Message), Is.EqualTo(Text.Replace("Body\r\n", delivered, StringComparison.Ordinal)));
    }

    [Test]
    public async Task A_libmilter_reject_for_one_user_refuses_only_that_users_copy()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=reply:554:5.7.1:Virus found");
        await using var host = SpamFilterHost.Create(HostOptions.Load(OptionDat(milter)));

        var result = await host.FilterAsync(Message());

        Assert.That((result.For("bob@example.com").Disposition, result.For("bob@example.com").Reply), Is.EqualTo((Disposition.Reject, new SmtpReply(554, "5.7.1", "Virus found"))));
        Assert.That(result.For("carol@example.com").Disposition, Is.EqualTo(Disposition.Deliver));
    }

    [TestCase("0", Disposition.TempFail)]
    [TestCase("1", Disposition.Deliver)]
    public async Task An_unreachable_milter_follows_spamfilterX_optional(string optional, Disposition disposition)
    {
        var milter = await MilterProcess.StartLibmilterAsync();
        var optionDat = OptionDat(milter, $"spamfilter1_optional={optional}\n");
        await milter.DisposeAsync(); // nothing listens on its port any more
        await using var host = SpamFilterHost.Create(HostOptions.Load(optionDat));

        var result = await host.FilterAsync(Message());

        var run = result.Runs.Single();
        Assert.That(result.For("bob@example.com").Disposition, Is.EqualTo(disposition));
        Assert.That(run.Verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        if (disposition == Disposition.TempFail)
        {
            // The plug-in's FAILURE_ACTION ran (its tempfail), not the host's own 451 for a slot without an action.
            Assert.That(result.For("bob@example.com").Reply, Is.EqualTo(new SmtpReply(451, "4.7.1", "Service unavailable - try again later")));
            Assert.That(run.ActionSource, Is.EqualTo(SpamFilterHost.FailureActionSource));
            Assert.That(run.Script, Does.Contain("tempfail \"451 4.7.1 Service unavailable - try again later\";"));
            Assert.That(run.Outcome!.Disposition, Is.EqualTo(Host.Sieve.SieveDisposition.TempFail));
        }
        else
        {
            Assert.That((run.ActionSource, run.Effect), Is.EqualTo(((string?)null, "failure ignored (spamfilter1_optional=1)")));
        }
    }
}
