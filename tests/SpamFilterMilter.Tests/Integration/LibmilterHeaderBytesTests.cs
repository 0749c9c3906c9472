using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// A real libmilter milter receives the header fields byte for byte, 8-bit or not, as Postfix sends them (the lab's
/// captures 03 and 04, same message): through the whole-message path and stage by stage, in both I/O modes. Values
/// are compared as Latin-1 strings: one character per byte.
/// </summary>
[Category("Integration")]
[TestFixture("async")]
[TestFixture("blocking")]
public class LibmilterHeaderBytesTests(string io) : TempFolderTest
{
    /// <summary>The lab's latin1.eml (demo.sh), and a field of UTF-8 and one of bytes that are no UTF-8 at all.</summary>
    private static readonly byte[] Message = Encoding.Latin1.GetBytes(
        "From: =?x?= S\u00E9bastien <a@example.com>\n" +
        "To: b@example.net\n" +
        "Subject: caf\u00E9 latin1 8bit\n" +
        "X-Folded: first part\n\tsecond part after TAB\n  third part after 2 spaces\n" +
        "X-Empty:\n" +
        "X-NoSpace:value\n" +
        "X-Three:   three spaces\n" +
        "X-Tab:\ttab then value\n" +
        "X-Trailing: value with trailing spaces   \n" +
        "X-Utf8: caf\u00C3\u00A9\r\n" +
        "X-Broken: \u00C3\u0028 \u00FF\u00FE\r\n\t\u0080\r\n" +
        "\n" +
        "Body line 1 caf\u00E9\n.leading dot\nlast line\n");

    /// <summary>What Postfix 3.7 sent for the lab's fields (captures/03), then ours.</summary>
    private static readonly (string Name, string Value)[] Sent =
    [
        ("From", "=?x?= S\u00E9bastien <a@example.com>"),
        ("To", "b@example.net"),
        ("Subject", "caf\u00E9 latin1 8bit"),
        ("X-Folded", "first part\n\tsecond part after TAB\n  third part after 2 spaces"),
        ("X-Empty", ""),
        ("X-NoSpace", "value"),
        ("X-Three", "  three spaces"),
        ("X-Tab", "\ttab then value"),
        ("X-Trailing", "value with trailing spaces   "),
        ("X-Utf8", "caf\u00C3\u00A9"),
        ("X-Broken", "\u00C3\u0028 \u00FF\u00FE\n\t\u0080"),
    ];

    /// <summary>With SMFIP_HDR_LEADSPC (captures/04): nothing removed.</summary>
    private static readonly (string Name, string Value)[] SentWithLeadingSpace =
    [
        ("From", " =?x?= S\u00E9bastien <a@example.com>"),
        ("To", " b@example.net"),
        ("Subject", " caf\u00E9 latin1 8bit"),
        ("X-Folded", " first part\n\tsecond part after TAB\n  third part after 2 spaces"),
        ("X-Empty", ""),
        ("X-NoSpace", "value"),
        ("X-Three", "   three spaces"),
        ("X-Tab", "\ttab then value"),
        ("X-Trailing", " value with trailing spaces   "),
        ("X-Utf8", " caf\u00C3\u00A9"),
        ("X-Broken", " \u00C3\u0028 \u00FF\u00FE\n\t\u0080"),
    ];

    private const string Body = "Body line 1 caf\u00E9\r\n.leading dot\r\nlast line\r\n";

    private static MessageSubmission Submission(HeaderField? hidden = null, byte[]? message = null) => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example"),
        HeloName = "client.example",
        MailFrom = "a@example.com",
        MailParameters = ["BODY=8BITMIME"],
        Recipients = [new EnvelopeRecipient("b@example.net")],
        Message = new MemoryStream(message ?? Message),
        HiddenTraceHeader = hidden,
    };

    private ISpamFilterPlugin Plugin(MilterProcess milter) => DeployedPlugin.Create(milter.OptionFile(Folder, $"IO_MODE={io}\n"));

    private static async Task<((string, string)[] Headers, string Body)> ReceivedAsync(MilterProcess milter)
    {
        var transcript = await milter.TranscriptAfterAsync("close");
        return ([.. transcript.Where(l => l.Event == "header").Select(l => (l.Fields[0], l.Fields[1]))],
            string.Concat(transcript.Where(l => l.Event == "body").Select(l => l.Fields[1])));
    }

    [Test]
    public async Task Both_paths_send_every_header_byte_for_byte_as_Postfix_does(
        [Values("whole message", "stage by stage")] string path, [Values] bool leadingSpace)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(leadingSpace ? ["-P", "HDR_LEADSPC"] : []);
        await using var plugin = Plugin(milter);

        var verdict = path == "whole message" ? await plugin.FilterMessageAsync(Submission()) : await StageByStage.FilterAsync(plugin, Submission());

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        var (headers, body) = await ReceivedAsync(milter);
        Assert.That(headers, Is.EqualTo(leadingSpace ? SentWithLeadingSpace : Sent));
        Assert.That(body, Is.EqualTo(Body));
    }

    [Test]
    public async Task The_hosts_own_trace_header_is_not_sent_once_and_only_once()
    {
        // The MTA's Received on top, and a client's Received with the same text further down: only the first is ours.
        const string received = "Received: from client.example (client.example [192.0.2.1])\r\n\tby mx.example.org with ESMTP id 4XyZ\r\n";
        var message = Encoding.ASCII.GetBytes(received + "Subject: hi\r\n" + received + "\r\nbody\r\n");
        var hidden = MessageEditor.ReadFields(message)[0];
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var plugin = Plugin(milter);

        var verdict = await plugin.FilterMessageAsync(Submission(hidden, message));

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        var (headers, _) = await ReceivedAsync(milter);
        Assert.That(headers, Is.EqualTo(new[] { ("Subject", "hi"), ("Received", "from client.example (client.example [192.0.2.1])\n\tby mx.example.org with ESMTP id 4XyZ") }));
    }
}
