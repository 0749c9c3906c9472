using System.Buffers.Binary;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// The in-process milter's answers without the network: every command written is answered at once
/// (<see cref="InProcessMilter.AnswerTo"/>) into what the next read returns, so a session runs on one thread
/// and never waits. Packets may arrive split across writes. For benchmarks only.
/// </summary>
internal sealed class AnsweringStream(bool addHeader) : Stream
{
    private readonly byte[] _written = new byte[256 * 1024];
    private readonly byte[] _answers = new byte[64 * 1024];
    private int _writtenLength;
    private int _answerStart;
    private int _answerEnd;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _answerEnd - _answerStart);
        _answers.AsSpan(_answerStart, count).CopyTo(buffer);
        _answerStart += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        buffer.CopyTo(_written.AsSpan(_writtenLength));
        _writtenLength += buffer.Length;
        var at = 0;
        while (_writtenLength - at >= 5)
        {
            var packet = 4 + (int)BinaryPrimitives.ReadUInt32BigEndian(_written.AsSpan(at));
            if (_writtenLength - at < packet)
            {
                break;
            }

            Answer(InProcessMilter.AnswerTo((char)_written[at + 4], addHeader));
            at += packet;
        }

        _written.AsSpan(at, _writtenLength - at).CopyTo(_written);
        _writtenLength -= at;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Answer(ReadOnlySpan<byte> answer)
    {
        if (_answerStart == _answerEnd)
        {
            _answerStart = _answerEnd = 0;
        }

        answer.CopyTo(_answers.AsSpan(_answerEnd));
        _answerEnd += answer.Length;
    }
}
