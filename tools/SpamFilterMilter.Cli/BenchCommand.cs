using System.CommandLine;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Runtime;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Cli;

/// <summary>
/// bench: N transactions (MAIL, RCPT, DATA, headers, end of headers, body, end of message) over C
/// connections, each connection one stage-by-stage session as an SMTP server drives it. Reports
/// throughput, latency percentiles, 40 ms stalls, the client's own CPU (user + system) and managed
/// allocation per transaction. With IO_MODE=blocking each connection gets its own thread, as a host
/// choosing that mode would run it. Exit status 1 when any transaction failed.
/// </summary>
internal static class BenchCommand
{
    public static Command Create(Terminal terminal)
    {
        var target = new MilterTarget();
        var count = new Option<int>("-n", "--transactions") { Description = "Transactions to measure.", DefaultValueFactory = _ => 10_000 };
        var connections = new Option<int>("-c", "--connections") { Description = "Concurrent milter connections.", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("-s", "--size") { Description = "Body size in bytes.", DefaultValueFactory = _ => 1024 };
        var headers = new Option<int>("--headers") { Description = "Header fields per message.", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Transactions per connection run first and not measured (at least).", DefaultValueFactory = _ => 100 };
        var warmupTime = new Option<double>("--warmup-time")
        {
            // .NET compiles hot code again, optimised, once it has run a while: measure after that, as a host runs.
            Description = "Seconds the warm-up lasts at least; it then goes on until .NET has compiled no method for a second with nothing left to optimise (at most 30 s more), so the measured run is the steady state of optimised code. 0: no such wait.",
            DefaultValueFactory = _ => 2,
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object, for scripts." };
        var quiet = new Option<bool>("--no-progress") { Description = "No progress bar on standard error." };
        var stages = new Option<bool>("--stages") { Description = "Also report the milter's latency per protocol stage (from the plug-in's metrics)." };
        var sessionMessages = new Option<int>("--session-messages")
        {
            Description = "Messages per SMTP session: a new session (connect and HELO events; a new milter connection unless POOL_SIZE keeps one) every so many. 0: one session per connection for the whole run.",
            DefaultValueFactory = _ => 0,
        };
        var idle = new Option<int>("--idle")
        {
            Description = "Instead of transactions: open this many sessions (milter connection, connect and HELO events), hold them idle and report the memory each one holds.",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("bench", "Measure the client against a milter: throughput, latency, CPU and allocation per transaction.")
        {
            count, connections, size, headers, warmup, warmupTime, json, quiet, stages, sessionMessages, idle,
        };
        target.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var options = target.Resolve(result);
            if (result.GetValue(idle) is > 0 and var sessions)
            {
                var held = await IdleSessions.MeasureAsync(options, sessions, cancellationToken).ConfigureAwait(false);
                await terminal.Output.WriteAsync(result.GetValue(json) ? held.ToJson() : held.ToText()).ConfigureAwait(false);
                return held.Failures > 0 ? (int)ToolExitCode.ProblemsFound : (int)ToolExitCode.Success;
            }

            var settings = new BenchSettings(result.GetValue(count), result.GetValue(connections), result.GetValue(size), result.GetValue(headers), result.GetValue(warmup), result.GetValue(stages),
                TimeSpan.FromSeconds(result.GetValue(warmupTime)), result.GetValue(sessionMessages));
            var wrong = settings.Connections < 1 ? $"--connections: {settings.Connections}: at least one connection"
                : settings.Transactions < settings.Connections ? $"--transactions: {settings.Transactions}: at least one transaction per connection ({settings.Connections})"
                : settings.Size < 0 ? $"--size: {settings.Size}: a body of 0 bytes or more"
                : settings.Headers < 0 ? $"--headers: {settings.Headers}: 0 header fields or more"
                : settings.SessionMessages < 0 ? $"--session-messages: {settings.SessionMessages}: 0 (one session for the run) or more"
                : settings.Warmup < 0 ? $"--warmup: {settings.Warmup}: 0 transactions or more"
                : null;
            if (wrong is not null)
            {
                throw new ArgumentException($"{wrong} is needed.");
            }

            var report = await RunAsync(options, settings, result.GetValue(quiet) ? null : terminal, cancellationToken).ConfigureAwait(false);
            await terminal.Output.WriteAsync(result.GetValue(json) ? report.ToJson() : report.ToText()).ConfigureAwait(false);
            return report.Failures > 0 ? (int)ToolExitCode.ProblemsFound : (int)ToolExitCode.Success;
        });
        return command;
    }

    internal sealed record BenchSettings(int Transactions, int Connections, int Size, int Headers, int Warmup, bool Stages = false, TimeSpan WarmupTime = default, int SessionMessages = 0);

    internal static async Task<BenchReport> RunAsync(MilterOptions options, BenchSettings settings, Terminal? progress, CancellationToken cancellationToken)
    {
        await using var plugin = new MilterPlugin(options, NullLoggerFactory.Instance);
        var message = BenchMessage.Create(settings.Headers, settings.Size);
        var latencies = new long[settings.Transactions];
        var ranBy = new int[settings.Connections]; // how many each connection ran: a milter that serves some sessions and starves others shows here
        // Each connection takes the next transaction until none is left, as an MTA's sessions take the next message: a
        // stalled session holds up its own message, not a share of the run fixed in advance (with shares, one stall of a
        // second, which libmilter's worker pool gives now and then to any client, made the whole run's throughput).
        // With --session-messages a connection takes a whole session's messages at a time, as one SMTP client sends them.
        var taken = 0;
        var batch = Math.Max(1, settings.SessionMessages);
        var done = 0;
        var succeeded = 0; // of those done: with nothing measured but failures, there is no throughput to report
        var failures = 0;
        var edited = 0;
        string? firstFailure = null;
        using var warmedUp = new CountdownEvent(settings.Connections);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // awaited: never blocks a pool thread
        using var goNow = new ManualResetEventSlim(); // waited on: a blocking connection's thread keeps its session
        var blocking = options.IoMode == IoMode.Blocking;
        long started = 0;
        TimeSpan cpuBefore = default;
        long allocatedBefore = 0;
        var warmupDone = 0;
        var warmupStarted = Stopwatch.GetTimestamp();
        var jitSettled = settings.WarmupTime <= TimeSpan.Zero;
        _ = JitSettling.WaitAsync(settings.WarmupTime, () => Volatile.Write(ref jitSettled, true), cancellationToken);

        // The next transactions for a connection, [first, end): false when none is left.
        bool Take(out int first, out int end)
        {
            first = Interlocked.Add(ref taken, batch) - batch;
            end = Math.Min(first + batch, settings.Transactions);
            return first < settings.Transactions;
        }

        async Task Connection(int index)
        {
            IFilterSession? session = null;
            FilterFailure? refused = null;
            var messages = 0; // on the current session

            // A new SMTP session (connect and HELO events) when there is none yet, or every SessionMessages messages.
            async ValueTask<IFilterSession?> SessionAsync()
            {
                if (session is not null && (settings.SessionMessages == 0 || messages < settings.SessionMessages))
                {
                    return session;
                }

                if (session is not null)
                {
                    await session.CloseAsync(cancellationToken).ConfigureAwait(false);
                    await session.DisposeAsync().ConfigureAwait(false);
                }

                session = plugin.OpenSession();
                messages = 0;
                var decision = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000 + index, "bench.example.net"), cancellationToken).ConfigureAwait(false);
                if (decision.Failure is not null)
                {
                    refused = decision.Failure;
                    await session.DisposeAsync().ConfigureAwait(false); // broken: the next message tries a new one
                    session = null;
                    return null;
                }

                await session.HeloAsync("bench.example.net", cancellationToken).ConfigureAwait(false);
                return session;
            }

            for (var i = 0; i < settings.Warmup || Stopwatch.GetElapsedTime(warmupStarted) < settings.WarmupTime || !Volatile.Read(ref jitSettled); i++)
            {
                Interlocked.Increment(ref warmupDone);
                if (await SessionAsync().ConfigureAwait(false) is not { } warm
                    || (await OneAsync(warm, message, cancellationToken).ConfigureAwait(false)).Kind == VerdictKind.Failure)
                {
                    break; // the measured run reports it
                }

                messages++;
            }

            refused = null; // a refusal in the warm-up is not the measured run's: that run tries again
            warmedUp.Signal();
            if (blocking)
            {
                // Waiting here, not awaiting: an await would continue the measured run on the thread pool, where every
                // blocking read holds a pool thread and the connections take turns as the pool grows (what the figures
                // for IO_MODE=blocking showed at 32 connections and more before this).
                goNow.Wait(cancellationToken);
            }
            else
            {
                await go.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            // With one session for the whole run a failure ends the connection's run (its session is broken); with
            // sessions renewed (--session-messages), as an SMTP client's are, the next message gets a new session.
            var renewed = settings.SessionMessages > 0;
            for (int number = 0, end = 0; number < end || Take(out number, out end); number++)
            {
                var t = Stopwatch.GetTimestamp();
                var verdict = await SessionAsync().ConfigureAwait(false) is { } current
                    ? await OneAsync(current, message, cancellationToken).ConfigureAwait(false)
                    : null;
                messages++;
                if (verdict is null && !renewed)
                {
                    break; // refused at connect: counted below, and the connection stops
                }

                latencies[number] = Stopwatch.GetTimestamp() - t;
                ranBy[index]++;

                Interlocked.Increment(ref done);
                if (verdict?.Edits.Count > 0)
                {
                    Interlocked.Increment(ref edited);
                }

                if (verdict is not null && verdict.Kind != VerdictKind.Failure)
                {
                    Interlocked.Increment(ref succeeded);
                }
                else
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstFailure, (verdict?.Failure ?? refused)!.ToString(), null);
                    refused = null;
                    if (!renewed)
                    {
                        break; // the session is broken: the other connections go on
                    }

                    messages = settings.SessionMessages; // a new session for the next message
                }
            }

            if (refused is { } failure)
            {
                Interlocked.Increment(ref failures); // the message it had taken
                Interlocked.CompareExchange(ref firstFailure, failure.ToString(), null);
            }

            if (session is not null)
            {
                await session.CloseAsync(cancellationToken).ConfigureAwait(false);
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }

        var threads = new List<Thread>();
        var tasks = new List<Task>();
        for (var c = 0; c < settings.Connections; c++)
        {
            var index = c;
            if (blocking)
            {
                var thread = new Thread(() => Connection(index).GetAwaiter().GetResult()) { IsBackground = true, Name = $"bench {index}" };
                thread.Start();
                threads.Add(thread);
            }
            else
            {
                tasks.Add(Task.Run(() => Connection(index), cancellationToken));
            }
        }

        warmedUp.Wait(cancellationToken);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var workItemsBefore = ThreadPool.CompletedWorkItemCount;
        var jitBefore = JitInfo.GetCompiledMethodCount();
        var switchesBefore = ContextSwitches.Now();
        using var stageLatencies = settings.Stages ? new StageLatencies() : null; // after the warm-up: measured transactions only
        started = Stopwatch.GetTimestamp();
        go.SetResult();
        goNow.Set();
        using (var bar = progress is null ? null : new ProgressBar(progress.Error, progress.ErrorIsTerminal, settings.Transactions, () => Volatile.Read(ref done)))
        {
            foreach (var thread in threads)
            {
                thread.Join();
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        failures += settings.Transactions - Math.Min(taken, settings.Transactions); // never run: every connection had stopped
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var workItems = ThreadPool.CompletedWorkItemCount - workItemsBefore;
        var jitCompiled = JitInfo.GetCompiledMethodCount() - jitBefore;
        var switches = ContextSwitches.Now() - switchesBefore;
        var measured = Math.Max(1, done);
        var sorted = latencies.Where(l => l > 0).Order().ToArray();
        double Percentile(double p) => sorted.Length == 0 ? 0 : Ticks(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)]);
        return new BenchReport(
            plugin.Description, options.IoMode.ToString().ToLowerInvariant(), settings, done, failures, firstFailure, edited, warmupDone, elapsed.TotalSeconds,
            done / elapsed.TotalSeconds, Percentile(0.50), Percentile(0.90), Percentile(0.99), sorted.Length == 0 ? 0 : Ticks(sorted[^1]),
            sorted.Count(l => Ticks(l) >= 40), cpu.TotalMicroseconds / measured, allocated / (double)measured, stageLatencies?.Summary() ?? [], workItems / (double)measured, jitCompiled,
            ranBy.Min(), ranBy.Max(), switches is { } counted ? (counted.Voluntary / (double)measured, counted.Involuntary / (double)measured) : null,
            options.IoMode == IoMode.Async ? options.IoThreads : null, started / (double)Stopwatch.Frequency, succeeded);
    }

