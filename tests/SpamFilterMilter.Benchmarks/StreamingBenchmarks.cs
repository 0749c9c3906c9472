using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// Big messages: a 10 MB message through the whole-message call (read from the host's stream in
/// 64 KiB chunks, never held whole), and one body chunk in the steady state of a long message.
/// Targets: under 1 MB allocated per 10 MB message; nothing allocated per chunk.
/// </summary>
public class StreamingBenchmarks
{
    private const int MessageBytes = 10 * 1024 * 1024;
    private const int ChunksPerInvoke = 1000;

    private readonly byte[] _chunk = new byte[64 * 1024];
    private InProcessMilter _milter = null!;
    private MilterPlugin _plugin = null!;
    private IFilterSession _session = null!;
    private MemoryStream _message = null!;
    private EnvelopeRecipient[] _recipients = null!;

    [GlobalSetup]
    public void Setup()
    {
        _milter = new InProcessMilter(addHeader: false);
        _plugin = new MilterPlugin(new MilterOptions
        {
            Host = "127.0.0.1",
            Port = _milter.Port,
            PoolSize = 1, // the connection is reused from message to message, as a busy host would
            MessageTimeout = TimeSpan.FromDays(1), // the chunk benchmark sends one endless message
        }, NullLoggerFactory.Instance);

        var header = "From: bench-sender@example.com\r\nTo: bench-recipient@example.net\r\nSubject: big\r\n\r\n"u8;
        var message = new byte[MessageBytes];
        header.CopyTo(message);
        var line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"u8;
        for (var at = header.Length; at < message.Length; at += line.Length)
        {
            line[..Math.Min(line.Length, message.Length - at)].CopyTo(message.AsSpan(at));
        }

        _message = new MemoryStream(message, writable: false);
        _recipients = [new EnvelopeRecipient("bench-recipient@example.net")];
        _chunk.AsSpan().Fill((byte)'x');

        _session = _plugin.OpenSession();
        Check(_session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000, "bench.example.net")).AsTask().GetAwaiter().GetResult());
        Check(_session.MailAsync("bench-sender@example.com", null).AsTask().GetAwaiter().GetResult());
        Check(_session.RcptAsync("bench-recipient@example.net", null).AsTask().GetAwaiter().GetResult());
        Check(_session.DataAsync().AsTask().GetAwaiter().GetResult());
        Check(_session.EndOfHeadersAsync().AsTask().GetAwaiter().GetResult());
        Check(_session.BodyAsync(_chunk).AsTask().GetAwaiter().GetResult());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plugin.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _milter.Dispose();
    }

    [Benchmark(Description = "A 10 MB message, whole-message call")]
    public async Task<FilterVerdict> Ten_megabyte_message()
    {
        _message.Position = 0;
        var verdict = await _plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(IPAddress.Loopback, 40001, "bench.example.net"),
            MailFrom = "bench-sender@example.com",
            Recipients = _recipients,
            Message = _message,
        });
        return verdict.Kind == VerdictKind.Failure ? throw new InvalidOperationException(verdict.Failure!.ToString()) : verdict;
    }

    // 1,000 chunks per invocation: BenchmarkDotNet waits for an unfinished asynchronous result in a way
    // that allocates a few hundred bytes per wait, and that would be counted as the chunk's. The
    // loop's own state machine is allocated once per 1,000 chunks.
    [Benchmark(Description = "One 64 KiB body chunk of a long message", OperationsPerInvoke = ChunksPerInvoke)]
    public async Task Body_chunk()
    {
        for (var i = 0; i < ChunksPerInvoke; i++)
        {
            if ((await _session.BodyAsync(_chunk)).Failure is { } failure)
            {
                throw new InvalidOperationException(failure.ToString()); // a broken session answers at once: not a measurement
            }
        }
    }

    private static StageDecision Check(StageDecision decision) =>
        decision.Failure is { } failure ? throw new InvalidOperationException(failure.ToString()) : decision;
}
