using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Several milter servers for one slot (HOST with a list) under concurrent load, against real libmilter milters on
/// loopback: one wedged (SIGSTOPped: the kernel still accepts its connections, nothing answers), one port where nothing
/// listens, one healthy. Every message must get the healthy milter's verdict, and the wedged and refusing servers must
/// cost a number of failures bounded by the breaker, not one per message: once a server's breaker is open, every
/// message goes to the healthy one.
/// </summary>
[Category("Integration")]
public class LibmilterServerPoolTests : TempFolderTest
{
    private const int Messages = 50;
    private const int Concurrency = 8;
    private const int Threshold = 3;

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task With_one_server_wedged_and_one_refusing_every_message_gets_the_healthy_milters_verdict_and_each_bad_server_fails_a_bounded_number_of_times(string io)
    {
        await using var healthy = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Served-By:healthy");
        await using var wedged = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Served-By:wedged");
        wedged.Pause();
        var refusing = ServerProcess.FreePort();
        using var logs = new CapturedLogs();
        // TIMEOUT 0.5 s; a back-off longer than the run, so that no probe comes in the way of the count.
        var options = Folder.Write("milter.opt", $"""
            HOST=127.0.0.1:{wedged.Port},127.0.0.1:{refusing},127.0.0.1:{healthy.Port}
            TIMEOUT=50
            BREAKER_THRESHOLD={Threshold}
            BREAKER_BACKOFF=30000
            IO_MODE={io}
            """);
        await using var plugin = DeployedPlugin.Create(options, logs);

        var verdicts = new FilterVerdict[Messages];
        var next = -1;
        var workers = Enumerable.Range(0, Concurrency).Select(_ => Task.Factory.StartNew(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < Messages; i = Interlocked.Increment(ref next))
            {
                verdicts[i] = await plugin.FilterMessageAsync(Message(i));
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap());
        await Task.WhenAll(workers);

        Assert.That(verdicts.Where(v => v.Failure is not null).Select(v => v.Failure!.ToString()), Is.Empty, "every message got a milter's verdict");
        Assert.That(verdicts.Select(v => v.Edits.OfType<AddHeader>().Single().Value.ToString()), Is.All.EqualTo(" healthy"));
        Assert.That((await healthy.TranscriptAfterAsync("connect", Messages)).Count(l => l.Event == "connect"), Is.EqualTo(Messages),
            "the healthy milter saw every message");

        var failed = logs.Entries.Where(e => e.EventId.Id == 1007).Select(e => e.Message).ToList();
        var (wedgedPort, refusingPort) = (wedged.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), refusing.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var timeouts = failed.Count(m => PortNamed(m) == wedgedPort);
        var refusals = failed.Count(m => PortNamed(m) == refusingPort);
        TestContext.Out.WriteLine($"{io}: {timeouts} timeouts on the wedged server, {refusals} refusals, of {Messages} messages");
        // Every session that went to a bad server went there before its breaker opened: at most the threshold, and
        // the sessions that were under way (one per worker but the one that failed third) when it opened.
        Assert.That(timeouts, Is.InRange(Threshold, Threshold + Concurrency - 1), "timeouts on the wedged server");
        Assert.That(refusals, Is.InRange(Threshold, Threshold + Concurrency - 1), "refused connections");
        Assert.That(failed.Where(m => PortNamed(m) == wedgedPort), Is.All.Contains("timed out"));
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 1004).Select(e => PortNamed(e.Message)), Is.EquivalentTo(new[] { wedgedPort, refusingPort }),
            "each bad server taken out of service once, in one log line");
        Assert.That(logs.Entries.Where(e => e.Level >= LogLevel.Warning && e.EventId.Id != 1004), Is.Empty, "no message failed");
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_wedged_server_that_comes_back_is_probed_by_one_message_after_the_back_off_and_then_takes_messages_again(string io)
    {
        await using var healthy = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Served-By:healthy");
        await using var wedged = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Served-By:came-back");
        wedged.Pause();
        using var logs = new CapturedLogs();
        var options = Folder.Write("milter.opt", $"""
            HOST=127.0.0.1:{wedged.Port},127.0.0.1:{healthy.Port}
            TIMEOUT=30
            BREAKER_THRESHOLD=1
            BREAKER_BACKOFF=50
            IO_MODE={io}
            """);
        await using var plugin = DeployedPlugin.Create(options, logs);

        // Until the wedged server is taken out: one message at a time, each gets the healthy milter's verdict.
        for (var i = 0; !logs.Entries.Any(e => e.EventId.Id == 1004); i++)
        {
            Assert.That(i, Is.LessThan(10), "the wedged server is taken out after its first failure");
            Assert.That(ServedBy(await plugin.FilterMessageAsync(Message(i))), Is.EqualTo(" healthy"));
        }

        wedged.Resume();
        await Task.Delay(TimeSpan.FromSeconds(0.6)); // the back-off (0.5 s) runs out: not an assertion on time
        var servedBy = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            servedBy.Add(ServedBy(await plugin.FilterMessageAsync(Message(i))));
        }

        Assert.That(servedBy[0], Is.EqualTo(" came-back"), "the first message after the back-off probes the server");
        Assert.That(servedBy.Count(s => s == " came-back"), Is.GreaterThan(1), "back in service, it takes its share");
        Assert.That(logs.Entries.Where(e => e.EventId.Id is 1005 or 1006 && PortNamed(e.Message) == wedged.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).Select(e => e.EventId.Id),
            Is.EqualTo(new[] { 1005, 1006 }), "probing, then back in service, each logged once");
    }

    private static string ServedBy(FilterVerdict verdict) =>
        verdict.Failure is { } failure ? $"failure: {failure}" : verdict.Edits.OfType<AddHeader>().Single().Value.ToString();

    private static MessageSubmission Message(int i) => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net"),
        HeloName = "client.example.net",
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream(Encoding.ASCII.GetBytes($"Subject: message {i}\r\n\r\nhello\r\n")),
    };

    /// <summary>The port of the server a log line names (<c>milter 127.0.0.1:PORT (slot N): ...</c>, the slot when the host gave one).</summary>
    private static string PortNamed(string message) =>
        System.Text.RegularExpressions.Regex.Match(message, @"^milter 127\.0\.0\.1:(?<port>[0-9]+)[ :]").Groups["port"].Value;
}
