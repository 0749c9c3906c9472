using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>The envelope of a message: sender and recipients, each with its ESMTP parameters.</summary>
/// <param name="MailFrom">The reverse-path, without angle brackets ("" for the null sender).</param>
/// <param name="MailParameters">ESMTP parameters of MAIL FROM, space separated, or null.</param>
/// <param name="Recipients">The recipients in order.</param>
public sealed record Envelope(string MailFrom, string? MailParameters, IReadOnlyList<EnvelopeRecipient> Recipients);

/// <summary>One header field as the editor sees it.</summary>
/// <param name="Name">The field name as written (without blanks before the colon).</param>
/// <param name="Value">The raw text after the colon: leading blanks and the line breaks of folded lines included, the final line end not.</param>
public sealed record HeaderField(string Name, string Value);

/// <summary>A message after a verdict's edits: the bytes and the envelope.</summary>
public sealed record EditedMessage(byte[] Message, Envelope Envelope);

/// <summary>
/// Applies a verdict's edits to a message and its envelope, in the order the filter sent them, with
/// Postfix's semantics (the MTA the milter ecosystem is tested against):
/// <list type="bullet">
/// <item>AddHeader appends at the end of the header section.</item>
/// <item>InsertHeader puts the field before the field at that index of the whole header list (0 = top); beyond the end appends.</item>
/// <item>ChangeHeader finds the index-th field of that name (1-based, case-insensitive); a null value deletes it, a
///       value replaces it in place; an index beyond the count adds the field (a deletion then does nothing).</item>
/// <item>Each edit sees the result of the previous ones, so a deletion renumbers what follows at once.</item>
/// <item>ReplaceBody replaces everything after the blank line.</item>
/// <item>Recipient and sender edits change the envelope; addresses compare without angle brackets, case-insensitively.</item>
/// </list>
/// Untouched header fields and the body keep their exact bytes; new fields use the message's own line
/// ending (CRLF, or LF for a message written with LF).
/// </summary>
public static class MessageEditor
{
    /// <summary>Applies <paramref name="edits"/> to <paramref name="message"/> and <paramref name="envelope"/>.</summary>
    public static EditedMessage Apply(ReadOnlySpan<byte> message, Envelope envelope, IEnumerable<MessageEdit> edits)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(edits);
        var parsed = ParsedMessage.Parse(message);
        var from = envelope.MailFrom;
        var fromParameters = envelope.MailParameters;
        var recipients = envelope.Recipients.ToList();
        foreach (var edit in edits)
        {
            switch (edit)
            {
                case AddHeader add:
                    parsed.Fields.Add(parsed.NewField(add.Name, add.Value));
                    break;
                case InsertHeader insert:
                    parsed.Fields.Insert(Math.Min(insert.Index, parsed.Fields.Count), parsed.NewField(insert.Name, insert.Value));
                    break;
                case ChangeHeader change:
                    Change(parsed, change);
                    break;
                case ReplaceBody body:
                    parsed.Body = parsed.UsesLf ? ToLf(body.Body.Span) : body.Body.ToArray();
                    break;
                case AddRecipient add:
                    recipients.Add(new EnvelopeRecipient(Bare(add.Address), add.Parameters is null ? null : add.Parameters.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
                    break;
                case DeleteRecipient delete:
                    recipients.RemoveAll(r => string.Equals(Bare(r.Address), Bare(delete.Address), StringComparison.OrdinalIgnoreCase));
                    break;
                case ChangeSender sender:
                    from = Bare(sender.Address);
                    fromParameters = sender.Parameters;
                    break;
                default:
                    throw new ArgumentException($"An edit the editor does not know: {edit}", nameof(edits));
            }
        }

        return new EditedMessage(parsed.ToBytes(), new Envelope(from, fromParameters, recipients));
    }

    /// <summary>
    /// The header fields of <paramref name="message"/>, in order, split by the same rule the edits use, so
    /// that "the second X-Spam field" means the same field to a reader and to <see cref="ChangeHeader"/>.
    /// </summary>
    public static IReadOnlyList<HeaderField> ReadFields(ReadOnlySpan<byte> message)
    {
        var parsed = ParsedMessage.Parse(message);
        var fields = new List<HeaderField>(parsed.Fields.Count);
        foreach (var field in parsed.Fields)
        {
            var raw = field.Raw.AsSpan();
            var colon = raw.IndexOf((byte)':');
            var value = raw[(colon + 1)..];
            value = value.EndsWith("\r\n"u8) ? value[..^2] : value.EndsWith("\n"u8) ? value[..^1] : value;
            fields.Add(new HeaderField(field.Name, Encoding.UTF8.GetString(value)));
        }

        return fields;
    }

    /// <summary>Applies only the header and body edits.</summary>
    public static byte[] Apply(ReadOnlySpan<byte> message, IEnumerable<MessageEdit> edits) =>
        Apply(message, new Envelope(string.Empty, null, []), edits).Message;

    private static void Change(ParsedMessage parsed, ChangeHeader change)
    {
        var index = Math.Max(1, change.Index); // 0 means 1, as in libmilter and Postfix
        var seen = 0;
        for (var i = 0; i < parsed.Fields.Count; i++)
        {
            if (!parsed.Fields[i].HasName(change.Name) || ++seen != index)
            {
                continue;
            }

            if (change.Value is null)
            {
                parsed.Fields.RemoveAt(i);
            }
            else
            {
                parsed.Fields[i] = parsed.NewField(change.Name, change.Value);
            }

            return;
        }

        if (change.Value is not null)
        {
            parsed.Fields.Add(parsed.NewField(change.Name, change.Value)); // beyond the count: add
        }
    }

    private static string Bare(string address) => address.Trim() is ['<', .. var inner, '>'] ? inner : address.Trim();

    private static byte[] ToLf(ReadOnlySpan<byte> bytes) =>
        Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(bytes).Replace("\r\n", "\n", StringComparison.Ordinal));

