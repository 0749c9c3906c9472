using System.Diagnostics;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// Every stage x every fault, in both I/O modes: the message always gets the failure verdict (with
/// the configured failure action), naming the stage, within the configured time plus a small slack,
/// and no socket is left open.
/// </summary>
[Category("Faults")]
[Category("Integration")] // each cell waits out TIMEOUT or MESSAGE_TIMEOUT on loopback
public class FaultTableTests : TempFolderTest
{
    private const int TimeoutHundredths = 40;         // TIMEOUT: each read and write
    private const int MessageTimeoutHundredths = 120; // MESSAGE_TIMEOUT: all the milter's waits for one message (or event)
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1.5);

    private static readonly string[] Faults =
    [
        "accept-then-close", "never-answers", "closes-mid-reply", "zero-length", "absurd-length", "unknown-reply-code",
        "reply-illegal-here", "reply-to-no-reply", "endless-progress", "garbage-after-reply", "version-1", "version-7",
    ];

    private static IEnumerable<TestCaseData> Cells()
    {
        foreach (var io in new[] { "async", "blocking" })
        {
            yield return new TestCaseData("connect", "connection-refused", io).SetName($"{{m}}(tcp,connection-refused,{io})");
            foreach (var (stage, _) in FaultMilter.Stages)
            {
                foreach (var fault in Faults)
                {
                    if ((fault.StartsWith("version", StringComparison.Ordinal) && stage != "optneg")
                        || (fault == "reply-to-no-reply" && !FaultMilter.HasNoReplyStep(stage)))
                    {
                        continue; // the fault does not exist at that stage
                    }

                    yield return new TestCaseData(stage, fault, io).SetName($"{{m}}({stage},{fault},{io})");
                }
            }
        }
    }

    /// <summary>
    /// Where the failure is said to be: the stage, and the protocol step its cause starts with (the reply the plug-in
    /// was waiting for when the fault showed), or, for an unreachable milter, the start of the cause.
    /// </summary>
    private static (FilterStage Stage, string CauseStart) Expected(string stage, string fault)
    {
        if (fault == "connection-refused")
        {
            return (FilterStage.Connect, "can't connect to ");
        }

        // An answer to a no-reply command comes out with the next answer the plug-in waits for.
        var seen = fault == "reply-to-no-reply" ? NextRepliedStage(stage) : stage;
        return seen switch
        {
            "optneg" => (FilterStage.Connect, "SMFIC_OPTNEG reply: "),
            "eom" => (FilterStage.EndOfMessage, "SMFIC_BODYEOB reply: "),
            _ => (FilterStageNames.TryParse(seen, out var parsed) ? parsed : throw new ArgumentException(seen), $"SMFIC_{seen.ToUpperInvariant()} reply: "),
        };
    }

    /// <summary>With only that stage's step unanswered, the next command the plug-in waits on.</summary>
    private static string NextRepliedStage(string stage) => stage switch
    {
        "header" => "eoh",   // headers go out with the end of headers
        "body" => "eom",     // the last body packet goes out with the end of message
        _ => FaultMilter.Stages[Array.FindIndex(FaultMilter.Stages, s => s.Stage == stage) + 1].Stage,
    };

    private static TimeSpan Allowed(string fault) => fault switch
    {
        "never-answers" => TimeSpan.FromMilliseconds(TimeoutHundredths * 10),
        "endless-progress" => TimeSpan.FromMilliseconds(MessageTimeoutHundredths * 10),
        _ => TimeSpan.Zero,
    } + Slack;

    [TestCaseSource(nameof(Cells))]
    public async Task A_broken_milter_gives_the_failure_verdict_in_time_and_leaves_no_socket(string stage, string fault, string io)
    {
        var socketsBefore = OpenSockets();
        FaultMilter? milter = fault == "connection-refused" ? null : new FaultMilter(stage, fault);
        var port = milter?.Port ?? TestPlugins.ClosedPort();
        var options = $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT={TimeoutHundredths}\nMESSAGE_TIMEOUT={MessageTimeoutHundredths}\nIO_MODE={io}\nFAILURE_ACTION=tempfail\n";
        var started = Stopwatch.StartNew();
        FilterVerdict verdict;
        await using (var plugin = TestPlugins.Create(Folder, options))
        {
            verdict = await plugin.FilterMessageAsync(FaultMilter.Message());
        }

        var elapsed = started.Elapsed;
        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure), $"{verdict.Kind} {verdict.Text}");
        Assert.That((verdict.Action, verdict.Reply?.Code), Is.EqualTo((FilterAction.TempFail, 451)));
        var expected = Expected(stage, fault);
        Assert.That(verdict.Failure!.Stage, Is.EqualTo(expected.Stage), verdict.Failure.Cause);
        Assert.That(verdict.Failure.Cause, Does.StartWith(expected.CauseStart));
        Assert.That(verdict.Text, Does.StartWith($"# milter failure: milter 127.0.0.1:{port}: "));
        Assert.That(elapsed, Is.LessThan(Allowed(fault)), $"took {elapsed.TotalSeconds:0.00} s: {verdict.Failure}");
        if (milter is not null)
        {
            var closedByPlugin = await milter.Served.WaitAsync(Slack);
            if (fault is not ("accept-then-close" or "closes-mid-reply"))
            {
                Assert.That(closedByPlugin, Is.True, "the plug-in closed its end");
            }

            await milter.DisposeAsync();
        }

        Assert.That(OpenSockets(), Is.LessThanOrEqualTo(socketsBefore), "no socket left open");
    }

    /// <summary>Sockets this process holds open (Linux: /proc/self/fd).</summary>
    private static int OpenSockets()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        // No GC first: a socket that only a finalizer would close is exactly the leak to catch.
        return Directory.EnumerateFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false;
            }
        });
    }
}
