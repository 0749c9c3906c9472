using System.Buffers;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Plugin;

/// <summary>One header field as it stands in the message: its name and the raw text after the colon.</summary>
internal readonly record struct RawHeader(string Name, string Value);

/// <summary>
/// Splits a raw RFC 5322 message (CRLF or LF line ends) into header fields, in order and with repeated
/// names kept, then hands out the body in chunks straight from its buffer. Folded lines stay part of
/// their field (joined by CRLF). A leading mbox "From " line is skipped. A line that cannot be a
/// header field ends the header section and starts the body, as in Postfix.
/// </summary>
internal sealed class MessageReader : IDisposable
{
    private const int ChunkSize = 64 * 1024;
    private const int MaxHeaderLineBytes = 1024 * 1024;

    private readonly Stream _stream;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;

    public MessageReader(Stream stream)
    {
        _stream = stream;
        _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
    }

    /// <summary>Reads the header section; afterwards <see cref="ReadBodyAsync"/> returns the body.</summary>
    public async ValueTask<List<RawHeader>> ReadHeadersAsync(CancellationToken cancellationToken)
    {
        var headers = new List<RawHeader>();
        string? name = null;
        System.Text.StringBuilder? value = null;
        var first = true;
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is not { } range)
            {
                break; // end of message inside the header section: no body
            }

            var text = _buffer.AsSpan(range.Start, range.Length);
            if (first && text.StartsWith("From "u8))
            {
                first = false;
                continue; // an mbox separator line
            }

            first = false;
            var kind = HeaderSyntax.Classify(text, out var colon);
            if (kind == HeaderLineKind.End)
            {
                break; // the blank line: the body follows
            }

            if (kind == HeaderLineKind.Continuation && value is not null)
            {
                value.Append("\r\n").Append(PayloadReader.Decode(text));
                continue;
            }

            if (kind != HeaderLineKind.Field)
            {
                _start = range.Start; // not a header field (or a fold with nothing to continue): the body starts here
                break;
            }

            if (name is not null)
            {
                headers.Add(new RawHeader(name, value!.ToString()));
            }

            name = PayloadReader.Decode(text[..colon].TrimEnd(" \t"u8));
            value = new System.Text.StringBuilder(PayloadReader.Decode(text[(colon + 1)..]));
        }

        if (name is not null)
        {
            headers.Add(new RawHeader(name, value!.ToString()));
        }

        return headers;
    }

    /// <summary>The next piece of the body, empty at the end. Valid until the next call.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadBodyAsync(CancellationToken cancellationToken)
    {
        if (_start == _end && !_eof)
        {
            _start = _end = 0;
            var read = await _stream.ReadAsync(_buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            _eof = read == 0;
            _end = read;
        }

        var chunk = _buffer.AsMemory(_start, _end - _start);
        _start = _end;
        return chunk;
    }

    /// <summary>The next line without its CR LF, as a range of the buffer; null at the end of the stream.</summary>
    private async ValueTask<(int Start, int Length)?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var scanned = 0;
        while (true)
        {
            var lf = _buffer.AsSpan(_start + scanned, _end - _start - scanned).IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var length = scanned + lf;
                var start = _start;
                _start += length + 1;
                if (length > 0 && _buffer[start + length - 1] == (byte)'\r')
                {
                    length--;
                }

                return (start, length);
            }

            scanned = _end - _start;
            if (_eof)
            {
                if (scanned == 0)
                {
                    return null;
                }

                var start = _start; // a last line without a line end
                _start = _end;
                return (start, scanned);
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= MaxHeaderLineBytes)
            {
                throw new InvalidDataException($"A header line of the message is longer than {MaxHeaderLineBytes} bytes.");
            }

            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            _buffer.AsSpan(0, _end).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        _eof = read == 0;
        _end += read;
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
