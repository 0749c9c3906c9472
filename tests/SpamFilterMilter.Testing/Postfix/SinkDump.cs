using System.Text;

namespace SpamFilterMilter.Testing.Postfix;

/// <summary>
/// One transaction as smtp-sink <c>-d</c> wrote it: the envelope its client sent (the arguments of MAIL FROM: and of
/// each RCPT TO:, verbatim) and the message, after smtp-sink's own Received header. smtp-sink drops every CR, undoes
/// dot-stuffing and ends the file with one extra empty line; <see cref="Message"/> has that line removed, so it is
/// the message with LF line ends.
/// </summary>
public sealed record SinkDump(string MailArgs, IReadOnlyList<string> RcptArgs, byte[] Message)
{
    /// <summary>Reads a dump file.</summary>
    public static SinkDump Read(string path) => Parse(File.ReadAllBytes(path));

    /// <summary>Parses a dump's bytes.</summary>
    public static SinkDump Parse(byte[] dump)
    {
        var mail = string.Empty;
        var rcpts = new List<string>();
        var position = 0;
        while (position < dump.Length)
        {
            var end = LineEnd(dump, position);
            var line = Encoding.Latin1.GetString(dump, position, end - position);
            if (!line.StartsWith("X-", StringComparison.Ordinal))
            {
                break;
            }

            var value = line[(line.IndexOf(':', StringComparison.Ordinal) + 2)..];
            if (line.StartsWith("X-Mail-Args:", StringComparison.Ordinal))
            {
                mail = value;
            }
            else if (line.StartsWith("X-Rcpt-Args:", StringComparison.Ordinal))
            {
                rcpts.Add(value);
            }

            position = end + 1;
        }

        // smtp-sink's own Received header: its first line and the folded lines after it.
        if (position < dump.Length && dump.AsSpan(position).StartsWith("Received: "u8))
        {
            do
            {
                position = LineEnd(dump, position) + 1;
            }
            while (position < dump.Length && dump[position] is (byte)' ' or (byte)'\t');
        }

        var length = dump.Length - position;
        if (length > 0 && dump[^1] == '\n')
        {
            length--; // the empty line smtp-sink adds
        }

        return new SinkDump(mail, rcpts, dump.AsSpan(position, Math.Max(0, length)).ToArray());
    }

    /// <summary>The message without the first Received header that <paramref name="marksOwn"/> recognises (the MTA's own trace field), wherever it stands.</summary>
    public byte[] MessageWithout(Func<string, bool> marksOwn)
    {
        var position = 0;
        while (position < Message.Length && Message[position] != '\n')
        {
            var start = position;
            do
            {
                position = LineEnd(Message, position) + 1;
            }
            while (position < Message.Length && Message[position] is (byte)' ' or (byte)'\t');

            var field = Encoding.Latin1.GetString(Message, start, position - start);
            if (field.StartsWith("Received:", StringComparison.OrdinalIgnoreCase) && marksOwn(field))
            {
                return [.. Message.AsSpan(0, start), .. Message.AsSpan(position)];
            }
        }

        return Message;
    }

    private static int LineEnd(byte[] bytes, int from)
    {
        var lf = Array.IndexOf(bytes, (byte)'\n', from);
        return lf < 0 ? bytes.Length : lf;
    }
}
