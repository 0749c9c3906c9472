using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;
using SpamFilterMilter.Benchmarks;

// dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- --filter '*'   (all; --list flat to see them)
// dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- peak 64 host   (peak RSS of one call: PeakMemory)
if (args is ["peak", ..])
{
    return PeakMemory.Run(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
    .Run(args, DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default));
return 0;
