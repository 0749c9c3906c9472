using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// A message as Postfix 3.7 stores what a client sent after DATA, before its milters see it and before it is delivered:
/// the changes its smtpd makes as it reads the lines, and those its cleanup makes to them (each proved by the Postfix
/// differential, docs/postfix-differential.md). The host filters and delivers this, as Postfix does.
/// </summary>
internal static class PostfixStore
{
    /// <summary>
    /// The message (from <paramref name="start"/> in <paramref name="whole"/>, after the server's own trace field) as
    /// Postfix stores it: its line ends (<see cref="WithLineEndsAsRead"/>), its mbox lines (<see cref="WithMailboxLines"/>),
    /// then its header fields (<see cref="WithFieldsAsKept"/>, less <paramref name="droppedFields"/>). The same array when
    /// nothing changes.
    /// </summary>
    public static byte[] AsStored(byte[] whole, int start, IReadOnlyCollection<string> droppedFields) =>
        WithFieldsAsKept(WithMailboxLines(WithLineEndsAsRead(whole, start), start), start, droppedFields);

    /// <summary>
    /// Postfix's <c>message_drop_headers</c> default (Postfix 3.0 on): the fields its cleanup removes from a message's own
    /// header section before its milters see it and before it is delivered. A client's <c>Bcc:</c> would tell every
    /// recipient who else got the message, a <c>Return-Path:</c> or a <c>Content-Length:</c> would be taken for the ones a
    /// delivery writes (mbox readers split messages by the length).
    /// </summary>
    public static IReadOnlyList<string> DefaultDroppedFields { get; } = ["Bcc", "Content-Length", "Resent-Bcc", "Return-Path"];

    /// <summary>
    /// The CRs of each line as Postfix keeps them. smtpd reads a line in pieces of <see cref="HeaderSyntax.PostfixLineLimit"/>
    /// bytes and drops the CRs at the end of the piece its LF ends (smtp_stream.c <c>smtp_get</c>: "We remove bare CR if
    /// received before CRLF"; a CRLF split between two pieces is joined first); every other CR, a stray one, becomes a
    /// space in cleanup (<c>cleanup_replace_stray_cr_lf = yes</c>, Postfix 3.7.10 on). The line keeps CRLF as its end
    /// when it had a CR before its LF, else LF. A last line without LF is read up to the end of DATA's CRLF, so its CRs
    /// at the end go too. Lines (and the trace field before <paramref name="start"/>) with no stray CR are left as they
    /// are: a message whose every CR ends a line is returned as it came (the same array).
    /// </summary>
    public static byte[] WithLineEndsAsRead(byte[] whole, int start)
    {
        if (!HasStrayCr(whole.AsSpan(start)))
        {
            return whole;
        }

        var output = new byte[whole.Length];
        whole.AsSpan(0, start).CopyTo(output);
        var written = start;
        for (var position = start; position < whole.Length;)
        {
            var rest = whole.AsSpan(position);
            var lf = rest.IndexOf((byte)'\n');
            var length = lf < 0 ? rest.Length : lf; // where the line's LF is (or would be, at the end of DATA)
            var pieceStart = length / HeaderSyntax.PostfixLineLimit * HeaderSyntax.PostfixLineLimit;
            if (pieceStart > 0 && pieceStart == length && rest[length - 1] == (byte)'\r')
            {
                pieceStart -= HeaderSyntax.PostfixLineLimit; // the CRLF split between two pieces: smtp_get joins them
            }

            var content = rest[..length];
            while (content.Length > pieceStart && content[^1] == (byte)'\r')
            {
                content = content[..^1];
            }

            content.CopyTo(output.AsSpan(written));
            output.AsSpan(written, content.Length).Replace((byte)'\r', (byte)' ');
            written += content.Length;
            if (lf < 0)
            {
                break;
            }

            if (length > 0 && rest[length - 1] == (byte)'\r')
            {
                output[written++] = (byte)'\r';
            }

            output[written++] = (byte)'\n';
            position += lf + 1;
        }

        return output[..written];
    }

    /// <summary>
    /// The mbox lines as Postfix's smtpd stores them (smtpd/smtpd.c, smtpd_data, the loop over the content's lines): each
    /// leading line that starts with <c>From </c> (after any <c>&gt;</c>s), an mbox separator, becomes a header field
    /// <c>X-Mailbox-Line: From …</c>; and when the first line after them starts with a space or a tab an empty line goes
    /// before it, "so that it won't be considered as being part of our own Received: header": the message then has no
    /// header field of its own and all of it is body, to the milter and in the delivered message (without a trace field
    /// nor mbox lines there is no field for it to continue, and no empty line is needed). Else the message is left as it
    /// came (the same array).
    /// </summary>
    public static byte[] WithMailboxLines(byte[] whole, int start)
    {
        var mailboxLines = new List<int>();
        var position = start;
        while (position < whole.Length)
        {
            var line = whole.AsSpan(position);
            var text = line.TrimStart((byte)'>');
            if (!text.StartsWith("From "u8))
            {
                break;
            }

            mailboxLines.Add(position);
            var lf = line.IndexOf((byte)'\n');
            position = lf < 0 ? whole.Length : position + lf + 1;
        }

        // Only when there is a field above it to continue (the trace field, an X-Mailbox-Line): else it is the body's already.
        var blankFirst = (start > 0 || mailboxLines.Count > 0) && position < whole.Length && whole[position] is (byte)' ' or (byte)'\t';
        if (mailboxLines.Count == 0 && !blankFirst)
        {
            return whole;
        }

        var firstLf = Array.IndexOf(whole, (byte)'\n');
        var lineEnd = firstLf > 0 && whole[firstLf - 1] != (byte)'\r' ? "\n"u8 : "\r\n"u8;
        var output = new MemoryStream(whole.Length + (mailboxLines.Count * 18) + 2);
        output.Write(whole, 0, start);
        for (var i = 0; i < mailboxLines.Count; i++)
        {
            var end = i + 1 < mailboxLines.Count ? mailboxLines[i + 1] : position;
            output.Write("X-Mailbox-Line: "u8);
            output.Write(whole, mailboxLines[i], end - mailboxLines[i]);
        }

        if (blankFirst)
        {
            output.Write(lineEnd);
        }

        output.Write(whole, position, whole.Length - position);
        return output.ToArray();
    }

