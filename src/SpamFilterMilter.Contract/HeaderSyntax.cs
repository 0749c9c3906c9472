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
/// cleanup follows for a milter's header; and what Postfix keeps of a client's field (<see cref="CutLikePostfix(string, RawText, int)"/>),
/// which the host delivers and the plug-in sends.
/// </summary>
public static class HeaderSyntax
{
    /// <summary>
    /// How long a header field may be when a milter is in use, name and colon included, folds counted as one LF: Postfix
    /// lowers <c>header_size_limit</c> (102,400) to 60,000 then (cleanup_message.c <c>KLUDGE_HEADER_LIMIT</c>, "so that
    /// we don't exceed the default Sendmail libmilter request size limit of 65535"), so that no SMFIC_HEADER is larger
    /// than libmilter takes.
    /// </summary>
    public const int PostfixHeaderLimit = 60_000;

    /// <summary>
    /// Postfix's <c>line_length_limit</c>: smtpd reads a line of the message in pieces of this many bytes (smtp_stream.c
    /// <c>smtp_get</c>), each a record of its own in the queue file.
    /// </summary>
    public const int PostfixLineLimit = 2_048;

    /// <summary>
    /// <paramref name="value"/> (the exact bytes after the colon, lines joined by CRLF or LF) as Postfix 3.7 keeps a
    /// client's header field <c>name:value</c>, in the message it delivers and in what its milters receive (the
    /// Postfix differential shows both). First, every piece of <see cref="PostfixLineLimit"/> bytes of a line (the first
    /// line's counted from the name) loses what follows its first NUL: the header is gathered from the queue file's
    /// records as C strings, so a NUL ends its piece and the next piece, or the next line, goes on. Then, when the field
    /// is longer than <see cref="PostfixHeaderLimit"/>, it is cut as cleanup_out.c <c>cleanup_out_header</c> cuts it: at
    /// the start of its first line that would end past the limit when that line starts past 90% of it ("nice cut":
    /// whole lines kept, the line break before the cut dropped), else at the limit itself ("unkind cut"). The lines kept
    /// keep their line ends. A value with neither a NUL nor too many bytes is returned as it is; so is a result, again.
    /// For a field written with blanks between its name and its colon, see
    /// <see cref="CutLikePostfix(string, RawText, int)"/>; here there are none.
    /// </summary>
    public static RawText CutLikePostfix(string name, RawText value) => CutLikePostfix(name, value, 0);

    /// <summary>
    /// <see cref="CutLikePostfix(string, RawText)"/> for a field written with <paramref name="blanksBeforeColon"/> spaces
    /// or tabs between its name and its colon (<c>Subject : x</c>, obsolete syntax; <see cref="MessageHeaderReader.BlanksBeforeColon"/>):
    /// smtpd's pieces are of the line as it came, so they count the blanks, while cleanup takes the blanks out before it
    /// adds the field's lines up (mime_state.c, "Normalize obsolete 'name space colon' syntax to 'name colon'"), so the
    /// 60,000 bytes do not.
    /// </summary>
    public static RawText CutLikePostfix(string name, RawText value, int blanksBeforeColon)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegative(blanksBeforeColon);
        var prefix = System.Text.Encoding.Latin1.GetByteCount(name) + 1; // "name:" starts Postfix's header buffer
        var bytes = value.Span;
        if (bytes.IndexOf((byte)0) < 0 && prefix + bytes.Length <= PostfixHeaderLimit)
        {
            return value; // the LF form is never longer than the bytes as they are
        }

        // The lines without what follows a NUL in each piece, counted in the LF form Postfix cuts.
        var output = new List<byte>(bytes.Length);
        var counted = prefix; // where Postfix's buffer stands: "name:" then the lines joined by one LF
        var end = -1; // the byte of output where the field ends, once cut
        var previousLineEnd = 0; // the length of the line end before the current line: 0 (first line), 1 (LF) or 2 (CRLF)
        for (var start = 0; ;)
        {
            var lf = bytes[start..].IndexOf((byte)'\n');
            var lineEnd = lf < 0 ? 0 : lf > 0 && bytes[start + lf - 1] == (byte)'\r' ? 2 : 1;
            var line = lf < 0 ? bytes[start..] : bytes.Slice(start, lf + 1 - lineEnd);
            var lineStart = counted;
            var outputStart = output.Count;
            var offset = start == 0 ? prefix + blanksBeforeColon : 0; // where the text starts in smtpd's line: the first line starts with the name
            for (var piece = 0; piece < line.Length;)
            {
                var size = Math.Min(line.Length - piece, PostfixLineLimit - ((offset + piece) % PostfixLineLimit));
                var text = line.Slice(piece, size);
                var nul = text.IndexOf((byte)0);
                foreach (var b in nul < 0 ? text : text[..nul])
                {
                    output.Add(b);
                }

                piece += size;
            }

            counted += output.Count - outputStart;
            if (end < 0 && counted > PostfixHeaderLimit)
            {
                end = lineStart > 0.9 * PostfixHeaderLimit
                    ? outputStart - previousLineEnd // nice cut: the lines before, without the line break before this one
                    : outputStart + (PostfixHeaderLimit - lineStart); // unkind cut
            }

            if (lf < 0 || end >= 0)
            {
                break;
            }

            output.AddRange(lineEnd == 2 ? "\r\n"u8 : "\n"u8);
            previousLineEnd = lineEnd;
            counted++; // the fold counts as one LF
            start += lf + 1;
        }

        var result = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output);
        return new RawText(end < 0 ? result : result[..Math.Max(0, end)]);
    }

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

    /// <summary>A field's name alone, as a configuration names one: RFC 5322 ftext (printable ASCII but colon), no blanks.</summary>
    public static bool IsBareFieldName(string name) =>
        !string.IsNullOrEmpty(name) && !name.Contains(':', StringComparison.Ordinal) && !name.AsSpan().ContainsAnyExceptInRange('!', '~');

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
