using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Cli;

/// <summary>
/// bench --idle N: what a session costs while it waits for its SMTP client. Opens N sessions (each with its milter
/// connection, negotiated, after the connect and HELO events), holds them all, and reports the managed heap and the
/// resident set they added, per session, after a full collection; then closes them.
/// </summary>
internal static class IdleSessions
{
    private const int OpenedAtOnce = 64; // no deeper than a milter's accept queue

    public static async Task<IdleReport> MeasureAsync(MilterOptions options, int count, CancellationToken cancellationToken)
    {
        await using var plugin = new MilterPlugin(options, NullLoggerFactory.Instance);
        var first = await OpenAsync(plugin, 0, cancellationToken).ConfigureAwait(false); // code compiled, threads started
        var (managedBefore, residentBefore) = Settle();
        var sessions = new IFilterSession?[count];
        var failures = 0;
        string? firstFailure = null;
        var started = Stopwatch.GetTimestamp();
        for (var batch = 0; batch < count; batch += OpenedAtOnce)
        {
            await Task.WhenAll(Enumerable.Range(batch, Math.Min(OpenedAtOnce, count - batch)).Select(async i =>
            {
                try
                {
                    sessions[i] = await OpenAsync(plugin, i + 1, cancellationToken).ConfigureAwait(false);
                }
                catch (InvalidOperationException e)
                {
                    Interlocked.Increment(ref failures);
                    Interlocked.CompareExchange(ref firstFailure, e.Message, null);
                }
            })).ConfigureAwait(false);
        }

        var opening = Stopwatch.GetElapsedTime(started);
        var (managedAfter, residentAfter) = Settle();
        int threads;
        using (var self = Process.GetCurrentProcess())
        {
            threads = self.Threads.Count;
        }

        foreach (var session in sessions.Prepend(first))
        {
            if (session is not null)
            {
                await session.CloseAsync(cancellationToken).ConfigureAwait(false);
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }

        var held = Math.Max(1, count - failures);
        return new IdleReport(plugin.Description, options.IoMode.ToString().ToLowerInvariant(), count, failures, firstFailure, opening.TotalSeconds,
            (managedAfter - managedBefore) / (double)held, (residentAfter - residentBefore) / (double)held, threads);
    }

    private static async Task<IFilterSession> OpenAsync(MilterPlugin plugin, int index, CancellationToken cancellationToken)
    {
        var session = plugin.OpenSession();
        var decision = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 10000 + (index % 50000), "idle.example.net"), cancellationToken).ConfigureAwait(false);
        if (decision.Failure is { } failure)
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException(failure.ToString());
        }

        await session.HeloAsync("idle.example.net", cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>The managed heap after a full, compacting collection, and the resident set.</summary>
    private static (long Managed, long Resident) Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var self = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: false), self.WorkingSet64);
    }
}

/// <summary>What bench --idle measured.</summary>
internal sealed record IdleReport(string Milter, string Io, int Sessions, int Failures, string? FirstFailure, double OpeningSeconds,
    double ManagedBytesPerSession, double ResidentBytesPerSession, int Threads)
{
    public string ToText() => string.Create(CultureInfo.InvariantCulture, $"""
        {Milter}: {Sessions} idle sessions, {Io} I/O, opened in {OpeningSeconds:0.00} s
          managed heap    {ManagedBytesPerSession,10:0} bytes per session (after a full collection)
          resident set    {ResidentBytesPerSession,10:0} bytes per session
          threads         {Threads}
          failures        {Failures}{(FirstFailure is null ? "" : $" (first: {FirstFailure})")}

        """);

    public string ToJson() => new JsonObject
    {
        ["milter"] = Milter,
        ["io"] = Io,
        ["idleSessions"] = Sessions,
        ["failures"] = Failures,
        ["firstFailure"] = FirstFailure,
        ["openingSeconds"] = Math.Round(OpeningSeconds, 3),
        ["managedBytesPerSession"] = Math.Round(ManagedBytesPerSession, 0),
        ["residentBytesPerSession"] = Math.Round(ResidentBytesPerSession, 0),
        ["threads"] = Threads,
    }.ToJsonString(JsonOutput.Options) + Environment.NewLine;
}
