namespace SpamFilterMilter.Contract;

/// <summary>What one line of a message's header section is.</summary>
public enum HeaderLineKind
{
    /// <summary>A new header field: <c>Name:</c> then the value.</summary>
    Field,

    /// <summary>A folded line (starts with space or tab): part of the field before it.</summary>
    Continuation,

    /// <summary>The empty line that ends the header section.</summary>
    End,

    /// <summary>Cannot be part of a header section: the body starts here (Postfix treats it so).</summary>
    NotAField,
}

/// <summary>
/// The one rule, shared by the plug-in (which sends header fields to the filter) and the host (which
/// applies the filter's edits by index), for telling header lines apart (<see cref="MessageHeaderReader"/>
/// reads with it). Both sides must agree, or "the third header" would not be the same header. And the rule
/// for the fields an edit writes (<see cref="WriteField"/>, <see cref="FindUnsafeByte"/>), which Postfix's
/// cleanup follows for a milter's header.
/// </summary>
public static class HeaderSyntax
{
    /// <summary>
    /// Classifies <paramref name="line"/> (without its line end). For a field, <paramref name="colon"/>
    /// is the index of the colon; the name is the text before it, without trailing blanks.
    /// </summary>
    public static HeaderLineKind Classify(ReadOnlySpan<byte> line, out int colon)
    {
        colon = -1;
        if (line.IsEmpty)
        {
            return HeaderLineKind.End;
        }

        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return HeaderLineKind.Continuation;
        }

        colon = line.IndexOf((byte)':');
        return colon > 0 && IsFieldName(line[..colon]) ? HeaderLineKind.Field : HeaderLineKind.NotAField;
    }

    /// <summary>RFC 5322 ftext (printable ASCII but colon), with the obsolete blanks before the colon allowed.</summary>
    public static bool IsFieldName(ReadOnlySpan<byte> name)
    {
        var trimmed = name.TrimEnd(" \t"u8);
        if (trimmed.IsEmpty)
        {
            return false;
        }

        foreach (var b in trimmed)
        {
            if (b is < 33 or > 126)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The bytes a header value (the exact text after the colon) that an edit writes may not hold, whoever made the edit:
    /// a CR that is not part of a CRLF is a line break to some readers and not to others (<c>Subject: x\rBcc:
    /// evil@example.net</c>), and a NUL ends the value for C code. Line breaks (LF, or CRLF) are safe: they separate the
    /// value's lines, and <see cref="WriteField"/> makes every line after the first a continuation. Returns the index of
    /// the first unsafe byte (for a bare CR, of the CR), or -1 when the value is safe to write.
    /// </summary>
    public static int FindUnsafeByte(ReadOnlySpan<byte> value)
    {
        for (var i = value.IndexOfAny((byte)'\r', (byte)'\0'); i >= 0; i = Next(value, i))
        {
            if (value[i] == 0 || i + 1 >= value.Length || value[i + 1] != (byte)'\n')
            {
                return i;
            }
        }

        return -1;

        static int Next(ReadOnlySpan<byte> value, int after)
        {
            var next = value[(after + 1)..].IndexOfAny((byte)'\r', (byte)'\0');
            return next < 0 ? -1 : after + 1 + next;
        }
    }

    /// <summary>
    /// A header field as an edit writes it into a message, the way Postfix writes a milter's header (cleanup_out_header):
    /// <paramref name="name"/>, the colon, then <paramref name="value"/> (the exact text after the colon, so no space is
    /// added here) line by line. Each LF, with the CR of a CRLF, becomes <paramref name="lineEnd"/>, and a line after the
    /// first that does not start with a space or a tab gets a tab in front: it folds, and never starts a header line of
    /// its own or ends the header section. The field ends with <paramref name="lineEnd"/>. Everything else is written
    /// byte for byte, 8-bit bytes included. <paramref name="name"/> must be a field name (<see cref="IsFieldName"/>) and
    /// <paramref name="value"/> hold no unsafe byte (<see cref="FindUnsafeByte"/>).
    /// </summary>
    public static byte[] WriteField(string name, ReadOnlySpan<byte> value, ReadOnlySpan<byte> lineEnd)
    {
        ArgumentNullException.ThrowIfNull(name);
        var lines = value.Count((byte)'\n') + 1;
        var field = new byte[name.Length + 1 + value.Length + lines * (lineEnd.Length + 1)];
        var written = System.Text.Encoding.Latin1.GetBytes(name, field);
        field[written++] = (byte)':';
        var first = true;
        while (true)
        {
            var lf = value.IndexOf((byte)'\n');
            var line = lf < 0 ? value : value[..lf];
            if (lf >= 0 && line.EndsWith("\r"u8))
            {
                line = line[..^1];
            }

            if (!first && (line.IsEmpty || line[0] is not ((byte)' ' or (byte)'\t')))
            {
                field[written++] = (byte)'\t';
            }

            line.CopyTo(field.AsSpan(written));
            written += line.Length;
            lineEnd.CopyTo(field.AsSpan(written));
            written += lineEnd.Length;
            if (lf < 0)
            {
                return field[..written];
            }

            value = value[(lf + 1)..];
            first = false;
        }
    }
}
