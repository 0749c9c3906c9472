using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Runtime;

namespace SpamFilterMilter.Cli;

/// <summary>
/// When bench's warm-up may end: once .NET's tiered compilation has optimised the hot code, so that the measured run is the
/// steady state a host runs in. Tiered compilation optimises hot code again in the background, on the same two cores the
/// milter and the client share: measured with 10,000 transactions at 8 connections, a run that still compiled used 185-193
/// µs of CPU per transaction, one with everything compiled up front 145-149.
/// </summary>
internal static class JitSettling
{
    /// <summary>How long no method may have been compiled, with tiering neither paused nor at work, before it counts as settled.</summary>
    internal static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Calls <paramref name="settled"/> once, after <paramref name="atLeast"/>, .NET has compiled no method for
    /// <see cref="QuietPeriod"/> while its tiered compilation was neither paused nor compiling (or 30 s after
    /// <paramref name="atLeast"/> at the latest). The pause matters: tiering waits until no new method has started for a
    /// while before it counts calls (100 ms), and ten times as long on one processor (the runtime's
    /// TC_DelaySingleProcMultiplier; a process bound to one core, or a container given one CPU, counts as one), so a quiet
    /// second there was only that wait. Measured with bench bound to one core (taskset) and the milter on the other: a quiet
    /// second ended the warm-up after 1,100-3,000 transactions with 300-750 methods still to compile in the measured run, the
    /// plug-in's CPU 394-487 µs per transaction; warmed up 15 s, 56-115 methods and 272-304 µs (the C client: 228-251).
    /// </summary>
    public static async Task WaitAsync(TimeSpan atLeast, Action settled, CancellationToken cancellationToken)
    {
        if (atLeast <= TimeSpan.Zero)
        {
            return;
        }

        using var tiering = new TieringListener();
        var started = Stopwatch.GetTimestamp();
        var count = JitInfo.GetCompiledMethodCount();
        var lastChange = Stopwatch.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None).ConfigureAwait(false);
            if (JitInfo.GetCompiledMethodCount() is var now && now != count || tiering.Busy)
            {
                (count, lastChange) = (JitInfo.GetCompiledMethodCount(), Stopwatch.GetTimestamp());
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            if (elapsed >= atLeast && (Stopwatch.GetElapsedTime(lastChange) >= QuietPeriod || elapsed >= atLeast + TimeSpan.FromSeconds(30)))
            {
                break;
            }
        }

        settled();
    }

    /// <summary>
    /// The runtime's tiered-compilation events (CompilationKeyword, Informational): whether tiering is paused (a new method
    /// started lately) or has methods waiting to be optimised in the background.
    /// </summary>
    private sealed class TieringListener : EventListener
    {
        private const EventKeywords CompilationKeyword = (EventKeywords)0x1000000000;

        // Paused until tiering says it resumed: its first pause came at the start, before this listener, and the events of
        // the first moments of a listener's session may not reach it. With tiered compilation off no event comes at all.
        private int _paused = TieredCompilationIsOff() ? 0 : 1;
        private int _compiling;

        /// <summary>True while tiering is paused or compiling in the background.</summary>
        public bool Busy => Volatile.Read(ref _paused) != 0 || Volatile.Read(ref _compiling) != 0;

        private static bool TieredCompilationIsOff() =>
            AppContext.TryGetSwitch("System.Runtime.TieredCompilation", out var on) ? !on
            : (Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") ?? Environment.GetEnvironmentVariable("COMPlus_TieredCompilation")) == "0";

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Informational, CompilationKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            switch (eventData.EventName)
            {
                case "TieredCompilationPause":
                    Volatile.Write(ref _paused, 1);
                    break;
                case "TieredCompilationResume":
                    Volatile.Write(ref _paused, 0);
                    break;
                case "TieredCompilationBackgroundJitStart":
                    Volatile.Write(ref _compiling, 1);
                    break;
                case "TieredCompilationBackgroundJitStop":
                    Volatile.Write(ref _compiling, 0);
                    break;
            }
        }
    }
}