    private static double Ticks(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>One transaction, the way an SMTP server drives the session.</summary>
    internal static async ValueTask<FilterVerdict> OneAsync(IFilterSession session, BenchMessage message, CancellationToken cancellationToken)
    {
        await session.MailAsync("bench-sender@example.com", null, cancellationToken).ConfigureAwait(false);
        await session.RcptAsync("bench-recipient@example.net", null, cancellationToken).ConfigureAwait(false);
        await session.DataAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (name, value) in message.Headers)
        {
            await session.HeaderAsync(name, value, cancellationToken).ConfigureAwait(false);
        }

        await session.EndOfHeadersAsync(cancellationToken).ConfigureAwait(false);
        if (message.Body.Length > 0)
        {
            await session.BodyAsync(message.Body, cancellationToken).ConfigureAwait(false);
        }

        var verdict = await session.EndOfMessageAsync(cancellationToken).ConfigureAwait(false);
        verdict.DisposeBodies(); // bench counts edits and keeps no body
        return verdict;
    }

    /// <summary>The test message: headers and a body of text lines.</summary>
    internal sealed record BenchMessage((string Name, string Value)[] Headers, ReadOnlyMemory<byte> Body)
    {
        public static BenchMessage Create(int headers, int size)
        {
            var fields = Enumerable.Range(0, headers).Select(i => i switch
            {
                0 => ("From", " Bench Sender <bench-sender@example.com>"), // example.com: the domain tests' opendkim signs
                1 => ("To", " bench-recipient@example.net"),
                2 => ("Subject", " SpamFilterMilter benchmark message"),
                3 => ("Message-ID", " <bench@example.com>"),
                4 => ("Date", " Sat, 21 Nov 2026 12:00:00 +0000"),
                _ => ($"X-Bench-{i}", $" value {i}"),
            }).ToArray();
            var line = Encoding.ASCII.GetBytes(new string('x', 76) + "\r\n");
            var body = new byte[size];
            for (var i = 0; i < size; i++)
            {
                body[i] = line[i % line.Length];
            }

            if (size >= 2)
            {
                // Its last line ended, as in any message an MTA stores: else the plug-in adds the CRLF Postfix sends a
                // milter (2 bytes the C client would not send) and the two would not measure the same body.
                (body[^2], body[^1]) = ((byte)'\r', (byte)'\n');
            }

            return new BenchMessage(fields, body);
        }
    }
}