    /// <summary>One header field: its raw bytes (all lines, with their line ends) and its name.</summary>
    private sealed record Field(string Name, byte[] Raw)
    {
        public bool HasName(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A message split into header fields, the separator line and the body.</summary>
    private sealed class ParsedMessage
    {
        public List<Field> Fields { get; } = [];

        public byte[] Prefix { get; private set; } = [];

        public byte[] Separator { get; private set; } = [];

        public byte[] Body { get; set; } = [];

        public bool UsesLf { get; private set; }

        private string LineEnd => UsesLf ? "\n" : "\r\n";

        public Field NewField(string name, string value)
        {
            var text = name + ":" + (UsesLf ? value.Replace("\r\n", "\n", StringComparison.Ordinal) : value) + LineEnd;
            return new Field(name, Encoding.UTF8.GetBytes(text));
        }

        public byte[] ToBytes()
        {
            var output = new MemoryStream();
            output.Write(Prefix);
            foreach (var field in Fields)
            {
                output.Write(field.Raw);
            }

            output.Write(Separator);
            output.Write(Body);
            return output.ToArray();
        }

        /// <summary>Same header rules as the plug-in's reader: folded lines belong to their field; a line that cannot be a field starts the body.</summary>
        public static ParsedMessage Parse(ReadOnlySpan<byte> message)
        {
            var parsed = new ParsedMessage();
            var firstLf = message.IndexOf((byte)'\n');
            parsed.UsesLf = firstLf > 0 && message[firstLf - 1] != (byte)'\r';
            var position = 0;
            if (message.StartsWith("From "u8))
            {
                var end = firstLf < 0 ? message.Length : firstLf + 1;
                parsed.Prefix = message[..end].ToArray(); // an mbox separator line is kept as it was
                position = end;
            }

            while (position < message.Length)
            {
                var rest = message[position..];
                var lineEnd = rest.IndexOf((byte)'\n');
                var lineLength = lineEnd < 0 ? rest.Length : lineEnd + 1;
                var line = rest[..lineLength];
                var content = line.TrimEnd("\r\n"u8);
                var kind = HeaderSyntax.Classify(content, out var colon);
                if (kind == HeaderLineKind.End)
                {
                    parsed.Separator = line.ToArray();
                    position += lineLength;
                    break;
                }

                if (kind == HeaderLineKind.Continuation && parsed.Fields.Count > 0)
                {
                    var last = parsed.Fields[^1];
                    parsed.Fields[^1] = last with { Raw = [.. last.Raw, .. line] };
                    position += lineLength;
                    continue;
                }

                if (kind != HeaderLineKind.Field)
                {
                    break; // the body starts here, without a blank line
                }

                parsed.Fields.Add(new Field(Encoding.UTF8.GetString(content[..colon].TrimEnd(" \t"u8)), line.ToArray()));
                position += lineLength;
            }

            parsed.Body = message[position..].ToArray();
            return parsed;
        }
    }
}
