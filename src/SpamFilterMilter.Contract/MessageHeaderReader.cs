using System.Buffers;

namespace SpamFilterMilter.Contract;

/// <summary>
/// The one reader of a raw RFC 5322 message (CRLF or LF line ends): it splits the header section into
/// <see cref="HeaderField"/>s, in order and with repeated names kept, then hands out the body. The plug-in reads the
/// message it sends to the milter with it and the host reads the message it edits with it, so "the third header field"
/// is the same field to both. Postfix's rules (<see cref="HeaderSyntax.Classify"/>): a line starting with a space or a
/// tab continues the field before it; any other line that is not <c>name:</c> (or is the empty line) ends the header
/// section and starts the body; a leading mbox <c>From </c> line is skipped. Values are the exact bytes: nothing is
/// decoded, unfolded or re-encoded. Where each field stands in the stream is told too (<see cref="FieldStart"/>,
/// <see cref="FieldEnd"/>, <see cref="SeparatorStart"/>, <see cref="BodyStart"/>), for a host that keeps the message's
/// own bytes around its edits. The caller keeps the stream.
/// </summary>
public sealed class MessageHeaderReader : IDisposable
{
    /// <summary>The longest header field (all its lines, line ends included) read; a longer one is <see cref="InvalidDataException"/>.</summary>
    public const int MaxFieldBytes = 1024 * 1024;

    private const int ChunkSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly int _maxFieldBytes;
    private byte[] _buffer;
    private int _start; // the unread bytes are _buffer[_start.._end)
    private int _end;
    private int _scanned; // bytes after _start known to hold no LF
    private long _bufferOffset; // where _buffer[0] is in the stream
    private bool _eof;
    private bool _firstLine = true;

    private string? _name; // the field being read (its lines may continue), or null
    private byte[] _value = [];
    private int _valueLength;
    private int _lastLineEnd; // 0, 1 (LF) or 2 (CRLF): the line end of the field's last line, put before a continuation

    /// <summary>Reads <paramref name="message"/> from where it stands.</summary>
    public MessageHeaderReader(Stream message)
        : this(message, MaxFieldBytes)
    {
    }

