using System.Buffers;

namespace SpamFilterMilter.Contract;

/// <summary>
/// A message body, such as a filter's replacement body: in memory when small, in a temporary file when large (made by
/// <see cref="MessageBodyBuilder"/>), so that a large body costs disk, not memory. Read it as often as needed
/// (<see cref="OpenRead"/>, <see cref="CopyTo"/>); <see cref="ToArray"/> copies it into memory, for small bodies and
/// tools. Two bodies are equal when their bytes are.
/// <para>
/// <see cref="Dispose"/> deletes the temporary file; a body in memory has nothing to release and stays readable. A
/// body in a file cannot be read once disposed (<see cref="ObjectDisposedException"/>). Whoever receives a
/// <see cref="FilterVerdict"/> owns its bodies: <see cref="FilterVerdict.DisposeBodies"/> once the verdict is applied.
/// A body nobody disposes still goes away when its file handle is finalised, and on Unix its file has no name at all,
/// so a process that dies leaves nothing behind.
/// </para>
/// </summary>
public sealed class MessageBody : IEquatable<MessageBody>, IDisposable
{
    /// <summary>What one read or copy of a body in a file moves at a time.</summary>
    internal const int CopyBufferBytes = 64 * 1024;

    private readonly ReadOnlyMemory<byte> _memory;
    private readonly FileStream? _file;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _handle;
    private int _disposed;

    private MessageBody(ReadOnlyMemory<byte> memory)
    {
        _memory = memory;
        Length = memory.Length;
    }

    /// <summary>A body in <paramref name="file"/> (its first <paramref name="length"/> bytes), which the body now owns.</summary>
    internal MessageBody(FileStream file, long length)
    {
        _file = file;
        _handle = file.SafeFileHandle;
        Length = length;
    }

    /// <summary>The size of the body in bytes.</summary>
    public long Length { get; }

    /// <summary>True when the body is in memory (<see cref="TryGetMemory"/> gives it); false when it is in a temporary file.</summary>
    public bool IsInMemory => _file is null;

    /// <summary>A body of exactly these bytes, in memory. The bytes are not copied: they must not change afterwards.</summary>
    public static MessageBody FromBytes(ReadOnlyMemory<byte> bytes) => new(bytes);

    /// <summary>A body of exactly these bytes, in memory (not copied), so that <c>new ReplaceBody(bytes)</c> reads naturally.</summary>
    public static implicit operator MessageBody(byte[] bytes) => FromBytes(bytes);

    /// <summary>A body of exactly these bytes, in memory (not copied).</summary>
    public static implicit operator MessageBody(ReadOnlyMemory<byte> bytes) => FromBytes(bytes);

    /// <summary>Content equality: same length, same bytes.</summary>
    public static bool operator ==(MessageBody? left, MessageBody? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Content inequality.</summary>
    public static bool operator !=(MessageBody? left, MessageBody? right) => !(left == right);

    /// <summary>The bytes without a copy, when the body is in memory; false for a body in a file.</summary>
    public bool TryGetMemory(out ReadOnlyMemory<byte> memory)
    {
        memory = _file is null ? _memory : default;
        return _file is null;
    }

    /// <summary>A new read-only, seekable stream over the body, from its start; each call gives a stream of its own.</summary>
    public Stream OpenRead()
    {
        ThrowIfDisposed();
        return new MessageBodyStream(this);
    }

    /// <summary>Writes the whole body to <paramref name="destination"/>.</summary>
    public void CopyTo(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (TryGetMemory(out var memory))
        {
            destination.Write(memory.Span);
            return;
        }

        using var body = OpenRead();
        body.CopyTo(destination, CopyBufferBytes);
    }

    /// <summary>Writes the whole body to <paramref name="destination"/>.</summary>
    public async Task CopyToAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (TryGetMemory(out var memory))
        {
            await destination.WriteAsync(memory, cancellationToken).ConfigureAwait(false);
            return;
        }

        // Not through OpenRead: its stream reads synchronously, and this copy reads the file asynchronously.
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            for (long offset = 0; offset < Length;)
            {
                var read = await RandomAccess.ReadAsync(Handle(), buffer.AsMemory(0, (int)Math.Min(buffer.Length, Length - offset)), offset, cancellationToken).ConfigureAwait(false);
                await destination.WriteAsync(buffer.AsMemory(0, EnsureProgress(read)), cancellationToken).ConfigureAwait(false);
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The whole body as a new array: it allocates the body's size, so it is for small bodies and tools. A body over
    /// <see cref="Array.MaxLength"/> bytes cannot be one array (<see cref="InvalidOperationException"/>).
    /// </summary>
    public byte[] ToArray()
    {
        if (TryGetMemory(out var memory))
        {
            return memory.ToArray();
        }

        if (Length > Array.MaxLength)
        {
            throw new InvalidOperationException($"A body of {Length} bytes does not fit in one array.");
        }

        var bytes = new byte[Length];
        using var body = OpenRead();
        body.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Deletes the temporary file of a body in a file (once; later calls do nothing). A body in memory stays as it is.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _file?.Dispose();
        }
    }

    /// <inheritdoc />
    public bool Equals(MessageBody? other)
    {
        if (other is null || other.Length != Length)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (TryGetMemory(out var mine) && other.TryGetMemory(out var theirs))
        {
            return mine.Span.SequenceEqual(theirs.Span);
        }

        using var a = OpenRead();
        using var b = other.OpenRead();
        var bufferA = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        var bufferB = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            for (long left = Length; left > 0;)
            {
                var count = (int)Math.Min(CopyBufferBytes, left);
                a.ReadExactly(bufferA, 0, count);
                b.ReadExactly(bufferB, 0, count);
                if (!bufferA.AsSpan(0, count).SequenceEqual(bufferB.AsSpan(0, count)))
                {
                    return false;
                }

                left -= count;
            }

            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bufferA);
            ArrayPool<byte>.Shared.Return(bufferB);
        }
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as MessageBody);

    /// <summary>The length only: equal bodies have equal lengths, and hashing never reads a file.</summary>
    public override int GetHashCode() => Length.GetHashCode();

    /// <summary>A short description for logs and test output: the size and where the body is, never its bytes.</summary>
    public override string ToString() => $"{Length} bytes {(IsInMemory ? "in memory" : "in a temporary file")}";

    /// <summary>Reads from <paramref name="offset"/> into <paramref name="into"/> (as much as fits); at least one byte unless at the end.</summary>
    internal int Read(long offset, Span<byte> into)
    {
        if (offset >= Length)
        {
            return 0;
        }

        if (into.Length > Length - offset)
        {
            into = into[..(int)(Length - offset)];
        }

        if (TryGetMemory(out var memory))
        {
            memory.Span.Slice((int)offset, into.Length).CopyTo(into);
            return into.Length;
        }

        return EnsureProgress(RandomAccess.Read(Handle(), into, offset));
    }

    private Microsoft.Win32.SafeHandles.SafeFileHandle Handle()
    {
        ThrowIfDisposed();
        return _handle!;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_file is not null && Volatile.Read(ref _disposed) != 0, this);

    /// <summary>A read of a body file that gives nothing before its end: the file was cut short behind our back.</summary>
    private static int EnsureProgress(int read) =>
        read > 0 ? read : throw new IOException("The body's temporary file is shorter than the body.");
}
