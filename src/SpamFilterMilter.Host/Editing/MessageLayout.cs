using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// Where the parts of a message are: an mbox <c>From </c> line, each header field (all its lines, with
/// their line ends), the empty line that ends the header, and the body. The same rule as the plug-in's
/// reader (<see cref="HeaderSyntax"/>): folded lines belong to their field; a line that cannot be a field
/// starts the body.
/// </summary>
internal readonly record struct MessageLayout(int PrefixLength, List<(string Name, int Start, int Length)> Fields, int SeparatorStart, int SeparatorLength, bool UsesLf)
{
    public int BodyStart => SeparatorStart + SeparatorLength;

    public static MessageLayout Of(ReadOnlySpan<byte> message)
    {
        var fields = new List<(string Name, int Start, int Length)>();
        var firstLf = message.IndexOf((byte)'\n');
        var usesLf = firstLf > 0 && message[firstLf - 1] != (byte)'\r';
        var position = 0;
        if (message.StartsWith("From "u8))
        {
            position = firstLf < 0 ? message.Length : firstLf + 1; // an mbox separator line is kept as it was
        }

        var prefix = position;
        while (position < message.Length)
        {
            var rest = message[position..];
            var lineEnd = rest.IndexOf((byte)'\n');
            var lineLength = lineEnd < 0 ? rest.Length : lineEnd + 1;
            var content = rest[..lineLength].TrimEnd("\r\n"u8);
            var kind = HeaderSyntax.Classify(content, out var colon);
            if (kind == HeaderLineKind.End)
            {
                return new MessageLayout(prefix, fields, position, lineLength, usesLf);
            }

            if (kind == HeaderLineKind.Continuation && fields.Count > 0)
            {
                var last = fields[^1];
                fields[^1] = last with { Length = last.Length + lineLength };
                position += lineLength;
                continue;
            }

            if (kind != HeaderLineKind.Field)
            {
                break; // the body starts here, without a blank line
            }

            fields.Add((Encoding.UTF8.GetString(content[..colon].TrimEnd(" \t"u8)), position, lineLength));
            position += lineLength;
        }

        return new MessageLayout(prefix, fields, position, 0, usesLf);
    }
}