    /// <summary>
    /// Each header field (after <paramref name="start"/>) as Postfix's cleanup keeps it: one named in
    /// <paramref name="droppedFields"/> (<c>message_drop_headers</c>; its name compared without case and without the
    /// blanks before its colon, as <c>header_opts_find</c> compares it) left out with its folded lines, every other cut at
    /// its NULs and at 60,000 bytes (<see cref="HeaderSyntax.CutLikePostfix(string, RawText, int)"/>, the rule the plug-in
    /// sends a field to a milter by): the name and colon as they came, the value cut, the field's own line end after it.
    /// Only the message's own header section: a MIME part's fields are the body's, kept as Postfix keeps them. Only a
    /// header with a NUL or a line that may name a dropped field, or a message longer than the limit, is read; the same
    /// array when no field is cut or dropped. A field of any length is taken, one over
    /// <see cref="MessageHeaderReader.MaxFieldBytes"/> too: Postfix accepts it, and cuts it like any other.
    /// </summary>
    public static byte[] WithFieldsAsKept(byte[] whole, int start, IReadOnlyCollection<string> droppedFields)
    {
        if (whole.Length - start <= HeaderSyntax.PostfixHeaderLimit && whole.AsSpan(start).IndexOf((byte)0) < 0
            && !MayNameAny(whole.AsSpan(start), droppedFields))
        {
            return whole;
        }

        var cuts = new List<(int Start, int End, byte[] Field)>();
        using (var stream = new MemoryStream(whole, start, whole.Length - start, writable: false))
        using (var reader = new MessageHeaderReader(stream, Math.Max(whole.Length - start, MessageHeaderReader.MaxFieldBytes)))
        {
            while (reader.ReadField() is { } field)
            {
                if (Names(droppedFields, field.Name))
                {
                    cuts.Add((start + (int)reader.FieldStart, start + (int)reader.FieldEnd, []));
                    continue;
                }

                var kept = HeaderSyntax.CutLikePostfix(field.Name, field.Value, reader.BlanksBeforeColon);
                if (kept == field.Value)
                {
                    continue;
                }

                var raw = whole.AsSpan(start + (int)reader.FieldStart, (int)(reader.FieldEnd - reader.FieldStart));
                var nameAndColon = raw[..(raw.IndexOf((byte)':') + 1)];
                var lineEnd = raw[(nameAndColon.Length + field.Value.Length)..];
                cuts.Add((start + (int)reader.FieldStart, start + (int)reader.FieldEnd, [.. nameAndColon, .. kept.Span, .. lineEnd]));
            }
        }

        if (cuts.Count == 0)
        {
            return whole;
        }

        var output = new MemoryStream(whole.Length);
        var copied = 0;
        foreach (var (from, to, field) in cuts)
        {
            output.Write(whole, copied, from - copied);
            output.Write(field);
            copied = to;
        }

        output.Write(whole, copied, whole.Length - copied);
        return output.ToArray();
    }

    /// <summary>True when <paramref name="names"/> has <paramref name="name"/>, in any case.</summary>
    private static bool Names(IReadOnlyCollection<string> names, string name)
    {
        foreach (var candidate in names)
        {
            if (string.Equals(candidate, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// True when a line of <paramref name="message"/> up to its first empty line (past the end of its header section:
    /// a line that is no field ends it earlier) starts with one of <paramref name="names"/>, in any case, followed by
    /// a blank or a colon: a quick look that spares reading the fields of a message that has none of them.
    /// </summary>
    private static bool MayNameAny(ReadOnlySpan<byte> message, IReadOnlyCollection<string> names)
    {
        if (names.Count == 0)
        {
            return false;
        }

        while (!message.IsEmpty && message[0] is not ((byte)'\r' or (byte)'\n'))
        {
            foreach (var name in names)
            {
                if (message.Length > name.Length && message[name.Length] is (byte)':' or (byte)' ' or (byte)'\t'
                    && System.Text.Ascii.EqualsIgnoreCase(message[..name.Length], name))
                {
                    return true;
                }
            }

            var lf = message.IndexOf((byte)'\n');
            message = lf < 0 ? [] : message[(lf + 1)..];
        }

        return false;
    }

    /// <summary>True when a CR in <paramref name="message"/> does not end a line (is not right before an LF), or ends the message.</summary>
    private static bool HasStrayCr(ReadOnlySpan<byte> message)
    {
        for (var cr = message.IndexOf((byte)'\r'); cr >= 0; cr = message.IndexOf((byte)'\r'))
        {
            if (cr + 1 >= message.Length || message[cr + 1] != (byte)'\n')
            {
                return true;
            }

            message = message[(cr + 2)..];
        }

        return false;
    }
}
