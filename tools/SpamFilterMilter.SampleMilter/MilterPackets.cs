using System.Buffers.Binary;
using System.Text;

namespace SpamFilterMilter.SampleMilter;

/// <summary>
/// The milter side of the framing, as small as a sample milter needs: read one command (<c>uint32 length</c>,
/// code, payload), write replies. It is the sample's own, not the plug-in's codec, on purpose: the demo then proves
/// the plug-in against an independent implementation of the other side, as the real milters in the tests do.
/// </summary>
internal sealed class MilterPackets(Stream stream) : IDisposable
{
    /// <summary>The largest command the sample accepts (libmilter's MILTER_MAX_DATA_SIZE).</summary>
    private const int MaxPayload = 65535;

    private readonly MemoryStream _replies = new();
    private readonly byte[] _header = new byte[5];

    /// <summary>The next command and its payload; null at the end of the stream. A malformed length ends the connection.</summary>
    public async ValueTask<(char Code, byte[] Payload)?> ReadAsync(CancellationToken cancellationToken)
    {
        if (!await FillAsync(_header, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        if (length is < 1 or > MaxPayload + 1)
        {
            throw new InvalidDataException($"bad command length {length}");
        }

        var payload = new byte[length - 1];
        if (!await FillAsync(payload, cancellationToken).ConfigureAwait(false))
        {
            throw new EndOfStreamException("the MTA closed the connection in the middle of a command");
        }

        return ((char)_header[4], payload);
    }

    /// <summary>A reply with no data (<c>c</c> continue, <c>d</c> discard, …).</summary>
    public void Reply(char code) => Write(code, []);

    /// <summary>A reply whose data is one NUL-terminated string (<c>y</c> reply code, <c>q</c> quarantine).</summary>
    public void Reply(char code, string text) => Write(code, [.. CString(text)]);

    /// <summary>SMFIR_ADDHEADER (<c>h</c>: name, value) or SMFIR_CHGHEADER (<c>m</c>: index, name, value).</summary>
    public void Header(char code, uint? index, string name, string value)
    {
        var data = new List<byte>();
        if (index is { } i)
        {
            var word = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(word, i);
            data.AddRange(word);
        }

        data.AddRange(CString(name));
        data.AddRange(CString(value));
        Write(code, [.. data]);
    }

    /// <summary>The OPTNEG answer: protocol 6, the given actions, every step and every reply wanted.</summary>
    public void Negotiate(uint actions)
    {
        var data = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(data, 6);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(4), actions);
        Write('O', data);
    }

    /// <summary>Sends the replies written since the last flush, in one write.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_replies.Length > 0)
        {
            await stream.WriteAsync(_replies.GetBuffer().AsMemory(0, (int)_replies.Length), cancellationToken).ConfigureAwait(false);
            _replies.SetLength(0);
        }
    }

    /// <summary>The first NUL-terminated string of a payload (the sender of MAIL, the recipient of RCPT).</summary>
    public static string FirstString(byte[] payload)
    {
        var nul = Array.IndexOf(payload, (byte)0);
        return Encoding.UTF8.GetString(payload, 0, nul < 0 ? payload.Length : nul);
    }

    private void Write(char code, byte[] data)
    {
        Span<byte> header = stackalloc byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)(data.Length + 1));
        header[4] = (byte)code;
        _replies.Write(header);
        _replies.Write(data);
    }

    public void Dispose() => _replies.Dispose();

    private static byte[] CString(string text) => [.. Encoding.UTF8.GetBytes(text), 0];

    private async ValueTask<bool> FillAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return read == 0 ? false : throw new EndOfStreamException("the MTA closed the connection in the middle of a command");
            }

            read += n;
        }

        return true;
    }
}
