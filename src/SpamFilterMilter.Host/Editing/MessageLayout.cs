using System.Runtime.InteropServices;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// Where the parts of a message are: an mbox <c>From </c> line, each header field (all its lines, with their line
/// ends), the empty line that ends the header, and the body; read by the Contract's <see cref="MessageHeaderReader"/>,
/// the reader the plug-in sends the message to the milter with, so both count the same fields.
/// </summary>
internal readonly record struct MessageLayout(int PrefixLength, List<(HeaderField Field, int Start, int Length)> Fields, int SeparatorStart, int SeparatorLength, bool UsesLf)
{
    public int BodyStart => SeparatorStart + SeparatorLength;

    public static MessageLayout Of(ReadOnlyMemory<byte> message)
    {
        using var stream = MemoryMarshal.TryGetArray(message, out var array)
            ? new MemoryStream(array.Array!, array.Offset, array.Count, writable: false)
            : new MemoryStream(message.ToArray(), writable: false);
        using var reader = new MessageHeaderReader(stream);
        var fields = new List<(HeaderField Field, int Start, int Length)>();
        while (reader.ReadField() is { } field)
        {
            fields.Add((field, (int)reader.FieldStart, (int)(reader.FieldEnd - reader.FieldStart)));
        }

        var span = message.Span;
        var firstLf = span.IndexOf((byte)'\n');
        var usesLf = firstLf > 0 && span[firstLf - 1] != (byte)'\r';
        var separatorStart = (int)reader.SeparatorStart;
        var prefix = fields.Count > 0 ? fields[0].Start : separatorStart;
        return new MessageLayout(prefix, fields, separatorStart, (int)(reader.BodyStart - reader.SeparatorStart), usesLf);
    }
}