/// <summary>What bench measured.</summary>
internal sealed record BenchReport(
    string Milter, string Io, BenchCommand.BenchSettings Settings, int Transactions, int Failures, string? FirstFailure, int Edited, int WarmupTransactions, double Seconds,
    double TransactionsPerSecond, double P50, double P90, double P99, double Max, int Stalls, double CpuMicroseconds, double AllocatedBytes,
    IReadOnlyList<StageLatency> Stages, double ThreadPoolWorkItems, long JitCompiledMethods = 0, int FewestPerConnection = 0, int MostPerConnection = 0,
    (double Voluntary, double Involuntary)? SwitchesPerTransaction = null, int? IoThreads = null, double MeasuredFrom = 0, int Succeeded = 0)
{
    public string ToText() => Succeeded == 0 ? NothingMeasured : string.Create(CultureInfo.InvariantCulture, $"""
        {Milter}: {Transactions} transactions over {Settings.Connections} connection(s){(Settings.SessionMessages == 1 ? ", each in a session of its own" : Settings.SessionMessages > 1 ? $", {Settings.SessionMessages} per session" : "")}, {Settings.Headers} headers, {Settings.Size}-byte body, {Io} I/O{(IoThreads is { } threads ? $" on IO_THREADS={threads}" : "")}, after {WarmupTransactions} to warm up
          throughput      {TransactionsPerSecond,10:0} transactions/s ({Seconds:0.00} s)
          latency         p50 {P50:0.000} ms   p90 {P90:0.000} ms   p99 {P99:0.000} ms   max {Max:0.0} ms
          40 ms stalls    {Stalls}
          client CPU      {CpuMicroseconds,10:0.0} µs per transaction (user + system)
          switches        {SwitchesText}
          allocated       {AllocatedBytes,10:0} bytes per transaction (managed)
          edited          {Edited} messages (the milter changed something)
          JIT compiles    {JitCompiledMethods} methods during the measured run (0: the steady state of optimised code)
          failures        {Failures}{(FirstFailure is null ? "" : $" (first: {FirstFailure})")}
        {string.Concat(Stages.Select(t => string.Create(CultureInfo.InvariantCulture,
            $"  stage {t.Stage,-9} {t.Count,8} replies   p50 {t.P50:0.000} ms   p99 {t.P99:0.000} ms   max {t.Max:0.0} ms\n")))}
        """);

    // Every transaction failed (the milter cannot be reached, say): no throughput, latency or CPU of failures.
    private string NothingMeasured => string.Create(CultureInfo.InvariantCulture, $"""
        {Milter}: nothing measured over {Settings.Connections} connection(s): every transaction failed
          failures        {Failures}{(FirstFailure is null ? "" : $" (first: {FirstFailure})")}

        """);

    private string SwitchesText => SwitchesPerTransaction is (var waited, var preempted)
        ? string.Create(CultureInfo.InvariantCulture, $"{waited,10:0.00} voluntary, {preempted:0.00} involuntary per transaction (a thread waited; was preempted)")
        : "         - (counted on Linux only)";

    public string ToJson() => new JsonObject
    {
        ["milter"] = Milter,
        ["io"] = Io,
        ["ioThreads"] = IoThreads, // IO_THREADS as set; null: the plug-in's default
        ["connections"] = Settings.Connections,
        ["headers"] = Settings.Headers,
        ["bodyBytes"] = Settings.Size,
        ["transactions"] = Transactions,
        ["warmupTransactions"] = WarmupTransactions,
        ["failures"] = Failures,
        ["edited"] = Edited,
        ["firstFailure"] = FirstFailure,
        ["seconds"] = Math.Round(Seconds, 3),
        // Stopwatch's clock in seconds (CLOCK_MONOTONIC on Linux) when the measured run began: with "seconds", the window
        // a profiler recording on that clock reads (perf record -k CLOCK_MONOTONIC; tools/bench/run.sh PERF=1).
        ["measuredFrom"] = Math.Round(MeasuredFrom, 6),
        ["pid"] = Environment.ProcessId, // whose /tmp/perf-PID.map names the compiled methods of a recording (DOTNET_PerfMapEnabled)
        ["transactionsPerSecond"] = Math.Round(TransactionsPerSecond, 1),
        ["latencyMs"] = new JsonObject { ["p50"] = Math.Round(P50, 3), ["p90"] = Math.Round(P90, 3), ["p99"] = Math.Round(P99, 3), ["max"] = Math.Round(Max, 3) },
        ["stallsOver40ms"] = Stalls,
        ["cpuMicrosecondsPerTransaction"] = Math.Round(CpuMicroseconds, 1),
        ["allocatedBytesPerTransaction"] = Math.Round(AllocatedBytes, 0),
        ["threadPoolWorkItemsPerTransaction"] = Math.Round(ThreadPoolWorkItems, 2),
        ["contextSwitchesPerTransaction"] = SwitchesPerTransaction is (var waited, var preempted)
            ? new JsonObject { ["voluntary"] = Math.Round(waited, 2), ["involuntary"] = Math.Round(preempted, 2) }
            : null,
        ["jitCompiledMethods"] = JitCompiledMethods,
        ["transactionsPerConnection"] = new JsonObject { ["min"] = FewestPerConnection, ["max"] = MostPerConnection },
        ["sessionMessages"] = Settings.SessionMessages,
        ["stages"] = new JsonObject(Stages.Select(t => KeyValuePair.Create(t.Stage, (JsonNode?)new JsonObject
        {
            ["count"] = t.Count, ["p50"] = Math.Round(t.P50, 3), ["p99"] = Math.Round(t.P99, 3), ["max"] = Math.Round(t.Max, 3),
        }))),
    }.ToJsonString(JsonOutput.Options) + Environment.NewLine;
}

/// <summary>The milter's latency at one protocol stage, in milliseconds.</summary>
internal sealed record StageLatency(string Stage, int Count, double P50, double P99, double Max);

/// <summary>
/// Collects <c>spamfilter.milter.client.stage.duration</c> while it exists, as any metrics listener would: shows
/// which stage a slow or stalling milter spends its time in.
/// </summary>
internal sealed class StageLatencies : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, List<double>> _seconds = [];

    public StageLatencies()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "SpamFilterMilter" && instrument.Name == "spamfilter.milter.client.stage.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "spamfilter.milter.stage" && tag.Value is string stage)
                {
                    lock (_seconds)
                    {
                        (_seconds.TryGetValue(stage, out var list) ? list : _seconds[stage] = []).Add(seconds);
                    }
                }
            }
        });
        _listener.Start();
    }

    public IReadOnlyList<StageLatency> Summary()
    {
        lock (_seconds)
        {
            return [.. _seconds.Select(pair =>
            {
                var sorted = pair.Value.Order().ToArray();
                double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)] * 1000;
                return new StageLatency(pair.Key, sorted.Length, At(0.50), At(0.99), sorted[^1] * 1000);
            })];
        }
    }

    public void Dispose() => _listener.Dispose();
}
