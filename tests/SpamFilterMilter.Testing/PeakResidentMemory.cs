using System.Globalization;

namespace SpamFilterMilter.Testing;

/// <summary>
/// The process's peak resident set over a stretch of work, on Linux: <see cref="Start"/> resets the peak to what is
/// resident now (<c>/proc/self/clear_refs</c>), <see cref="Growth"/> is how far it rose since (<c>VmHWM</c> less the
/// resident set at the start). Null where the kernel offers neither.
/// </summary>
public sealed class PeakResidentMemory
{
    private readonly long _start;

    private PeakResidentMemory(long start) => _start = start;

    /// <summary>Starts a measurement; null when this system cannot measure it.</summary>
    public static PeakResidentMemory? Start()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return new PeakResidentMemory(Kilobytes("VmRSS"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>How many bytes the peak resident set rose above the resident set at <see cref="Start"/>.</summary>
    public long Growth => (Kilobytes("VmHWM") - _start) * 1024;

    private static long Kilobytes(string field) =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
