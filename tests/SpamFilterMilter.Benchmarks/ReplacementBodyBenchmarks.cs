using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// A milter that replaces the body (16 or 64 MiB) of a small message: what the plug-in costs to collect it and hand
/// it over (<see cref="Plug_in"/>), and what the whole host library costs (<see cref="Host"/>: the slot's plug-in,
/// its action string run as Sieve with <c>data:,$U</c>, the edited message written). The target: a replacement body
/// costs at most twice its size at peak. Peak RSS is not a BenchmarkDotNet column; <see cref="PeakMemory"/> measures
/// it in a process of its own.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class ReplacementBodyBenchmarks : IDisposable
{
    private const string Text = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: big body\r\n\r\nThe original body.\r\n";

    private InProcessMilter _milter = null!;
    private MilterPlugin _plugin = null!;
    private SpamFilterHost _host = null!;
    private string _folder = null!;

    /// <summary>The size of the replacement body, in MiB.</summary>
    [Params(16, 64)]
    public int Mebibytes { get; set; }

    private long BodyBytes => Mebibytes * 1024L * 1024;

    [GlobalSetup]
    public void Setup()
    {
        _milter = InProcessMilter.ReplacingBody(BodyBytes);
        _plugin = new MilterPlugin(new MilterOptions { Host = "127.0.0.1", Port = _milter.Port }, NullLoggerFactory.Instance);
        _folder = Directory.CreateTempSubdirectory("sfm-bench-").FullName;
        File.WriteAllText(Path.Combine(_folder, "milter.opt"), $"HOST=127.0.0.1\nPORT={_milter.Port}\n");
        var optionDat = Path.Combine(_folder, "option.dat");
        File.WriteAllText(optionDat, $"spamfilter1_library=milter.dll\nspamfilter1_config_file={Path.Combine(_folder, "milter.opt")}\n");
        _host = SpamFilterHost.Create(SpamFilterHostOptions.Load(optionDat),
            new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1, "spam")]),
            loggerFactory: NullLoggerFactory.Instance,
            loadPlugin: _ => new MilterPluginFactory());
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plugin.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _milter.Dispose();
        Directory.Delete(_folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>The plug-in alone: the milter's SMFIR_REPLBODY packets collected into the verdict.</summary>
    [Benchmark(Description = "Plug-in: the milter replaces the body")]
    public async Task<long> Plug_in()
    {
        var verdict = await _plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(IPAddress.Loopback, 40001, "bench.example.net"),
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("bob@example.com")],
            Message = new MemoryStream(Encoding.ASCII.GetBytes(Text), writable: false),
        });
        var body = verdict.ReplacementBody ?? throw new InvalidOperationException($"no replaced body: {verdict.Failure?.ToString() ?? verdict.Text}");
        verdict.DisposeBodies(); // the receiver owns the body: its temporary file goes now
        return body.Length;
    }

    /// <summary>The host library: the verdict's action string run on the message, the edited message written once.</summary>
    [Benchmark(Description = "Host: the milter replaces the body, the action runs")]
    public async Task<long> Host()
    {
        var result = await _host.FilterAsync(new HostMessage
        {
            Message = Encoding.ASCII.GetBytes(Text),
            Envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]),
            SourceChannel = "tcp_local",
            Client = ClientInfo.Tcp(IPAddress.Loopback, 40002, "bench.example.net"),
        });
        var delivered = result.Deliveries.Single();
        return delivered.Message.Length > BodyBytes ? delivered.Message.Length
            : throw new InvalidOperationException("the body was not replaced: " + string.Join(" | ", result.Log));
    }
}
