using System.Globalization;
using System.Text.RegularExpressions;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// The Postfix differential with what the world sends, not only what we imagine: seeded random messages, envelopes and
/// milter edits (<see cref="RandomMessages"/>), many to a Postfix instance and a libmilter test milter process (each
/// message's edits and verdicts given to the milter under a key its envelope holds), compared as the handcrafted cases
/// are (<see cref="DifferentialComparison"/>): each message's SMTP outcomes, what the milter received of it (its events
/// and the macros <see cref="Macros"/>), its fate, envelope and bytes at the next hop.
/// <para>
/// <c>SFM_RANDOM_DIFF_SEED</c> sets the seed (<c>new</c>: a new one each run, printed; by default one the suite keeps), <c>SFM_RANDOM_DIFF_COUNT</c> the number of
/// messages (300), <c>SFM_RANDOM_DIFF_INDEX</c> runs that one message alone (in its batch's milter);
/// <c>SFM_RANDOM_DIFF_DUMP=folder</c> writes each differing message's comparable runs there whole (<c>seed-index.postfix</c>,
/// <c>.ours</c>); <c>SFM_RANDOM_DIFF_UNSTEERED=1</c> generates the inputs of the differences known too (<see cref="Steer"/>).
/// </para>
/// </summary>
[Category("Integration")]
[Category("Postfix")]
[NonParallelizable]
public partial class PostfixRandomDifferentialTests : TempFolderTest
{
    private const int DefaultCount = 300;

    /// <summary>The seed of a run that names none: the suite's runs are alike (the helper's 45 seeds were all identical).</summary>
    private const int DefaultSeed = 20261207;

    private const string RunCommand = "dotnet test tests/SpamFilterMilter.Tests -c Release --filter FullyQualifiedName~PostfixRandomDifferential --logger \"console;verbosity=detailed\"";

    /// <summary>The macros compared at each event (the others differ by design, docs/postfix-differential.md).</summary>
    private static readonly string[] Macros = ["{mail_addr}", "{rcpt_addr}", "{mail_mailer}", "{rcpt_mailer}"];

    /// <summary>The events compared: what the milter received of each transaction.</summary>
    private static readonly string[] Events = ["mail", "rcpt", "data", "header", "eoh", "body", "eom", "abort"];

    private readonly Dictionary<string, int> _fates = [];

    private SmtpSink _sink = null!;

    [OneTimeSetUp]
    public async Task StartOurNextHop() => _sink = await SmtpSink.StartAsync();

    [OneTimeTearDown]
    public async Task StopOurNextHop() => await _sink.DisposeAsync();

