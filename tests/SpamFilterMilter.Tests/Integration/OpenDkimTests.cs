using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// A real third-party milter: opendkim signs the message through the plug-in, and dkimpy, an independent
/// implementation, verifies the signature on the message as the host library delivers it (the verdict's action run on
/// it). A DKIM signature is made over the bytes opendkim received, so it verifies only when every header and body byte
/// reached opendkim as it stands in the message, 8-bit or not, through the whole-message path and stage by stage.
/// </summary>
[Category("Integration")]
public class OpenDkimTests
{
    private const string Message =
        "From: Alice <alice@example.com>\r\n" +
        "To: Bob <bob@example.org>\r\n" +
        "Subject: signed through the plug-in\r\n" +
        "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n" +
        "Message-ID: <dkim-test@example.com>\r\n" +
        "\r\n" +
        "Hello Bob,\r\nthis message is signed by opendkim.\r\n";

    private MilterProcess _opendkim = null!;
    private TempFolder _folder = null!;
    private ISpamFilterPlugin _plugin = null!;

    [OneTimeSetUp]
    public async Task StartOpenDkimAsync()
    {
        _opendkim = await MilterProcess.StartOpenDkimAsync();
        _folder = new TempFolder();
        _plugin = DeployedPlugin.Create(_opendkim.OptionFile(_folder));
    }

    [OneTimeTearDown]
    public async Task StopOpenDkimAsync()
    {
        await _plugin.DisposeAsync();
        _folder.Dispose();
        await _opendkim.DisposeAsync();
    }

    private static MessageSubmission Submission(byte[] message) => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.9"), 40000, "client.example.com"),
        HeloName = "client.example.com",
        MailFrom = "alice@example.com",
        Recipients = [new EnvelopeRecipient("bob@example.org")],
        Message = new MemoryStream(message),
        Macros = new Dictionary<string, string> { ["j"] = "mx.example.com" },
    };

    [Test]
    public async Task opendkim_signs_the_message_and_the_signature_verifies()
    {
        var verdict = await _plugin.FilterMessageAsync(Submission(Encoding.ASCII.GetBytes(Message)));

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        var signature = verdict.Edits.OfType<InsertHeader>().Single(e => e.Name == "DKIM-Signature");
        Assert.That(signature.Index, Is.Zero, "opendkim puts the signature at the top");
        Assert.That(verdict.Text, Does.StartWith("require \"editheader\";\naddheader \"DKIM-Signature\" \"v=1; a=rsa-sha256;"));
        var signed = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), verdict.Edits);
        Assert.That(await DkimVerifier.VerifyAsync(signed, _opendkim.WorkFolder), Is.EqualTo("pass"));

        signed[^5] ^= 0x20; // one changed letter in the body
        Assert.That(await DkimVerifier.VerifyAsync(signed, _opendkim.WorkFolder), Does.StartWith("fail"), "the check is real: a changed body fails");
    }

    /// <summary>The same message with its Subject, From display name and a body line in each charset (as Latin-1 strings: one character per byte).</summary>
    private static IEnumerable<TestCaseData> Charsets()
    {
        var charsets = new (string Name, string Text)[]
        {
            ("ASCII", "cafe"),
            ("UTF-8", "caf\u00C3\u00A9 \u00E2\u0082\u00AC"),
            ("Latin-1", "caf\u00E9 S\u00E9bastien"),
            ("invalid 8-bit", "\u00C3A \u00FF\u00FE \u0080"), // no "(": in From it would open a comment
        };
        foreach (var path in new[] { "whole message", "stage by stage" })
        {
            foreach (var (name, text) in charsets)
            {
                var message = "From: " + text + " <alice@example.com>\r\n" +
                    "To: Bob <bob@example.org>\r\n" +
                    "Subject: " + text + "\r\n\tfolded " + text + "\r\n" +
                    "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n" +
                    "Message-ID: <dkim-8bit@example.com>\r\n" +
                    "\r\n" +
                    "Body " + text + "\r\nlast line\r\n";
                yield return new TestCaseData(Encoding.Latin1.GetBytes(message), path).SetArgDisplayNames(name, path);
            }
        }
    }

    [TestCaseSource(nameof(Charsets))]
    public async Task The_signature_over_8bit_headers_and_bodies_verifies_on_the_delivered_message(byte[] message, string path)
    {
        var verdict = path == "whole message"
            ? await _plugin.FilterMessageAsync(Submission(message))
            : await StageByStage.FilterAsync(_plugin, Submission(message));

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        Assert.That(verdict.Edits.OfType<InsertHeader>().Count(e => e.Name == "DKIM-Signature"), Is.EqualTo(1), verdict.Text);
        var delivered = SieveScript.Parse(verdict.Text!).Run(message, new Envelope("alice@example.com", null, [new EnvelopeRecipient("bob@example.org")])).Message;
        Assert.That(delivered, Is.EqualTo(MessageEditor.Apply(message, verdict.Edits)), "the action string and the structured edits deliver the same bytes");
        Assert.That(await DkimVerifier.VerifyAsync(delivered, _opendkim.WorkFolder), Is.EqualTo("pass"));
    }
}
