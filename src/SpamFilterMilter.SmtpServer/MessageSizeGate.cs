using System.Buffers;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// Reads one message after the 354, as the client sends it, in place of SmtpServer: finds its final dot, undoes its dot
/// stuffing and keeps it, up to <see cref="Limit"/> bytes; past that it counts and drops the rest, so that a message
/// over the limit is read to its end (and answered 552, as Postfix answers it) with no more than the limit held.
/// <para>
/// It reads as SmtpServer 11.1.0's <c>ReadDotBlockAsync</c> reads, so that a message under the limit is the same either
/// way: the message ends at the first CR LF "." CR LF (a lone dot right after DATA does not end it), and a doubled dot
/// after a CR LF loses one dot (that of the first line keeps both). The CR LF before the final dot is not the message's.
/// </para>
/// </summary>
internal sealed class MessageSizeGate(long limit)
{
    private const int FirstChunkSize = 4 * 1024;
    private const int ChunkSize = 64 * 1024;

    private readonly List<byte[]> _chunks = [];
    private int _lastChunkLength;
    private long _kept; // bytes in _chunks
    private int _held; // bytes of "\r\n.\r" seen and not yet written: 0 to 4 of them
    private long _size; // the message's bytes so far, without its final CR LF: past the limit, nothing more is kept

    /// <summary>The most the message may have, its last CR LF counted (SmtpServer's <c>MaxMessageSize</c>).</summary>
    public long Limit { get; } = limit;

    /// <summary>The message's size as it is stored, its last CR LF counted (the message SmtpServer gives ends without it).</summary>
    public long Size => _size + 2;

    /// <summary>True when the message has more than <see cref="Limit"/> bytes: nothing of it is kept.</summary>
    public bool IsTooLarge => Size > Limit;

    /// <summary>The bytes kept now: never more than <see cref="Limit"/>.</summary>
    public long Held => _kept;

    /// <summary>
    /// Reads <paramref name="buffer"/>, the client's next bytes: the position just past the final dot's CR LF when it is
    /// among them (what follows is the client's next command), else null (all of them taken).
    /// </summary>
    public SequencePosition? Read(ReadOnlySequence<byte> buffer)
    {
        var consumed = 0L;
        foreach (var segment in buffer)
        {
            var span = segment.Span;
            for (var i = 0; i < span.Length; i++)
            {
                if (_held == 0)
                {
                    // The common case: up to the next CR, all of it the message's.
                    var cr = span[i..].IndexOf((byte)'\r');
                    var end = cr < 0 ? span.Length : i + cr;
                    Write(span[i..end]);
                    if (cr < 0)
                    {
                        break;
                    }

                    i = end;
                }

                if (Step(span[i]))
                {
                    return buffer.GetPosition(consumed + i + 1);
                }
            }

            consumed += span.Length;
        }

        return null;
    }

    /// <summary>The message's bytes as SmtpServer would give them: without the final dot and the CR LF before it.</summary>
    public ReadOnlySequence<byte> Content()
    {
        if (_chunks.Count == 0 || IsTooLarge)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (_chunks.Count == 1)
        {
            return new ReadOnlySequence<byte>(_chunks[0], 0, _lastChunkLength);
        }

        var first = new Chunk(_chunks[0], _chunks[0].Length);
        var last = first;
        for (var i = 1; i < _chunks.Count; i++)
        {
            last = last.Append(_chunks[i], i == _chunks.Count - 1 ? _lastChunkLength : _chunks[i].Length);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>One byte of "\r\n.\r\n" or after a part of it (<see cref="_held"/> of it seen): true at the final dot's LF.</summary>
    private bool Step(byte b)
    {
        switch (_held, b)
        {
            case (0, (byte)'\r'):
            case (1, (byte)'\n'):
            case (2, (byte)'.'):
            case (3, (byte)'\r'):
                _held++;
                return false;
            case (4, (byte)'\n'):
                _held = 0;
                return true;
            case (3, (byte)'.'):
                Write("\r\n."u8); // a doubled dot after CR LF: one of them is the client's stuffing
                _held = 0;
                return false;
            case (_, (byte)'\r'):
                // What was held is the message's; this CR may start the final dot's CR LF.
                Write("\r\n.\r"u8[.._held]);
                _held = 1;
                return false;
            default:
                Write("\r\n.\r"u8[.._held]);
                Write([b]);
                _held = 0;
                return false;
        }
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        _size += bytes.Length;
        if (bytes.IsEmpty)
        {
            return;
        }

        if (IsTooLarge)
        {
            // Too large, whatever comes after (the size only grows): what was kept goes, the rest is only counted.
            _chunks.Clear();
            (_lastChunkLength, _kept) = (0, 0);
            return;
        }

        while (!bytes.IsEmpty)
        {
            if (_chunks.Count == 0 || _lastChunkLength == _chunks[^1].Length)
            {
                // Small for a small message, larger as it grows; never past the limit.
                _chunks.Add(new byte[(int)Math.Min(Math.Clamp(_kept, FirstChunkSize, ChunkSize), Limit - _kept)]);
                _lastChunkLength = 0;
            }

            var chunk = _chunks[^1];
            var n = Math.Min(bytes.Length, chunk.Length - _lastChunkLength);
            bytes[..n].CopyTo(chunk.AsSpan(_lastChunkLength));
            _lastChunkLength += n;
            _kept += n;
            bytes = bytes[n..];
        }
    }

    private sealed class Chunk : ReadOnlySequenceSegment<byte>
    {
        public Chunk(byte[] bytes, int length) => Memory = bytes.AsMemory(0, length);

        public Chunk Append(byte[] bytes, int length)
        {
            var next = new Chunk(bytes, length) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
