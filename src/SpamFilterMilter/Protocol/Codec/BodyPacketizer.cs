using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// Cuts body bytes into SMFIC_BODY packets of exactly the largest size the milter accepts (the last one
/// shorter), straight into the packet writer's buffer, bare LF becoming CRLF on the way (and a last line without a
/// line end ended, <see cref="OwesLineEnd"/>); a CRLF may be split
/// between packets, as sendmail does. Nothing is allocated per chunk. One per message.
/// </summary>
internal sealed class BodyPacketizer
{
    private bool _lastByteWasCr;
    private bool _endsLine = true; // nothing written yet, or the last byte written was LF

    /// <summary>
    /// True when body bytes were written and the last was not LF: the body's last line has no line end yet. Postfix
    /// sends every body line with CRLF, the last one too (milter8.c <c>milter8_body</c>: each queue file line, then
    /// "\r\n"), so the session writes the missing CRLF before the end of the message.
    /// </summary>
    public bool OwesLineEnd => !_endsLine;

    /// <summary>True while a body packet is being filled.</summary>
    public bool IsOpen { get; private set; }

    /// <summary>Forgets the previous message.</summary>
    public void Reset()
    {
        IsOpen = false;
        _lastByteWasCr = false;
        _endsLine = true;
    }

    /// <summary>
    /// Copies as much of <paramref name="input"/> as fits into the open packet (opening one when none is), and
    /// returns the input bytes consumed. When <see cref="IsFull"/> afterwards, the caller sends the packet.
    /// </summary>
    public int Fill(PacketWriter writer, ReadOnlySpan<byte> input)
    {
        if (!IsOpen)
        {
            writer.Begin(MilterCommand.Body);
            IsOpen = true;
        }

        var room = writer.MaxPayload - writer.CurrentPayloadLength;
        var consumed = 0;
        while (consumed < input.Length && room > 0)
        {
            var rest = input[consumed..];
            var lf = rest.IndexOf((byte)'\n');
            var run = lf < 0 ? rest.Length : lf;
            if (run > 0)
            {
                var n = Math.Min(run, room);
                writer.WriteBytes(rest[..n]);
                _lastByteWasCr = rest[n - 1] == (byte)'\r';
                _endsLine = false;
                consumed += n;
                room -= n;
                continue;
            }

            // rest[0] is LF: write it, with the CR it lacks (the CR may end this packet and the LF start the next).
            if (!_lastByteWasCr)
            {
                writer.WriteByte((byte)'\r');
                _lastByteWasCr = true;
                _endsLine = false;
                room--;
                if (room == 0)
                {
                    break;
                }
            }

            writer.WriteByte((byte)'\n');
            _lastByteWasCr = false;
            _endsLine = true;
            consumed++;
            room--;
        }

        return consumed;
    }

    /// <summary>True when the open packet holds as much as the milter accepts.</summary>
    public bool IsFull(PacketWriter writer) => IsOpen && writer.CurrentPayloadLength == writer.MaxPayload;

    /// <summary>Ends the open packet; it is then ready to send.</summary>
    public void Close(PacketWriter writer)
    {
        writer.End();
        IsOpen = false;
    }

    /// <summary>Drops the open packet (the message was abandoned).</summary>
    public void Cancel(PacketWriter writer)
    {
        if (IsOpen)
        {
            writer.Cancel();
            IsOpen = false;
        }
    }
}
