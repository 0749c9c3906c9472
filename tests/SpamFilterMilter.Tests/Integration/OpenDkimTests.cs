using System.Diagnostics;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// A real third-party milter: opendkim signs the message through the plug-in, and dkimpy, an
/// independent implementation, verifies the signature on the message with the edits applied.
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

    [Test]
    public async Task opendkim_signs_the_message_and_the_signature_verifies()
    {
        await using var opendkim = await MilterProcess.StartOpenDkimAsync();
        using var folder = new TempFolder();
        await using var plugin = DeployedPlugin.Create(opendkim.OptionFile(folder));

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.9"), 40000, "client.example.com"),
            HeloName = "client.example.com",
            MailFrom = "alice@example.com",
            Recipients = [new EnvelopeRecipient("bob@example.org")],
            Message = new MemoryStream(Encoding.ASCII.GetBytes(Message)),
            Macros = new Dictionary<string, string> { ["j"] = "mx.example.com" },
        });

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        var signature = verdict.Edits.OfType<InsertHeader>().Single(e => e.Name == "DKIM-Signature");
        Assert.That(signature.Index, Is.Zero, "opendkim puts the signature at the top");
        Assert.That(verdict.Text, Does.StartWith("require \"editheader\";\naddheader \"DKIM-Signature\" \"v=1; a=rsa-sha256;"));
        var signed = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), verdict.Edits);
        Assert.That(await VerifyAsync(signed, opendkim.WorkFolder), Is.EqualTo("pass"));

        signed[^5] ^= 0x20; // one changed letter in the body
        Assert.That(await VerifyAsync(signed, opendkim.WorkFolder), Does.StartWith("fail"), "the check is real: a changed body fails");
    }

    private static async Task<string> VerifyAsync(byte[] message, string keyFolder)
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "signed.eml");
        await File.WriteAllBytesAsync(path, message);
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "milters", "opendkim", "verify_dkim.py"));
        info.ArgumentList.Add(path);
        info.ArgumentList.Add(Path.Combine(keyFolder, "sfm.txt"));
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (output + error).Trim();
    }
}
