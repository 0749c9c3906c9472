using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>One packet received from the milter. The payload is valid until the next read.</summary>
internal readonly struct Frame(MilterReply code, ReadOnlyMemory<byte> payload)
{
    public MilterReply Code { get; } = code;

    /// <summary>The code read as a command (the milter side reads commands with the same framing).</summary>
    public MilterCommand Command => (MilterCommand)(byte)Code;

    public ReadOnlyMemory<byte> Payload { get; } = payload;
}

/// <summary>
/// Reads milter packets exactly, whatever the TCP segmentation: <c>uint32 length</c> (network order,
/// counting the code byte), one code byte, <c>length - 1</c> payload bytes. The length is checked
/// against the limit before anything is allocated; a length of 0 and end of stream inside a packet
/// are protocol errors. Buffers are pooled and reused for the life of the connection.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private const int HeaderSize = 5; // uint32 length + code byte
    private const int InitialBufferSize = 4096;

    private readonly Stream _stream;
    private readonly IConnectionControl? _control;
    private byte[] _buffer;
    private int _start;
    private int _end;

    // The packet being read: when it must be complete (blocking mode), and how many reads it took so far.
    private Deadline _deadline;
    private int _reads;
    private int _needed = HeaderSize; // bytes from _start the packet under way needs, as far as its header tells

    /// <param name="stream">Where the packets come from.</param>
    /// <param name="maxPayload">The largest payload accepted.</param>
    /// <param name="control">The connection's controls: in blocking mode each further read of one packet gets only what is left of its bound.</param>
    public FrameReader(Stream stream, int maxPayload, IConnectionControl? control = null)
    {
        _stream = stream;
        _control = control;
        MaxPayload = maxPayload;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    }

    /// <summary>The largest payload accepted; anything longer fails before allocation.</summary>
    public int MaxPayload { get; set; }

    /// <summary>Bytes already received beyond the frames returned so far (a well-behaved milter leaves none between replies).</summary>
    public int BufferedCount => _end - _start;

    /// <summary>
    /// Reads the next packet. <paramref name="stage"/> and <paramref name="step"/> name what the packet answers,
    /// for error messages (<c>SMFIC_BODYEOB reply</c>). With <paramref name="blocking"/> the stream is read synchronously
    /// (the returned task is then complete) and the whole packet must arrive within <paramref name="bound"/>, however
    /// it is cut: the socket's read timeout restarts with every read, so each further read gets only what is left
    /// (a milter sending a byte at a time cannot stretch the wait); a timeout surfaces as <see cref="TimeoutException"/>.
    /// Asynchronously <paramref name="cancellationToken"/> bounds the whole packet. The same steps as a caller that
    /// reads in its own loop takes (<see cref="Begin"/>, <see cref="TryTake"/>, <see cref="Receive"/> or
    /// <see cref="ReceiveAsync"/>, <see cref="Received"/>).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<Frame> ReadAsync(FilterStage stage, string step, bool blocking, CancellationToken cancellationToken, TimeSpan bound = default)
    {
        Begin(blocking, bound);
        Frame frame;
        while (!TryTake(stage, step, out frame))
        {
            int read;
            try
            {
                read = blocking ? Receive() : await ReceiveAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e) when (e is not MilterProtocolException)
            {
                throw ReadFailed(e, stage, step);
            }

            Received(read, stage, step);
        }

        return frame;
    }

    /// <summary>
    /// Starts reading one packet. With <paramref name="blocking"/> and a <paramref name="bound"/>, the whole packet must
    /// arrive within it (<see cref="Receive"/>).
    /// </summary>
    public void Begin(bool blocking, TimeSpan bound)
    {
        _reads = 0;
        if (blocking && bound > TimeSpan.Zero)
        {
            _deadline = Deadline.After(bound);
        }
    }

    /// <summary>
    /// Takes the next packet when it is whole in the buffer. Its length is checked as soon as its header is here, before
    /// anything is allocated for it; false means more must be received (<see cref="Receive"/> or <see cref="ReceiveAsync"/>).
    /// </summary>
    public bool TryTake(FilterStage stage, string step, out Frame frame)
    {
        frame = default;
        var buffered = _end - _start;
        if (buffered < HeaderSize)
        {
            _needed = HeaderSize;
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start, 4));
        if (length < 1)
        {
            throw new MilterProtocolException(MilterFailureKind.Malformed, stage, step, "bad packet length 0 (a packet holds at least its code byte)");
        }

        var payloadLength = length - 1;
        if (payloadLength > (uint)MaxPayload)
        {
            throw new MilterProtocolException(MilterFailureKind.Malformed, stage, step,
                $"unreasonable packet length {length} (limit {MaxPayload + 1}){DescribeIfText()}");
        }

        var frameSize = HeaderSize + (int)payloadLength;
        if (buffered < frameSize)
        {
            _needed = frameSize;
            return false;
        }

        var code = (MilterReply)_buffer[_start + 4];
        frame = new Frame(code, new ReadOnlyMemory<byte>(_buffer, _start + HeaderSize, (int)payloadLength));
        _start += frameSize;
        if (_start == _end)
        {
            _start = _end = 0;
        }

        return true;
    }

    /// <summary>
    /// One asynchronous read towards the packet <see cref="TryTake"/> found incomplete: the stream's own task, so that
    /// a caller awaiting it suspends only itself. Pass its result to <see cref="Received"/>, an I/O error to <see cref="ReadFailed"/>.
    /// </summary>
    public ValueTask<int> ReceiveAsync(CancellationToken cancellationToken)
    {
        MakeRoom();
        return _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
    }

    /// <summary>
    /// One blocking read towards the packet <see cref="TryTake"/> found incomplete, bounded by what is left of the
    /// packet's bound (<see cref="Begin"/>). Pass its result to <see cref="Received"/>, an I/O error to <see cref="ReadFailed"/>.
    /// </summary>
    public int Receive()
    {
        MakeRoom();
        if (_reads++ > 0 && _control is not null)
        {
            var left = _deadline.Remaining;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"can't read {What}: the packet did not arrive whole in time");
            }

            _control.SetBlockingTimeout(left);
        }

        return _stream.Read(_buffer.AsSpan(_end));
    }

    /// <summary>
    /// A read's I/O error as what it means: a socket timeout (SO_RCVTIMEO, blocking mode) as a <see cref="TimeoutException"/>,
    /// anything else as the network failure it is.
    /// </summary>
    public Exception ReadFailed(IOException e, FilterStage stage, string step) =>
        e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.TimedOut or System.Net.Sockets.SocketError.WouldBlock }
            ? new TimeoutException($"can't read {What}", e)
            : new MilterProtocolException(MilterFailureKind.Network, stage, step, $"can't read {What}: {e.InnerException?.Message ?? e.Message}", e);

    /// <summary>Takes <paramref name="read"/> bytes just received into the buffer; 0, the end of the stream, fails the packet.</summary>
    public void Received(int read, FilterStage stage, string step)
    {
        if (read == 0)
        {
            var cause = _end == _start
                ? $"can't read {What}: the milter closed the connection"
                : $"can't read {What}: the milter closed the connection in the middle of a packet ({_end - _start} of {_needed} bytes)";
            throw new MilterProtocolException(MilterFailureKind.Closed, stage, step, cause);
        }

        _end += read;
    }

    private string What => _needed == HeaderSize ? "packet header" : "packet payload";

    /// <summary>Room for the <c>_needed</c> bytes of the packet under way: compacts, then grows only if the (already validated) packet still does not fit.</summary>
    private void MakeRoom()
    {
        if (_buffer.Length - _start >= _needed)
        {
            return;
        }

        var buffered = _end - _start;
        if (_buffer.Length < _needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(_needed);
            _buffer.AsSpan(_start, buffered).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        else
        {
            _buffer.AsSpan(_start, buffered).CopyTo(_buffer);
        }

        _start = 0;
        _end = buffered;
    }

    /// <summary>
    /// A milter port that is not a milter answers with text; the length then reads as ASCII (e.g.
    /// "UNKN" = 1431194446). Say so, because that is the real cause.
    /// </summary>
    private string DescribeIfText()
    {
        var span = _buffer.AsSpan(_start, Math.Min(4, _end - _start));
        foreach (var b in span)
        {
            if (b is < 0x20 or >= 0x7F)
            {
                return string.Empty;
            }
        }

        return $"; the bytes read as text \"{System.Text.Encoding.ASCII.GetString(span)}\": is this port really a milter?";
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
