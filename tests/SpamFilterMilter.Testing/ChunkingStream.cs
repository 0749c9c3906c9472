namespace SpamFilterMilter.Testing;

/// <summary>
/// Wraps a stream so that every read returns at most <see cref="MaxReadSize"/> bytes (1 delivers
/// input one byte at a time, whatever the writer did) and counts the writes, so tests can see how
/// packets were grouped. Flushes, disposal and everything else pass through.
/// </summary>
public sealed class ChunkingStream(Stream inner, int maxReadSize = int.MaxValue) : Stream
{
    public int MaxReadSize { get; set; } = maxReadSize;

    public int WriteCount { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer[..Math.Min(buffer.Length, MaxReadSize)], cancellationToken);

    // The synchronous paths stay synchronous: blocking I/O relies on the socket's own timeouts,
    // which only synchronous reads and writes honour.
    public override int Read(Span<byte> buffer) => inner.Read(buffer[..Math.Min(buffer.Length, MaxReadSize)]);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        WriteCount++;
        return inner.WriteAsync(buffer, cancellationToken);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        WriteCount++;
        inner.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