    [Test]
    public async Task Postfix_and_our_client_treat_random_real_world_messages_envelopes_and_milter_edits_alike()
    {
        // One seed by default, so that a run of the suite (CI's) is the same every time; a new one each run to explore.
        var seed = Environment.GetEnvironmentVariable("SFM_RANDOM_DIFF_SEED") == "new" ? Random.Shared.Next() : Number("SFM_RANDOM_DIFF_SEED") ?? DefaultSeed;
        var count = Number("SFM_RANDOM_DIFF_COUNT") ?? DefaultCount;
        var only = Number("SFM_RANDOM_DIFF_INDEX");
        TestContext.Out.WriteLine($"Postfix random differential: seed {seed} (SFM_RANDOM_DIFF_SEED={seed}), {(only is { } one ? $"message {one} alone" : $"{count} messages")}");
        TestContext.Out.WriteLine($"steered away from the differences known (Steer.cs): {Steer.InForce}");

        var started = System.Diagnostics.Stopwatch.StartNew();
        var differences = new List<string>();
        var messages = 0;
        _fates.Clear();
        foreach (var batch in RandomMessages.Batches(seed, count, only))
        {
            var batchStarted = System.Diagnostics.Stopwatch.StartNew();
            var results = await RunBatchAsync(batch);
            messages += batch.Messages.Count();
            differences.AddRange(results.Where(r => r.Postfix != r.Ours).Select(r => Report(seed, batch, r)));
            if (Environment.GetEnvironmentVariable("SFM_RANDOM_DIFF_DUMP") is { Length: > 0 } dump)
            {
                // Each differing message's comparable runs whole, one file per side, to diff with any tool.
                Directory.CreateDirectory(dump);
                foreach (var result in results.Where(r => r.Postfix != r.Ours))
                {
                    var name = result.Message is { } m ? $"{seed}-{m.Index}" : $"{seed}-session-{result.Session.Messages[0].Index}";
                    File.WriteAllText(Path.Combine(dump, name + ".postfix"), result.Postfix, Encoding.Latin1);
                    File.WriteAllText(Path.Combine(dump, name + ".ours"), result.Ours, Encoding.Latin1);
                }
            }

            TestContext.Progress.WriteLine($"batch {batch.Number} ({batch.Messages.Count()} messages in {batch.Sessions.Count} sessions, milter {string.Join(' ', batch.MilterFlags)}): "
                + $"{batchStarted.ElapsedMilliseconds} ms, {results.Count(r => r.Postfix != r.Ours)} differ");
        }

        TestContext.Out.WriteLine($"Postfix random differential (seed {seed}): {messages - differences.Count} of {messages} messages identical, {started.Elapsed.TotalSeconds:F1} s; "
            + $"at Postfix: {(_fates.Count == 0 ? "no message queued" : string.Empty)}{string.Join(", ", _fates.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Value} {f.Key}"))}");
        Assert.That(differences, Is.Empty, $"seed {seed}: {differences.Count} of {messages} messages differ:\n\n" + string.Join("\n\n", differences));
    }

    /// <summary>One message's (or, with a null message, one session's own commands') comparable runs on each side.</summary>
    private sealed record Result(RandomSession Session, RandomMessage? Message, string Postfix, string Ours);

    /// <summary>A batch through one milter process: Postfix's side (one instance), then ours, then each message compared.</summary>
    private async Task<List<Result>> RunBatchAsync(RandomBatch batch)
    {
        var actions = Folder.Write($"actions-{batch.Number}.txt",
            string.Concat(batch.Messages.SelectMany(m => m.Actions.Select(action => $"{m.Key}\t{action}\n"))));
        await using var milter = await MilterProcess.StartLibmilterAsync(["-m", string.Join(' ', Macros), "-f", actions, .. batch.MilterFlags]);
        var dialogues = batch.Sessions.Select(s => s.Dialogue).ToList();

        IReadOnlyList<MtaRun> postfixRuns;
        await using (var postfix = await PostfixInstance.StartAsync($"inet:127.0.0.1:{milter.Port}", "milter_command_timeout=10s"))
        {
            postfixRuns = await PostfixMta.RunAllAsync(postfix, dialogues);
        }

        foreach (var fate in postfixRuns.SelectMany(run => run.Outcomes.Where(o => o.StartsWith("<message> -> ", StringComparison.Ordinal) && !o.EndsWith("-> 250", StringComparison.Ordinal))
            .Select(o => "refused at the end of DATA").Concat(run.Deliveries.Select(d => d.Fate.ToString().ToLowerInvariant()))))
        {
            _fates[fate] = _fates.GetValueOrDefault(fate) + 1;
        }

        // Each milter connection is one MTA's: Postfix's are those that have begun by now.
        var postfixConnections = milter.Transcript().Select(line => line.Connection).ToHashSet();

        var ourRuns = new List<MtaRun>();
        await using (var plugin = DeployedPlugin.Create(Folder.Write($"milter-{batch.Number}.opt", $"HOST=127.0.0.1\nPORT={milter.Port}\nTIMEOUT=1000\n")))
        {
            foreach (var dialogue in dialogues)
            {
                try
                {
                    ourRuns.Add(await OurMta.RunAsync(plugin, _sink, dialogue));
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException or IOException or Host.Smtp.NextHopException or TimeoutException)
                {
                    // Our side broke where Postfix did not: a difference like any other, and the other sessions still run.
                    ourRuns.Add(new MtaRun([$"our side threw {e.GetType().Name}: {e.Message}"], []));
                }
            }
        }

        var transcript = await SettledTranscriptAsync(milter);
        var postfixLines = ByTransaction(transcript.Where(line => postfixConnections.Contains(line.Connection)));
        var ourLines = ByTransaction(transcript.Where(line => !postfixConnections.Contains(line.Connection)));

        var results = new List<Result>();
        foreach (var (session, n) in batch.Sessions.Select((s, n) => (s, n)))
        {
            var postfix = Split(postfixRuns[n], session);
            var ours = Split(ourRuns[n], session);
            results.Add(new Result(session, null, string.Join('\n', postfix.Session), string.Join('\n', ours.Session)));
            foreach (var (message, t) in session.Messages.Select((m, t) => (m, t)))
            {
                results.Add(new Result(session, message,
                    Comparable(postfix.Transactions[t], postfixLines.GetValueOrDefault(message.Key) ?? [], message),
                    Comparable(ours.Transactions[t], ourLines.GetValueOrDefault(message.Key) ?? [], message)));
            }
        }

        return results;
    }

    /// <summary>The message's run with what its milter received: the events, and the macros where they are sent (at a header, the end of the headers or a body packet they repeat).</summary>
    private static string Comparable(MtaRun run, List<TranscriptLine> transcript, RandomMessage message) =>
        DifferentialComparison.Comparable(DifferentialComparison.WithTranscript(run,
            transcript.Where(line => line is not { Event: "macro", Fields: ["header" or "eoh" or "body", ..] }), Macros, Events), message.StrayCrs);

    /// <summary>The transcript once the milter has written all of it (an abort or close comes without a reply, its line may come a moment later).</summary>
    private static async Task<IReadOnlyList<TranscriptLine>> SettledTranscriptAsync(MilterProcess milter)
    {
        var lines = milter.Transcript();
        while (true)
        {
            await Task.Delay(150);
            var again = milter.Transcript();
            if (again.Count == lines.Count)
            {
                return again;
            }

            lines = again;
        }
    }

    /// <summary>
    /// The transcript's lines of each transaction, by the key its MAIL or RCPT address holds: from its <c>mail</c> event up
    /// to the next <c>mail</c>, or an event of the session (negotiate, connect, helo, close).
    /// </summary>
    private static Dictionary<string, List<TranscriptLine>> ByTransaction(IEnumerable<TranscriptLine> transcript)
    {
        var byKey = new Dictionary<string, List<TranscriptLine>>();
        foreach (var connection in transcript.GroupBy(line => line.Connection))
        {
            List<TranscriptLine>? current = null;
            foreach (var line in connection)
            {
                if (line.Event is "negotiate" or "connect" or "helo" or "close")
                {
                    current = null;
                    continue;
                }

                if (line.Event == "mail")
                {
                    current = [];
                }

                if (current is null)
                {
                    continue;
                }

                current.Add(line);
                if (line.Event is "mail" or "rcpt" && line.Fields.Count > 0 && KeyIn().Match(line.Fields[0]) is { Success: true } key)
                {
                    byKey.TryAdd(key.Value, current);
                }
            }
        }

        return byKey;
    }

    /// <summary>
    /// A session's run cut into its own commands (connect, the first EHLO, QUIT, a failure of our side) and each
    /// transaction's: its outcomes (from its EHLO or MAIL on) and its deliveries.
    /// </summary>
    private static (List<string> Session, List<MtaRun> Transactions) Split(MtaRun run, RandomSession session)
    {
        var own = new List<string>();
        var outcomes = session.Messages.Select(_ => new List<string>()).ToList();
        var deliveries = session.Messages.Select(_ => new List<Delivery>()).ToList();
        var t = -1;
        var afterEhlo = false;
        var delivered = 0;
        for (var i = 0; i < run.Outcomes.Count; i++)
        {
            var outcome = run.Outcomes[i];
            if (outcome.StartsWith("EHLO ", StringComparison.Ordinal) && i > 1)
            {
                t++;
                afterEhlo = true;
            }
            else if (outcome.StartsWith("MAIL FROM:", StringComparison.Ordinal))
            {
                t += afterEhlo ? 0 : 1;
                afterEhlo = false;
            }

            if (t < 0 || t >= outcomes.Count || outcome.StartsWith("QUIT", StringComparison.Ordinal) || outcome.StartsWith("our side threw", StringComparison.Ordinal))
            {
                own.Add(outcome);
                continue;
            }

            outcomes[t].Add(outcome);
            if (outcome == "<message> -> 250" && delivered < run.Deliveries.Count)
            {
                deliveries[t].Add(run.Deliveries[delivered++]);
            }
        }

        own.AddRange(run.Deliveries.Skip(delivered).Select(d => $"a delivery no transaction had: {d}"));
        return (own, [.. outcomes.Select((o, n) => new MtaRun(o, deliveries[n]))]);
    }

    /// <summary>What a difference shows: where it is, how to run it again, the message and the milter's instructions, then both sides.</summary>
    private static string Report(int seed, RandomBatch batch, Result result)
    {
        var text = new StringBuilder();
        var session = result.Session;
        var flags = batch.MilterFlags.Count == 0 ? string.Empty : " " + string.Join(' ', batch.MilterFlags);
        if (result.Message is not { } message)
        {
            text.Append(CultureInfo.InvariantCulture, $"--- seed {seed}, the session of messages {string.Join(", ", session.Messages.Select(m => m.Index))} (its own commands)\n");
        }
        else
        {
            var transaction = message.Transaction;
            var indexes = string.Join(", ", session.Messages.Select(m => m.Index));
            text.Append(CultureInfo.InvariantCulture, $"--- seed {seed}, message {message.Index} (key {message.Key}; batch {batch.Number}, session of {session.Messages.Count}: {indexes})\n")
                .Append(CultureInfo.InvariantCulture, $"re-run it alone: SFM_RANDOM_DIFF_SEED={seed} SFM_RANDOM_DIFF_INDEX={message.Index} {Steer.Variable}{RunCommand}\n")
                .Append(CultureInfo.InvariantCulture, $"EHLO {session.Helo}\n");
            if (transaction.EhloBefore is { } ehlo)
            {
                text.Append(CultureInfo.InvariantCulture, $"EHLO {ehlo}\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"MAIL FROM:{transaction.MailArguments}\n");
            foreach (var rcpt in transaction.RcptArguments)
            {
                text.Append(CultureInfo.InvariantCulture, $"RCPT TO:{rcpt}\n");
            }

            text.Append(transaction.Message is { } bytes ? $"message ({bytes.Length} bytes): \"{Escaped(bytes)}\"\n" : "(no DATA)\n")
                .Append(transaction.ResetAfter ? "RSET\n" : string.Empty)
                .Append(CultureInfo.InvariantCulture, $"milter: sfm-testmilter{flags}{string.Concat(message.Actions.Select(a => $" -a '{a}'"))}\n");
        }

        return text.Append(Difference(result.Postfix, result.Ours)).ToString();
    }

    /// <summary>Both sides from their start, or from a few lines before the first line that differs when that is further down; 40 lines of each.</summary>
    private static string Difference(string postfix, string ours)
    {
        string[] left = [.. postfix.Split('\n').Select(Shown)], right = [.. ours.Split('\n').Select(Shown)];
        var first = 0;
        while (first < left.Length && first < right.Length && left[first] == right[first])
        {
            first++;
        }

        var from = first < 30 ? 0 : first - 3;
        string Part(string[] lines) => (from > 0 ? $"  ({from} lines as on the other side)\n" : string.Empty)
            + string.Join('\n', lines.Skip(from).Take(40).Select((l, n) => (from + n == first ? "≠ " : "  ") + l)) + (lines.Length - from > 40 ? $"\n  (and {lines.Length - from - 40} lines more)" : string.Empty);
        return $"first difference at line {first + 1} (≠)\n[postfix]\n{Part(left)}\n[ours]\n{Part(right)}";
    }

    /// <summary>A line of a comparable run, its control bytes escaped and long runs of one byte shortened.</summary>
    private static string Shown(string line) => Escaped(Encoding.Latin1.GetBytes(line));

    /// <summary>Bytes as a C string would hold them (\r \n \t \0 \xNN, 8-bit bytes too), a run of 20 or more of one byte as ⟨'c'×N⟩.</summary>
    private static string Escaped(byte[] bytes)
    {
        var text = new StringBuilder();
        for (var i = 0; i < bytes.Length;)
        {
            var run = 1;
            while (i + run < bytes.Length && bytes[i + run] == bytes[i])
            {
                run++;
            }

            var one = bytes[i] switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                (byte)'\t' => "\\t",
                0 => "\\0",
                (byte)'\\' => "\\\\",
                (byte)'"' => "\\\"",
                < 0x20 or >= 0x7F => $"\\x{bytes[i]:x2}",
                _ => ((char)bytes[i]).ToString(),
            };
            if (run >= 20)
            {
                text.Append("⟨'").Append(one).Append("'×").Append(run.ToString(CultureInfo.InvariantCulture)).Append('⟩');
                i += run;
            }
            else
            {
                text.Append(one);
                i++;
            }
        }

        return text.ToString();
    }

    private static int? Number(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? int.Parse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) : null;

    [GeneratedRegex(@"k\d{5}z")]
    private static partial Regex KeyIn();
}
