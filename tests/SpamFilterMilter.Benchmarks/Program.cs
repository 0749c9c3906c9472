using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;
using SpamFilterMilter.Benchmarks;

// dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- --filter '*'   (all; --list flat to see them)
// dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- peak 64 host   (peak RSS of one call: PeakMemory)
// dotnet run -c Release --project tests/SpamFilterMilter.Benchmarks -- hot 200000 async   (ProtocolWorkBenchmarks in a loop, for a profiler)
if (args is ["peak", ..])
{
    return PeakMemory.Run(args);
}

if (args is ["hot", _, "async" or "blocking", ..])
{
    return ProtocolWorkBenchmarks.Run(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly)
    .Run(args, DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default));
return 0;
