using System.Buffers.Binary;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Verdicts;

namespace SpamFilterMilter.Benchmarks;

/// <summary>The codec on its own: packets built, replies framed, a verdict turned into an action string.</summary>
public class CodecBenchmarks
{
    private const int RepliesPerStream = 100;
    private readonly byte[] _chunk = new byte[MilterConstants.DefaultMaxPayload];
    private PacketWriter _writer = null!;
    private MemoryStream _replies = null!;
    private FrameReader _reader = null!;
    private readonly TransactionVerdictBuilder _verdicts = new(FailureAction.TempFail, recordRecipients: false);
    private readonly MessageEdit[] _edits = [new AddHeader("X-Spam-Flag", " YES"), new ChangeHeader(1, "Subject", " [SPAM] You are our lottery WINNER")];

    [GlobalSetup]
    public void Setup()
    {
        _writer = new PacketWriter(MilterConstants.DefaultMaxPayload);
        var replies = new byte[RepliesPerStream * 5];
        for (var i = 0; i < RepliesPerStream; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(replies.AsSpan(i * 5), 1);
            replies[(i * 5) + 4] = (byte)MilterReply.Continue;
        }

        _replies = new MemoryStream(replies);
        _reader = new FrameReader(_replies, MilterConstants.DefaultMaxPayload);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _reader.Dispose();
    }

    [Benchmark(Description = "SMFIC_HEADER packet built and flushed")]
    public ValueTask Header_packet()
    {
        _writer.Begin(MilterCommand.Header);
        _writer.WriteCString("Subject");
        _writer.WriteHeaderValue(" SpamFilterMilter benchmark message"u8);
        _writer.End();
        return _writer.FlushAsync(Stream.Null, blocking: true, default);
    }

    [Benchmark(Description = "SMFIC_BODY packet of 64 KiB built and flushed")]
    public ValueTask Body_chunk_packet()
    {
        _writer.Begin(MilterCommand.Body);
        _writer.WriteBytes(_chunk);
        _writer.End();
        return _writer.FlushAsync(Stream.Null, blocking: true, default);
    }

    [Benchmark(Description = "SMFIR_CONTINUE reply framed", OperationsPerInvoke = RepliesPerStream)]
    public async Task Continue_replies_read()
    {
        _replies.Position = 0;
        for (var i = 0; i < RepliesPerStream; i++)
        {
            await _reader.ReadAsync(FilterStage.Helo, "benchmark", false, default);
        }
    }

    [Benchmark(Description = "Default verdict (accept, nothing changed)")]
    public FilterVerdict Default_verdict() => _verdicts.Decided(FilterAction.Accept, null, [], null, FilterStage.EndOfMessage);

    [Benchmark(Description = "Action string for two header edits and a quarantine")]
    public FilterVerdict Action_string_with_edits() => _verdicts.Decided(FilterAction.Accept, null, _edits, "looks like a lottery scam", FilterStage.EndOfMessage);
}
