using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// One whole transaction on an open session (MAIL, RCPT, DATA, 5 headers, end of headers, a 1 KB
/// body, end of message) against the in-process milter, as `spamfilter-milter bench` runs it against
/// libmilter. Time includes the milter's share of the two cores; allocation is the client's.
/// </summary>
public class TransactionBenchmarks
{
    /// <summary>The envelope and the client's name, as bench sends them.</summary>
    internal const string Sender = "bench-sender@example.com", Recipient = "bench-recipient@example.net", ClientName = "bench.example.net";

    /// <summary>The message's header fields, as bench and tools/bench/protocol-client.c send them.</summary>
    internal static readonly (string Name, string Value)[] Headers =
    [
        ("From", " Bench Sender <bench-sender@example.com>"),
        ("To", " bench-recipient@example.net"),
        ("Subject", " SpamFilterMilter benchmark message"),
        ("Message-ID", " <bench@example.com>"),
        ("Date", " Sat, 21 Nov 2026 12:00:00 +0000"),
    ];

    /// <summary>The message's 1 KB body: 16 lines of 62 characters and a CRLF.</summary>
    internal static readonly ReadOnlyMemory<byte> Body = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 62) + "\r\n", 16)));

    private const int TransactionsPerInvoke = 100;

    private InProcessMilter _milter = null!;
    private MilterPlugin _plugin = null!;
    private IFilterSession _session = null!;

    [Params(IoModeName.Async, IoModeName.Blocking)]
    public IoModeName Io { get; set; }

    [Params(false, true)]
    public bool AddHeader { get; set; }

    /// <summary>Public mirror of the plug-in's internal IoMode, for BenchmarkDotNet's parameter columns.</summary>
    public enum IoModeName
    {
        Async,
        Blocking,
    }

    [GlobalSetup]
    public void Setup()
    {
        _milter = new InProcessMilter(AddHeader);
        _plugin = new MilterPlugin(new MilterOptions
        {
            Host = "127.0.0.1",
            Port = _milter.Port,
            IoMode = Io == IoModeName.Blocking ? IoMode.Blocking : IoMode.Async,
        }, NullLoggerFactory.Instance);
        _session = _plugin.OpenSession();
        var decision = _session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000, ClientName)).AsTask().GetAwaiter().GetResult();
        if (decision.Failure is { } failure)
        {
            throw new InvalidOperationException(failure.ToString());
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plugin.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _milter.Dispose();
    }

    // 100 transactions per invocation, as in StreamingBenchmarks: BenchmarkDotNet's wait for an
    // unfinished asynchronous result allocates, and would be counted as the transaction's.
    [Benchmark(Description = "One transaction, 5 headers, 1 KB body", OperationsPerInvoke = TransactionsPerInvoke)]
    public async Task One_transaction()
    {
        for (var i = 0; i < TransactionsPerInvoke; i++)
        {
            await _session.MailAsync(Sender, null);
            await _session.RcptAsync(Recipient, null);
            await _session.DataAsync();
            foreach (var (name, value) in Headers)
            {
                await _session.HeaderAsync(name, value);
            }

            await _session.EndOfHeadersAsync();
            await _session.BodyAsync(Body);
            var verdict = await _session.EndOfMessageAsync();
            if (verdict.Kind == VerdictKind.Failure)
            {
                throw new InvalidOperationException(verdict.Failure!.ToString());
            }
        }
    }
}
