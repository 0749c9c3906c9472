using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Cli;

/// <summary>
/// soak: C concurrent SMTP sessions, each a few messages long, opened again and again for a duration, against a
/// milter that may be killed, stopped and restarted meanwhile (tools/soak/run.sh does that). Every message must get
/// a verdict, the milter's or the failure outcome, within its bound; nothing may escape. Samples the process every
/// interval (RSS, managed heap, threads, file descriptors) so that a leak shows as a slope. Exit status 1 when a
/// verdict was lost or late.
/// </summary>
internal static class SoakCommand
{
    public static Command Create(Terminal terminal)
    {
        var target = new MilterTarget();
        var connections = new Option<int>("-c", "--connections") { Description = "Concurrent SMTP sessions.", DefaultValueFactory = _ => 256 };
        var duration = new Option<double>("--duration") { Description = "Seconds to run.", DefaultValueFactory = _ => 600 };
        var messages = new Option<int>("--messages") { Description = "Messages per SMTP session before it is closed and another opened.", DefaultValueFactory = _ => 5 };
        var interval = new Option<double>("--interval") { Description = "Seconds between samples of the process.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object, for scripts." };
        var command = new Command("soak", "Run many sessions for a long time and check that every message gets a verdict and nothing grows.")
        {
            connections, duration, messages, interval, json,
        };
        target.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var settings = new SoakSettings(result.GetValue(connections), TimeSpan.FromSeconds(result.GetValue(duration)), result.GetValue(messages),
                TimeSpan.FromSeconds(result.GetValue(interval)));
            var wrong = settings.Connections < 1 ? $"--connections: {settings.Connections}: at least one session"
                : settings.Messages < 1 ? $"--messages: {settings.Messages}: at least one message per session"
                : settings.Duration <= TimeSpan.Zero ? $"--duration: {result.GetValue(duration)}: more than 0 seconds"
                : settings.Interval <= TimeSpan.Zero ? $"--interval: {result.GetValue(interval)}: more than 0 seconds"
                : null;
            if (wrong is not null)
            {
                throw new ArgumentException($"{wrong} is needed.");
            }

            var report = await RunAsync(target.Resolve(result), settings, terminal, cancellationToken).ConfigureAwait(false);
            await terminal.Output.WriteAsync(result.GetValue(json) ? report.ToJson() : report.ToText()).ConfigureAwait(false);
            return report.Lost + report.Late > 0 || report.NeverReached ? (int)ToolExitCode.ProblemsFound : (int)ToolExitCode.Success;
        });
        return command;
    }

    internal sealed record SoakSettings(int Connections, TimeSpan Duration, int Messages, TimeSpan Interval);

    /// <summary>One look at the process.</summary>
    internal sealed record Sample(double Seconds, long Messages, long Failures, double RssMiB, double HeapMiB, int Threads, int FileDescriptors);

    internal static async Task<SoakReport> RunAsync(MilterOptions options, SoakSettings settings, Terminal terminal, CancellationToken cancellationToken)
    {
        await using var plugin = new MilterPlugin(options, NullLoggerFactory.Instance);
        var message = BenchCommand.BenchMessage.Create(5, 1024);
        // A message may take its whole MESSAGE_TIMEOUT, and its session's connect the connect bound and a budget per
        // event: past that a verdict is late.
        var messageBound = options.MessageTimeout + options.Timeout + TimeSpan.FromSeconds(1);
        var sessionBound = options.ConnectTimeout + options.MessageTimeout + options.MessageTimeout + TimeSpan.FromSeconds(1);
        long verdicts = 0, failures = 0, lost = 0, late = 0, sessions = 0;
        var causes = new ConcurrentDictionary<string, int>();
        string? firstLost = null;
        var started = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(settings.Duration);

        void Count(FilterFailure? failure)
        {
            if (failure is null)
            {
                Interlocked.Increment(ref verdicts);
                return;
            }

            Interlocked.Increment(ref failures);
            causes.AddOrUpdate($"{failure.Stage?.ToName() ?? "-"}: {Kind(failure.Cause)}", 1, (_, n) => n + 1);
        }

        void Lose(string what)
        {
            Interlocked.Increment(ref lost);
            Interlocked.CompareExchange(ref firstLost, what, null);
        }

        async Task Worker(int index)
        {
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref sessions);
                try
                {
                    await using var session = plugin.OpenSession();
                    var t = Stopwatch.StartNew();
                    // A refused or failed connect is the failure outcome of every message of the session: counted below.
                    await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000 + index, "soak.example.net"), CancellationToken.None).ConfigureAwait(false);
                    if (t.Elapsed > sessionBound)
                    {
                        Interlocked.Increment(ref late);
                    }

                    await session.HeloAsync("soak.example.net", CancellationToken.None).ConfigureAwait(false);
                    for (var i = 0; i < settings.Messages && !stop.IsCancellationRequested; i++)
                    {
                        t.Restart();
                        var verdict = await BenchCommand.OneAsync(session, message, CancellationToken.None).ConfigureAwait(false);
                        if (t.Elapsed > messageBound)
                        {
                            Interlocked.Increment(ref late);
                        }

                        Count(verdict.Failure);
                    }

                    await session.CloseAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Lose($"{e.GetType().Name}: {e.Message}"); // nothing may escape a session's calls
                }
            }
        }

        var samples = new List<Sample>();
        Sample Take() => new(started.Elapsed.TotalSeconds, Interlocked.Read(ref verdicts) + Interlocked.Read(ref failures), Interlocked.Read(ref failures),
            Rss() / 1048576.0, GC.GetTotalMemory(false) / 1048576.0, Process.GetCurrentProcess().Threads.Count, FileDescriptors());
        var blocking = options.IoMode == IoMode.Blocking;
        var threads = new List<Thread>();
        var tasks = new List<Task>();
        for (var c = 0; c < settings.Connections; c++)
        {
            var index = c;
            if (blocking)
            {
                var thread = new Thread(() => Worker(index).GetAwaiter().GetResult()) { IsBackground = true, Name = $"soak {index}" };
                thread.Start();
                threads.Add(thread);
            }
            else
            {
                tasks.Add(Task.Run(() => Worker(index), CancellationToken.None));
            }
        }

        samples.Add(Take());
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.Interval, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var sample = Take();
            samples.Add(sample);
            await terminal.Error.WriteLineAsync(Describe(sample)).ConfigureAwait(false);
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        samples.Add(Take()); // everything closed: what is left is what leaked
        return new SoakReport(plugin.Description, options.IoMode.ToString().ToLowerInvariant(), options.PoolSize, settings, Interlocked.Read(ref sessions),
            Interlocked.Read(ref verdicts), Interlocked.Read(ref failures), Interlocked.Read(ref lost), Interlocked.Read(ref late), firstLost,
            causes.OrderByDescending(c => c.Value).Take(8).ToDictionary(c => c.Key, c => c.Value), samples);
    }

    /// <summary>The kind of a failure's cause, without addresses and numbers ("can't connect", "timed out", …).</summary>
    private static string Kind(string cause)
    {
        var text = cause.Contains("timed out", StringComparison.Ordinal) || cause.Contains("MESSAGE_TIMEOUT", StringComparison.Ordinal) ? "timed out"
            : cause.Contains("closed the connection", StringComparison.Ordinal) ? "the milter closed the connection"
            : cause.Contains("can't connect", StringComparison.Ordinal) ? "can't connect"
            : cause.Contains("reset", StringComparison.OrdinalIgnoreCase) ? "connection reset"
            : cause;
        return text.Length <= 60 ? text : text[..60];
    }

    internal static string Describe(Sample s) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Seconds,7:0} s  {s.Messages,10} messages  {s.Failures,8} failure outcomes  RSS {s.RssMiB,7:0.0} MiB  heap {s.HeapMiB,7:0.0} MiB  threads {s.Threads,4}  fds {s.FileDescriptors,5}");

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return Environment.WorkingSet;
    }

    private static int FileDescriptors() => Directory.Exists("/proc/self/fd") ? Directory.EnumerateFiles("/proc/self/fd").Count() : 0;
}

