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
}
