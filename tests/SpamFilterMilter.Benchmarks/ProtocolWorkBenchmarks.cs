using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// The session's own work for one transaction, the network taken out: <see cref="MilterSession"/> over an
/// <see cref="AnsweringStream"/>, the commands of TransactionBenchmarks (MAIL, RCPT, DATA, 5 headers, end of
/// headers, a 1 KB body, end of message). Every call completes at once on one thread, so the time is the CPU the
/// encoding, the decoding, the state machine, the bounds and the answer loop take with warm caches. Against a real
/// milter the same code runs after every wait for a reply, on caches the milter and the kernel have used since
/// (docs/performance.md compares the two).
/// </summary>
public class ProtocolWorkBenchmarks
{
    private const int TransactionsPerInvoke = 100;

    private static readonly (string Name, RawText Value)[] Headers =
        [.. TransactionBenchmarks.Headers.Select(header => (header.Name, new RawText(Encoding.ASCII.GetBytes(header.Value))))];

    private MilterSession _session = null!;

    [Params(TransactionBenchmarks.IoModeName.Async, TransactionBenchmarks.IoModeName.Blocking)]
    public TransactionBenchmarks.IoModeName Io { get; set; }

    [Params(false, true)]
    public bool AddHeader { get; set; }

    /// <summary>
    /// <c>hot N async|blocking [add-header] [json]</c>: N transactions in a loop after as many to warm up, then the
    /// process's CPU per transaction, for a profiler to watch the steady state (BenchmarkDotNet's own loop is in the way
    /// there); with <c>json</c>, as bench's JSON has it, the measured run's start included (<c>measuredFrom</c>, for
    /// tools/bench/cpu-split.py).
    /// </summary>
    public static int Run(string[] args)
    {
        var benchmark = new ProtocolWorkBenchmarks
        {
            Io = args[2] == "blocking" ? TransactionBenchmarks.IoModeName.Blocking : TransactionBenchmarks.IoModeName.Async,
            AddHeader = args.Contains("add-header"),
        };
        var count = int.Parse(args[1], CultureInfo.InvariantCulture) / TransactionsPerInvoke;
        benchmark.Setup();
        for (var i = 0; i < count; i++)
        {
            benchmark.One_transaction().GetAwaiter().GetResult();
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            benchmark.One_transaction().GetAwaiter().GetResult();
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var perTransaction = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / (count * TransactionsPerInvoke);
        Console.WriteLine(args.Contains("json")
            ? string.Create(CultureInfo.InvariantCulture,
                $"{{\"transactions\": {count * TransactionsPerInvoke}, \"seconds\": {seconds:0.000}, \"measuredFrom\": {started / (double)Stopwatch.Frequency:0.000000}, \"cpuMicrosecondsPerTransaction\": {perTransaction:0.00}, \"pid\": {Environment.ProcessId}}}")
            : string.Create(CultureInfo.InvariantCulture,
                $"{benchmark.Io}, {(benchmark.AddHeader ? "add-header" : "continue-all")}: {perTransaction:0.00} µs of CPU per transaction"));
        return 0;
    }

    [GlobalSetup]
    public void Setup()
    {
        _session = new MilterSession(new AnsweringStream(AddHeader), "in-memory milter",
            new MilterSessionSettings { BlockingIo = Io == TransactionBenchmarks.IoModeName.Blocking }, NullLogger.Instance);
        _session.NegotiateAsync().AsTask().GetAwaiter().GetResult();
        _session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000, TransactionBenchmarks.ClientName)).AsTask().GetAwaiter().GetResult();
        _session.HeloAsync(TransactionBenchmarks.ClientName).AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Description = "One transaction's protocol work, no network", OperationsPerInvoke = TransactionsPerInvoke)]
    public async Task One_transaction()
    {
        for (var i = 0; i < TransactionsPerInvoke; i++)
        {
            await _session.MailAsync(TransactionBenchmarks.Sender, null);
            await _session.RcptAsync(TransactionBenchmarks.Recipient, null);
            await _session.DataAsync();
            foreach (var (name, value) in Headers)
            {
                await _session.HeaderAsync(name, value);
            }

            await _session.EndOfHeadersAsync();
            await _session.BodyAsync(TransactionBenchmarks.Body);
            var answer = await _session.EndOfMessageAsync();
            if (_session.Failure is not null || answer.Edits.Count != (AddHeader ? 1 : 0))
            {
                throw new InvalidOperationException(_session.Failure?.ToString() ?? $"{answer.Edits.Count} edits");
            }
        }
    }
}