/// <summary>What soak found.</summary>
internal sealed record SoakReport(string Milter, string IoMode, int PoolSize, SoakCommand.SoakSettings Settings, long Sessions, long Verdicts, long Failures,
    long Lost, long Late, string? FirstLost, Dictionary<string, int> Causes, List<SoakCommand.Sample> Samples)
{
    /// <summary>
    /// Every message got the failure outcome and none the milter's verdict: the outcomes held, but what was soaked is the
    /// failure path alone, most likely a milter that is not there (a wrong port); bench says the same with exit status 1.
    /// </summary>
    public bool NeverReached => Verdicts == 0 && Failures > 0;

    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{Milter}, {IoMode} I/O, POOL_SIZE={PoolSize}, {Settings.Connections} sessions at a time, {Settings.Duration.TotalSeconds:0} s");
        text.AppendLine(CultureInfo.InvariantCulture, $"  SMTP sessions:        {Sessions}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  messages:             {Verdicts + Failures} ({Verdicts} with the milter's verdict, {Failures} with the failure outcome)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  lost (an exception):  {Lost}{(FirstLost is null ? string.Empty : $" (first: {FirstLost})")}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  late (over the bound): {Late}");
        if (NeverReached)
        {
            text.AppendLine("  no message got the milter's verdict: is the milter running there? (exit status 1)");
        }
        foreach (var (cause, count) in Causes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  failure: {count,8}  {cause}");
        }

        foreach (var sample in Samples)
        {
            text.Append("  ").AppendLine(SoakCommand.Describe(sample));
        }

        return text.ToString();
    }

    public string ToJson() => new JsonObject
    {
        ["milter"] = Milter,
        ["ioMode"] = IoMode,
        ["poolSize"] = PoolSize,
        ["connections"] = Settings.Connections,
        ["seconds"] = Settings.Duration.TotalSeconds,
        ["sessions"] = Sessions,
        ["verdicts"] = Verdicts,
        ["failures"] = Failures,
        ["lost"] = Lost,
        ["late"] = Late,
        ["firstLost"] = FirstLost,
        ["causes"] = new JsonObject(Causes.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))),
        ["samples"] = new JsonArray([.. Samples.Select(s => (JsonNode)new JsonObject
        {
            ["seconds"] = s.Seconds, ["messages"] = s.Messages, ["failures"] = s.Failures, ["rssMiB"] = s.RssMiB, ["heapMiB"] = s.HeapMiB,
            ["threads"] = s.Threads, ["fileDescriptors"] = s.FileDescriptors,
        })]),
    }.ToJsonString(JsonOutput.Options) + Environment.NewLine;
}