    /// <summary>
    /// Reads <paramref name="message"/> from where it stands, taking fields up to <paramref name="maxFieldBytes"/> (a caller
    /// that holds the whole message in memory may give its length: no field is then too long, as Postfix finds none).
    /// </summary>
    public MessageHeaderReader(Stream message, int maxFieldBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFieldBytes);
        _stream = message;
        _maxFieldBytes = maxFieldBytes;
        _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
    }

    /// <summary>Where the field last read starts in the stream (its name), in bytes from where reading began.</summary>
    public long FieldStart { get; private set; }

    /// <summary>
    /// How many spaces and tabs stood between the name of the field last read and its colon (<c>Subject : x</c>, obsolete
    /// syntax): they are not part of its <see cref="HeaderField.Name"/>, and Postfix's pieces of the line count them
    /// (<see cref="HeaderSyntax.CutLikePostfix(string, RawText, int)"/>).
    /// </summary>
    public int BlanksBeforeColon { get; private set; }

    /// <summary>Where the field last read ends in the stream: after the line end of its last line.</summary>
    public long FieldEnd { get; private set; }

    /// <summary>True once the header section has been read to its end.</summary>
    public bool HeaderEnded { get; private set; }

    /// <summary>Once the header ended: where the empty line that ends it starts (the body's start when there is none).</summary>
    public long SeparatorStart { get; private set; }

    /// <summary>Once the header ended: where the body starts (after the empty line, if there is one).</summary>
    public long BodyStart { get; private set; }

    /// <summary>The next header field; null at the end of the header section. Throws <see cref="InvalidDataException"/> for a field over the limit (<see cref="MaxFieldBytes"/> unless told).</summary>
    public async ValueTask<HeaderField?> ReadFieldAsync(CancellationToken cancellationToken = default)
    {
        HeaderField? field;
        while (!TryStep(out field))
        {
            var read = await _stream.ReadAsync(SpaceToFill(), cancellationToken).ConfigureAwait(false);
            Filled(read);
        }

        return field;
    }

    /// <summary>The next header field, read synchronously (for a message in memory); null at the end of the header section.</summary>
    public HeaderField? ReadField()
    {
        HeaderField? field;
        while (!TryStep(out field))
        {
            Filled(_stream.Read(SpaceToFill().Span));
        }

        return field;
    }

    /// <summary>The header fields not read yet, to the end of the header section.</summary>
    public async ValueTask<IReadOnlyList<HeaderField>> ReadFieldsAsync(CancellationToken cancellationToken = default)
    {
        var fields = new List<HeaderField>();
        while (await ReadFieldAsync(cancellationToken).ConfigureAwait(false) is { } field)
        {
            fields.Add(field);
        }

        return fields;
    }

    /// <summary>
    /// The next piece of the body, as it is (line ends and all); empty at the end of the message. Valid until the next
    /// call. Only once the header section has been read to its end (<see cref="HeaderEnded"/>).
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadBodyAsync(CancellationToken cancellationToken = default)
    {
        if (!HeaderEnded)
        {
            throw new InvalidOperationException("The body follows the header section: read the header fields to their end first.");
        }

        if (_start == _end && !_eof)
        {
            _bufferOffset += _end;
            _start = _end = _scanned = 0;
            var read = await _stream.ReadAsync(_buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            _eof = read == 0;
            _end = read;
        }

        var chunk = _buffer.AsMemory(_start, _end - _start);
        _start = _end;
        return chunk;
    }

    /// <summary>Returns the buffers.</summary>
    public void Dispose()
    {
        Return(ref _buffer);
        Return(ref _value);

        static void Return(ref byte[] array)
        {
            var rented = array;
            array = [];
            if (rented.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Reads on with the lines in the buffer, one line at a time. True with a field, or with null at the end of the
    /// header section; false when it needs more of the stream first (a line, or the line after a field that may
    /// continue it, is not all there).
    /// </summary>
    private bool TryStep(out HeaderField? field)
    {
        field = null;
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        while (!HeaderEnded)
        {
            if (!TryPeekLine(out var contentLength, out var lineLength))
            {
                if (!_eof)
                {
                    return false;
                }

                field = TakeField(); // the message ended inside the header section: no body
                if (field is null)
                {
                    End(separatorLength: 0);
                }

                return true;
            }

            var line = _buffer.AsSpan(_start, contentLength);
            if (_firstLine)
            {
                _firstLine = false;
                if (line.StartsWith("From "u8))
                {
                    Consume(lineLength); // an mbox separator line
                    continue;
                }
            }

            var kind = HeaderSyntax.Classify(line, out var colon);
            if (kind == HeaderLineKind.Continuation && _name is not null)
            {
                Append(_lastLineEnd == 2 ? "\r\n"u8 : _lastLineEnd == 1 ? "\n"u8 : default);
                Append(line);
                _lastLineEnd = lineLength - contentLength;
                Consume(lineLength);
                FieldEnd = _bufferOffset + _start;
                continue;
            }

            if (_name is not null)
            {
                field = TakeField(); // this line is not part of it: it is read next time
                return true;
            }

            switch (kind)
            {
                case HeaderLineKind.Field:
                    FieldStart = _bufferOffset + _start;
                    var name = line[..colon].TrimEnd(" \t"u8);
                    BlanksBeforeColon = colon - name.Length;
                    _name = Latin1(name); // printable ASCII: checked by Classify
                    _valueLength = 0;
                    Append(line[(colon + 1)..]);
                    _lastLineEnd = lineLength - contentLength;
                    Consume(lineLength);
                    FieldEnd = _bufferOffset + _start;
                    continue;
                case HeaderLineKind.End:
                    End(separatorLength: lineLength);
                    return true;
                default:
                    End(separatorLength: 0); // not a header field (or a fold with nothing to continue): the body starts here
                    return true;
            }
        }

        return true;
    }

    private HeaderField? TakeField()
    {
        if (_name is not { } name)
        {
            return null;
        }

        _name = null;
        return new HeaderField(name, new RawText(_value.AsSpan(0, _valueLength)));
    }

    private void End(int separatorLength)
    {
        SeparatorStart = _bufferOffset + _start;
        Consume(separatorLength);
        BodyStart = _bufferOffset + _start;
        HeaderEnded = true;
    }

    /// <summary>
    /// The line at <see cref="_start"/>: its length without the line end (a CR before the LF is part of the line end),
    /// and with it. At the end of the stream a last line without a line end counts; false when the line is not all there.
    /// </summary>
    private bool TryPeekLine(out int contentLength, out int lineLength)
    {
        var unread = _buffer.AsSpan(_start, _end - _start);
        var lf = unread[_scanned..].IndexOf((byte)'\n');
        if (lf >= 0)
        {
            lf += _scanned;
            lineLength = lf + 1;
            contentLength = lf > 0 && unread[lf - 1] == (byte)'\r' ? lf - 1 : lf;
            return true;
        }

        _scanned = unread.Length;
        if (unread.Length > _maxFieldBytes)
        {
            throw new InvalidDataException($"A header line of the message is longer than {_maxFieldBytes} bytes.");
        }

        (contentLength, lineLength) = (unread.Length, unread.Length);
        return _eof && unread.Length > 0;
    }

    private void Consume(int length)
    {
        _start += length;
        _scanned = 0;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_valueLength + bytes.Length > _maxFieldBytes)
        {
            throw new InvalidDataException($"The header field {LogText.Quote(_name)} of the message is longer than {_maxFieldBytes} bytes.");
        }

        if (_valueLength + bytes.Length > _value.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_valueLength + bytes.Length, Math.Max(256, _value.Length * 2)));
            _value.AsSpan(0, _valueLength).CopyTo(larger);
            if (_value.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_value);
            }

            _value = larger;
        }

        bytes.CopyTo(_value.AsSpan(_valueLength));
        _valueLength += bytes.Length;
    }

    /// <summary>Room after the unread bytes: moved to the front of the buffer first, the buffer doubled when they fill it.</summary>
    private Memory<byte> SpaceToFill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _bufferOffset += _start;
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(0, _end).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        return _buffer.AsMemory(_end);
    }

    private void Filled(int read)
    {
        _eof = read == 0;
        _end += read;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => System.Text.Encoding.Latin1.GetString(bytes);
}
