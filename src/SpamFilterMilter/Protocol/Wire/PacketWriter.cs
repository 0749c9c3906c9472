using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// Builds milter packets into one pooled buffer. Packets that need no reply (macros, ABORT, no-reply
/// steps) stay buffered and go out in the same write as the next command, so a milter never waits on
/// Nagle or delayed ACK between two packets of one event.
/// </summary>
internal sealed class PacketWriter : IDisposable
{
    private const int HeaderSize = 5; // uint32 length + command byte
    private byte[] _buffer;
    private int _length;
    private int _packetStart = -1;

    public PacketWriter(int maxPayload)
    {
        MaxPayload = maxPayload;
        _buffer = ArrayPool<byte>.Shared.Rent(8192);
    }

    /// <summary>The largest payload the milter accepts (64 KiB - 1 unless MDS was negotiated).</summary>
    public int MaxPayload { get; set; }

    /// <summary>Bytes waiting to be written.</summary>
    public int PendingLength => _length;

    /// <summary>Payload bytes of the packet being built.</summary>
    public int CurrentPayloadLength => _packetStart < 0 ? 0 : _length - _packetStart - HeaderSize;

    /// <summary>The bytes waiting to be written (for traffic logging and tests).</summary>
    public ReadOnlySpan<byte> Pending => _buffer.AsSpan(0, _length);

    /// <summary>How many bytes the buffer holds before it must grow (for tests: what a refused pair cost).</summary>
    public int BufferSize => _buffer.Length;

    /// <summary>Starts a packet: reserves the length, writes the command byte.</summary>
    public void Begin(MilterCommand command) => Begin((byte)command);

    /// <summary>Starts a reply packet (the milter side: the sample milter and test milters).</summary>
    public void Begin(MilterReply reply) => Begin((byte)reply);

    private void Begin(byte code)
    {
        if (_packetStart >= 0)
        {
            throw new InvalidOperationException("The previous packet was not ended.");
        }

        Ensure(HeaderSize);
        _packetStart = _length;
        _buffer[_length + 4] = code;
        _length += HeaderSize;
    }

    /// <summary>Ends the packet: fills in the length. Fails when the payload exceeds <see cref="MaxPayload"/>.</summary>
    public void End()
    {
        var payload = CurrentPayloadLength;
        if (payload > MaxPayload)
        {
            var command = (MilterCommand)_buffer[_packetStart + 4];
            Cancel();
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, MilterNames.StageOf(command), MilterNames.Name(command),
                $"packet of {payload} bytes is larger than the {MaxPayload} the milter accepts");
        }

        // length = sizeof(command byte) + payload
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_packetStart, 4), (uint)(1 + payload));
        _packetStart = -1;
    }

    /// <summary>Drops the packet being built.</summary>
    public void Cancel()
    {
        if (_packetStart >= 0)
        {
            _length = _packetStart;
            _packetStart = -1;
        }
    }

    public void WriteByte(byte value)
    {
        Ensure(1);
        _buffer[_length++] = value;
    }

    public void WriteUInt16(ushort value)
    {
        Ensure(2);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(_length), value);
        _length += 2;
    }

    public void WriteUInt32(uint value)
    {
        Ensure(4);
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_length), value);
        _length += 4;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>Writes a string as UTF-8 followed by NUL. A NUL inside the string cannot be framed and is refused.</summary>
    public void WriteCString(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A milter string cannot contain a NUL character.", nameof(value));
        }

        var count = Encoding.UTF8.GetMaxByteCount(value.Length) + 1;
        Ensure(count);
        _length += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length));
        _buffer[_length++] = 0;
    }

    /// <summary>
    /// Writes two strings as C strings (a macro's name and value) when together they keep the packet within
    /// <see cref="MaxPayload"/>; otherwise writes neither and returns false. Encoded once: sized by what was written.
    /// </summary>
    public bool TryWriteCStringPair(string first, string second)
    {
        // A UTF-8 string has at least as many bytes as chars: a pair surely too long is refused before it is encoded,
        // so that a huge value does not grow the buffer only to be taken back.
        if ((long)CurrentPayloadLength + first.Length + second.Length + 2 > MaxPayload)
        {
            return false;
        }

        var start = _length;
        WriteCString(first);
        WriteCString(second);
        if (CurrentPayloadLength <= MaxPayload)
        {
            return true;
        }

        _length = start;
        return false;
    }

    /// <summary>Writes a header value's bytes with CRLF turned into LF (folds travel as a bare LF), then NUL.</summary>
    public void WriteHeaderValue(ReadOnlySpan<byte> value)
    {
        Ensure(value.Length + 1);
        while (!value.IsEmpty)
        {
            var crlf = value.IndexOf("\r\n"u8);
            var run = crlf < 0 ? value : value[..(crlf + 1)];
            run.CopyTo(_buffer.AsSpan(_length));
            _length += run.Length;
            if (crlf < 0)
            {
                break;
            }

            _buffer[_length - 1] = (byte)'\n'; // the CR of the CRLF becomes the LF
            value = value[(crlf + 2)..];
        }

        WriteByte(0);
    }

    /// <summary>Writes raw bytes followed by NUL.</summary>
    public void WriteCString(ReadOnlySpan<byte> value)
    {
        WriteBytes(value);
        WriteByte(0);
    }

    /// <summary>Space to write up to <paramref name="sizeHint"/> bytes directly; follow with <see cref="Advance"/>.</summary>
    public Span<byte> GetSpan(int sizeHint)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length, sizeHint);
    }

    public void Advance(int count) => _length += count;

    /// <summary>
    /// Writes everything pending in one write and empties the buffer; with <paramref name="blocking"/>
    /// synchronously (the returned task is then complete). Returns the stream's own task, so that awaiting it
    /// suspends only the caller.
    /// </summary>
    public ValueTask FlushAsync(Stream stream, bool blocking, CancellationToken cancellationToken)
    {
        if (_packetStart >= 0)
        {
            throw new InvalidOperationException("A packet is still being built.");
        }

        var length = _length;
        _length = 0;
        if (length == 0)
        {
            return ValueTask.CompletedTask;
        }

        if (blocking)
        {
            stream.Write(_buffer.AsSpan(0, length));
            return ValueTask.CompletedTask;
        }

        return stream.WriteAsync(_buffer.AsMemory(0, length), cancellationToken);
    }

    /// <summary>Forgets everything pending (the connection is being dropped).</summary>
    public void Clear()
    {
        _length = 0;
        _packetStart = -1;
    }

    private void Ensure(int count)
    {
        if (_buffer.Length - _length >= count)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + count));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
