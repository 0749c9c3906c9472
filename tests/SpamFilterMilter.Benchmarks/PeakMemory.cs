using System.Globalization;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// Peak resident memory, which BenchmarkDotNet does not report: one call of a <see cref="ReplacementBodyBenchmarks"/>
/// benchmark in a fresh process, with the bytes it allocated (all threads) and the process's resident set before the
/// call and at its peak during it (Linux: VmRSS and VmHWM, the peak reset just before the call by
/// <c>/proc/self/clear_refs</c>). <c>dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- peak 64 host</c>.
/// </summary>
internal static class PeakMemory
{
    public static int Run(string[] args)
    {
        if (args is not [_, var size, var which and ("plugin" or "host")] || !int.TryParse(size, CultureInfo.InvariantCulture, out var mebibytes))
        {
            Console.Error.WriteLine("usage: peak <MiB> plugin|host");
            return 2;
        }

        using var benchmark = new ReplacementBodyBenchmarks { Mebibytes = mebibytes };
        benchmark.Setup();
        GC.Collect();
        var before = Status("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // VmHWM := VmRSS
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var result = which == "host" ? benchmark.Host().GetAwaiter().GetResult() : benchmark.Plug_in().GetAwaiter().GetResult();
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var peak = Status("VmHWM");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{which}, {mebibytes} MiB body ({result:N0} bytes out): allocated {allocated:N0} bytes ({allocated / (double)(mebibytes << 20):F2} x the body); resident {before / 1024.0:F0} MiB before, {peak / 1024.0:F0} MiB at the peak (+{(peak - before) / 1024.0:F0} MiB, {(peak - before) / (double)(mebibytes << 10):F2} x the body)"));
        return 0;
    }

    /// <summary>A kB figure of /proc/self/status.</summary>
    private static long Status(string field) =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
