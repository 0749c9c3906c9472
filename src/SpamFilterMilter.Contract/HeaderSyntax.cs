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
/// applies the filter's edits by index), for telling header lines apart. Both sides must agree, or
/// "the third header" would not be the same header.
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
    /// The fold rule for a header value (the text after the colon) that spans lines: a line break (CRLF or LF) is a
    /// fold only when a space or tab follows it; any other would not fold but start a header line of its own (or
    /// end the header section). A CR that is not part of a CRLF is a line break to some readers and not to others
    /// (<c>Subject: x\rBcc: evil@example.net</c>), and a NUL ends the value for C code: both are refused too.
    /// Returns the index of the first character that breaks the rule, or -1 when the value is safe to write.
    /// </summary>
    public static int FindBadLineBreak(ReadOnlySpan<char> value)
    {
        for (var i = value.IndexOfAny('\r', '\n', '\0'); i >= 0; i = Next(value, i))
        {
            switch (value[i])
            {
                case '\0':
                    return i;
                case '\r' when i + 1 >= value.Length || value[i + 1] != '\n':
                    return i; // a bare CR
                case '\r':
                    continue; // the CR of a CRLF: the LF decides
                default: // LF
                    if (i + 1 >= value.Length || value[i + 1] is not (' ' or '\t'))
                    {
                        return i > 0 && value[i - 1] == '\r' ? i - 1 : i;
                    }

                    break;
            }
        }

        return -1;

        static int Next(ReadOnlySpan<char> value, int after)
        {
            var next = value[(after + 1)..].IndexOfAny('\r', '\n', '\0');
            return next < 0 ? -1 : after + 1 + next;
        }
    }
}
