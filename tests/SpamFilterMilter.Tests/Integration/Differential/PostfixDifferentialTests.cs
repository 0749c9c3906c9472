using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// Postfix 3.7 (Debian's, a private instance on loopback with smtp-sink as its next hop) and our client, run with the
/// same dialogues through the same real milters: the SMTP outcome of every command, the message the next hop gets
/// (less each MTA's own Received field) and the envelope it gets (MAIL and RCPT with their parameters) must be the
/// same, byte for byte. The differences kept are listed in docs/postfix-differential.md with their reasons; the
/// comparison (<see cref="DifferentialComparison"/>) applies exactly those, and no other.
/// </summary>
[Category("Integration")]
[Category("Postfix")]
[NonParallelizable]
public class PostfixDifferentialTests : TempFolderTest
{
    private SmtpSink _sink = null!;

    [OneTimeSetUp]
    public async Task StartOurNextHop() => _sink = await SmtpSink.StartAsync();

    [OneTimeTearDown]
    public async Task StopOurNextHop() => await _sink.DisposeAsync();

    [Test]
    public async Task Postfix_and_our_client_give_the_same_outcome_message_and_envelope_for_every_case()
    {
        // SFM_DIFF_CASES=text runs only the cases whose name contains it (while working on one).
        var only = Environment.GetEnvironmentVariable("SFM_DIFF_CASES");
        var cases = DifferentialCorpus.Cases().Where(c => only is null || c.Name.Contains(only, StringComparison.OrdinalIgnoreCase)).ToList();
        var differences = new List<string>();
        foreach (var testCase in cases)
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var (postfix, ours) = await RunBothAsync(testCase);
            TestContext.Progress.WriteLine($"{testCase.Name}: {started.ElapsedMilliseconds} ms");
            if (Comparable(postfix, testCase) != Comparable(ours, testCase))
            {
                differences.Add($"--- {testCase.Name}\n[postfix]\n{Comparable(postfix, testCase)}\n[ours]\n{Comparable(ours, testCase)}");
            }
        }

        TestContext.Out.WriteLine($"Postfix differential: {cases.Count - differences.Count} of {cases.Count} identical");
        Assert.That(differences, Is.Empty, $"{differences.Count} of {cases.Count} cases differ:\n\n" + string.Join("\n\n", differences));
    }

    private async Task<(MtaRun Postfix, MtaRun Ours)> RunBothAsync(DifferentialCase testCase)
    {
        await using var milter = testCase.Milter switch
        {
            MilterKind.Libmilter => await MilterProcess.StartLibmilterAsync(testCase.MilterArguments),
            MilterKind.Pymilter => await MilterProcess.StartPymilterAsync(testCase.MilterArguments),
            MilterKind.OpenDkim => await MilterProcess.StartOpenDkimAsync(),
            _ => null,
        };
        var port = milter?.Port ?? ServerProcess.FreePort();

        MtaRun postfixRun;
        await using (var postfix = await PostfixInstance.StartAsync($"inet:127.0.0.1:{port}", "milter_command_timeout=10s"))
        {
            postfixRun = await PostfixMta.RunAsync(postfix, testCase.Dialogue);
        }

        var postfixLines = milter?.Transcript().Count ?? 0;

        await using var plugin = DeployedPlugin.Create(Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=1000\n"));
        MtaRun ourRun;
        try
        {
            ourRun = await OurMta.RunAsync(plugin, _sink, testCase.Dialogue);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or IOException or Host.Smtp.NextHopException or TimeoutException)
        {
            // Our side broke where Postfix did not: a difference like any other, and the other cases still run.
            ourRun = new MtaRun([$"our side threw {e.GetType().Name}: {e.Message}"], []);
        }

        if ((testCase.Macros is not null || testCase.Events is not null) && milter is not null)
        {
            // The milter's transcript holds Postfix's events, then ours: what each side's milter received.
            var transcript = milter.Transcript();
            postfixRun = DifferentialComparison.WithTranscript(postfixRun, transcript.Take(postfixLines), testCase.Macros ?? [], testCase.Events ?? []);
            ourRun = DifferentialComparison.WithTranscript(ourRun, transcript.Skip(postfixLines), testCase.Macros ?? [], testCase.Events ?? []);
        }

        return testCase.Milter == MilterKind.OpenDkim
            ? (await WithDkimVerdictsAsync(postfixRun, milter!.WorkFolder), await WithDkimVerdictsAsync(ourRun, milter.WorkFolder))
            : (postfixRun, ourRun);
    }

    /// <summary>Each delivered message's DKIM signature checked against opendkim's key.</summary>
    private static async Task<MtaRun> WithDkimVerdictsAsync(MtaRun run, string keyFolder)
    {
        var deliveries = new List<Delivery>();
        foreach (var delivery in run.Deliveries)
        {
            deliveries.Add(delivery.Message is { } message ? delivery with { Dkim = await DkimVerifier.VerifyAsync(message, keyFolder) } : delivery);
        }

        return run with { Deliveries = deliveries };
    }

    private static string Comparable(MtaRun run, DifferentialCase testCase) => DifferentialComparison.Comparable(run, testCase.StrayCrs);
}
