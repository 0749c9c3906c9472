using System.Runtime.InteropServices;

namespace SpamFilterMilter.Cli;

/// <summary>
/// The process's context switches so far (getrusage): voluntary ones, where a thread waited (for a reply, say), and
/// involuntary ones, where the scheduler preempted a running thread (for the milter it had just woken, say). bench
/// reports them per transaction beside the C protocol client's, as evidence of how each client shares the cores with
/// the milter. Linux only: null elsewhere.
/// </summary>
internal readonly record struct ContextSwitches(long Voluntary, long Involuntary)
{
    private const int ResourceUsageSelf = 0; // RUSAGE_SELF: every thread of the process, those ended too

    public static ContextSwitches? Now() =>
        OperatingSystem.IsLinux() && getrusage(ResourceUsageSelf, out var usage) == 0 ? new(usage.Voluntary, usage.Involuntary) : null;

    public static ContextSwitches operator -(ContextSwitches later, ContextSwitches earlier) =>
        new(later.Voluntary - earlier.Voluntary, later.Involuntary - earlier.Involuntary);

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out ResourceUsage usage);

    /// <summary>struct rusage on 64-bit Linux: two timevals, then fourteen longs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxResident, SharedText, UnsharedData, UnsharedStack, MinorFaults, MajorFaults, Swaps;
        public long BlockInputs, BlockOutputs, MessagesSent, MessagesReceived, Signals;
        public long Voluntary, Involuntary;
    }
}
