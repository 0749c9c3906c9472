using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Issue 12: the macros Postfix 3.7 sends by default reach real milters, libmilter's and pymilter's, derived from the
/// connection facts the host gives, through the whole-message path and stage by stage, in both I/O modes. Each milter
/// asks libmilter (<c>smfi_getsymval</c>) for every macro it knows at every event, so the transcript shows what the
/// milter can see there: Postfix's connect macros and no others, no queue id at MAIL nor at the first RCPT, the same
/// queue id from the second RCPT to the end of the message (as Postfix 3.7.11 was measured to send them).
/// </summary>
[Category("Integration")]
public class DefaultMacroTests : TempFolderTest
{
    private static readonly ClientInfo Client = new()
    {
        Address = IPAddress.Parse("192.0.2.1"), Port = 4321, HostName = "client.example.net",
        ServerAddress = IPAddress.Parse("192.0.2.25"), ServerPort = 25, ServerName = "mx.example.com",
    };

    private const string Message = "From: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

    private static readonly Dictionary<string, string> AtConnect = new()
    {
        ["j"] = "mx.example.com", ["_"] = "client.example.net [192.0.2.1]", ["v"] = ConnectionMacros.Version,
        ["{daemon_name}"] = "mx.example.com", ["{daemon_addr}"] = "192.0.2.25",
    };

    private static readonly Dictionary<string, string> AtMail = new(AtConnect)
    {
        ["{mail_addr}"] = "alice@example.org", ["{mail_host}"] = "example.org", ["{mail_mailer}"] = "smtp",
    };

    [Test]
    public async Task Postfixs_default_macros_reach_a_real_milter_at_each_stage(
        [Values("libmilter", "pymilter")] string milterKind, [Values("async", "blocking")] string io, [Values] bool wholeMessage)
    {
        await using var milter = milterKind == "libmilter" ? await MilterProcess.StartLibmilterAsync() : await MilterProcess.StartPymilterAsync();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, $"IO_MODE={io}\n"));

        var submission = new MessageSubmission
        {
            Client = Client,
            HeloName = "client.example.net",
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("carol@example.net")],
            Message = new MemoryStream(Encoding.ASCII.GetBytes(Message)),
        };
        var verdict = wholeMessage ? await plugin.FilterMessageAsync(submission) : await StageByStage.FilterAsync(plugin, submission);
        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());

        var events = TranscriptLine.EventsWithMacros(await milter.TranscriptAfterAsync("close"));
        var rcpts = events.Where(e => e.Event == "rcpt").Select(e => e.Macros).ToList();
        var queueId = rcpts[1].GetValueOrDefault("i");
        Assert.Multiple(() =>
        {
            Assert.That(Single(events, "connect"), Is.EquivalentTo(AtConnect), "Postfix's connect list: j {daemon_name} {daemon_addr} v _, and nothing else");
            Assert.That(Single(events, "helo"), Is.EquivalentTo(AtConnect), "nothing more at HELO without TLS");
            Assert.That(Single(events, "mail"), Is.EquivalentTo(AtMail), "MAIL: the sender, no queue id");
            Assert.That(rcpts[0], Is.EquivalentTo(new Dictionary<string, string>(AtMail)
            {
                ["{rcpt_addr}"] = "bob@example.com", ["{rcpt_host}"] = "example.com", ["{rcpt_mailer}"] = "smtp",
            }), "the first RCPT: no queue id, no recipient accepted yet");
            Assert.That(queueId, Does.Match("^[0-9A-F]{14,}$"), "the second RCPT: the queue id");
            foreach (var stage in new[] { "data", "header", "eoh", "body", "eom" })
            {
                Assert.That(events.Where(e => e.Event == stage).Select(e => e.Macros.GetValueOrDefault("i")), Is.Not.Empty.And.All.EqualTo(queueId), stage);
            }
        });
    }

    private static Dictionary<string, string> Single(List<(string Event, Dictionary<string, string> Macros)> events, string stage) =>
        events.Single(e => e.Event == stage).Macros;
}
