using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// A message being edited: parsed once, its header fields a list edited in place, every untouched part
/// (each field, the body) a slice of the original bytes, never copied until <see cref="ToBytes"/> writes
/// the result once. So many edits on a large message cost one parse and one copy, not one copy per edit.
/// A replaced body is kept as the <see cref="MessageBody"/> it is (in memory or in its file) and also
/// written once, straight into the result, by <see cref="ReplacedBody"/>'s rule (the message's line ends, the last
/// line terminated, as Postfix writes it).
/// </summary>
internal sealed class MessageDraft
{
    private readonly ReadOnlyMemory<byte> _prefix;
    private readonly ReadOnlyMemory<byte> _separator;
    private readonly List<Field> _fields;
    private readonly bool _usesLf;
    private readonly Envelope _original;
    private readonly List<EnvelopeRecipient> _recipients;
    private readonly ReadOnlyMemory<byte> _body; // the original body: a slice of the message
    private MessageBody? _replacedBody;
    private long? _replacedBodyLength; // as written: counted once when first asked
    private string _mailFrom;
    private string? _mailParameters;
    private bool _envelopeChanged;
    private IReadOnlyList<HeaderField>? _view;

    private MessageDraft(ReadOnlyMemory<byte> message, MessageLayout layout, Envelope envelope)
    {
        _prefix = message[..layout.PrefixLength];
        _separator = message.Slice(layout.SeparatorStart, layout.SeparatorLength);
        _body = message[layout.BodyStart..];
        _usesLf = layout.UsesLf;
        _fields = layout.Fields.Select(f => new Field(f.Name, message.Slice(f.Start, f.Length))).ToList();
        _original = envelope;
        _recipients = [.. envelope.Recipients];
        _mailFrom = envelope.MailFrom;
        _mailParameters = envelope.MailParameters;
    }

    /// <summary>Parses <paramref name="message"/>, which must not change while the draft is used.</summary>
    public static MessageDraft Parse(ReadOnlyMemory<byte> message, Envelope envelope) =>
        new(message, MessageLayout.Of(message.Span), envelope);

    /// <summary>The header fields as they are now (the list is kept until the next edit).</summary>
    public IReadOnlyList<HeaderField> Fields => _view ??= _fields.Select(f => f.Header).ToArray();

    /// <summary>The size in bytes of the message as it is now.</summary>
    public long Length => _prefix.Length + _fields.Sum(f => (long)f.Raw.Length) + _separator.Length + BodyLength;

    private long BodyLength => _replacedBody is null ? _body.Length
        : _replacedBodyLength ??= ReplacedBody.Length(_replacedBody, _usesLf);

    /// <summary>The envelope as it is now: the one given when no envelope edit was made.</summary>
    public Envelope Envelope => _envelopeChanged ? new Envelope(_mailFrom, _mailParameters, _recipients.ToArray()) : _original;

    public void Apply(MessageEdit edit)
    {
        Refuse(edit);
        switch (edit)
        {
            case AddHeader add:
                _fields.Add(NewField(add.Name, add.Value));
                break;
            case InsertHeader insert:
                _fields.Insert(Math.Clamp(insert.Index, 0, _fields.Count), NewField(insert.Name, insert.Value));
                break;
            case ChangeHeader change:
                Change(change);
                break;
            case ReplaceBody body:
                (_replacedBody, _replacedBodyLength) = (body.Body, null);
                break;
            case AddRecipient add:
                _recipients.Add(new EnvelopeRecipient(MailPath.Bare(add.Address), add.Parameters?.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
                _envelopeChanged = true;
                break;
            case DeleteRecipient delete:
                _recipients.RemoveAll(r => MailPath.Same(r.Address, delete.Address));
                _envelopeChanged = true;
                break;
            case ChangeSender sender:
                _mailFrom = MailPath.Bare(sender.Address);
                _mailParameters = sender.Parameters;
                _envelopeChanged = true;
                break;
            default:
                throw new ArgumentException($"An edit the editor does not know: {edit}", nameof(edit));
        }

        _view = null;
    }

    /// <summary>
    /// The second line of defence (the plug-in refuses such edits first): an edit that would put a line of its own
    /// making into the message (a header line break that does not fold, a bare CR, a NUL, a name that is not one) or
    /// a command of its own into the envelope (a control character in an address or ESMTP parameter) is refused.
    /// </summary>
    private static void Refuse(MessageEdit edit)
    {
        var problem = edit switch
        {
            AddHeader e => HeaderProblem(e.Name, e.Value),
            InsertHeader e => HeaderProblem(e.Name, e.Value),
            ChangeHeader e => HeaderProblem(e.Name, e.Value),
            AddRecipient e => EnvelopeProblem(e.Address, "the recipient") ?? EnvelopeProblem(e.Parameters, "the ESMTP parameters"),
            DeleteRecipient e => EnvelopeProblem(e.Address, "the recipient"),
            ChangeSender e => EnvelopeProblem(e.Address, "the sender") ?? EnvelopeProblem(e.Parameters, "the ESMTP parameters"),
            _ => null,
        };
        if (problem is not null)
        {
            throw new ArgumentException($"{edit.GetType().Name}: {problem}", nameof(edit));
        }

        static string? HeaderProblem(string name, string? value) =>
            !HeaderSyntax.IsFieldName(Encoding.UTF8.GetBytes(name)) || name != name.TrimEnd() ? $"{LogText.Quote(name)} is not a header field name"
            : value is not null && HeaderSyntax.FindBadLineBreak(value) >= 0 ? $"the value of {name} holds a line break that does not fold, a bare CR or a NUL: {LogText.Quote(value)}"
            : null;

        static string? EnvelopeProblem(string? text, string what) =>
            text is not null && MailPath.FindBadCharacter(text) >= 0 ? $"a control character in {what}: {LogText.Quote(text)}" : null;
    }

    /// <summary>Replaces the field at <paramref name="index"/> of the whole header with exactly <paramref name="raw"/> (all its lines, line ends included).</summary>
    public void ReplaceField(int index, string name, ReadOnlyMemory<byte> raw)
    {
        _fields[index] = new Field(name, raw);
        _view = null;
    }

    /// <summary>The raw bytes of the field at <paramref name="index"/> (all its lines, line ends included).</summary>
    public ReadOnlyMemory<byte> RawField(int index) => _fields[index].Raw;

    /// <summary>The message's own line end.</summary>
    public string LineEnd => _usesLf ? "\n" : "\r\n";

    /// <summary>
    /// The message as it is now, written once. A message larger than one array holds (<see cref="Array.MaxLength"/>)
    /// cannot be written: <see cref="InvalidOperationException"/>.
    /// </summary>
    public byte[] ToBytes()
    {
        var length = Length;
        if (length > Array.MaxLength)
        {
            throw new InvalidOperationException($"The edited message would be {length} bytes, more than one array holds ({Array.MaxLength}).");
        }

        var output = new byte[length];
        var span = output.AsSpan();
        Write(ref span, _prefix);
        foreach (var field in _fields)
        {
            Write(ref span, field.Raw);
        }

        Write(ref span, _separator);
        if (_replacedBody is null)
        {
            Write(ref span, _body);
        }
        else
        {
            ReplacedBody.CopyTo(_replacedBody, _usesLf, span);
        }

        return output;

        static void Write(ref Span<byte> to, ReadOnlyMemory<byte> part)
        {
            part.Span.CopyTo(to);
            to = to[part.Length..];
        }
    }

    internal static HeaderField ToHeaderField(string name, ReadOnlySpan<byte> raw)
    {
        var value = raw[(raw.IndexOf((byte)':') + 1)..];
        value = value.EndsWith("\r\n"u8) ? value[..^2] : value.EndsWith("\n"u8) ? value[..^1] : value;
        return new HeaderField(name, Encoding.UTF8.GetString(value));
    }

    private void Change(ChangeHeader change)
    {
        var index = Math.Max(1, change.Index); // 0 means 1, as in libmilter and Postfix
        var seen = 0;
        for (var i = 0; i < _fields.Count; i++)
        {
            if (!_fields[i].HasName(change.Name) || ++seen != index)
            {
                continue;
            }

            if (change.Value is null)
            {
                _fields.RemoveAt(i);
            }
            else
            {
                _fields[i] = NewField(change.Name, change.Value);
            }

            return;
        }

        if (change.Value is not null)
        {
            _fields.Add(NewField(change.Name, change.Value)); // beyond the count: add
        }
    }

    private Field NewField(string name, string value)
    {
        var text = name + ":" + (_usesLf ? value.Replace("\r\n", "\n", StringComparison.Ordinal) : value) + LineEnd;
        return new Field(name, Encoding.UTF8.GetBytes(text));
    }

    /// <summary>One header field: its name and raw bytes (all lines, with their line ends); its value decoded only when asked.</summary>
    private sealed class Field(string name, ReadOnlyMemory<byte> raw)
    {
        private HeaderField? _header;

        public string Name { get; } = name;

        public ReadOnlyMemory<byte> Raw { get; } = raw;

        public HeaderField Header => _header ??= ToHeaderField(Name, Raw.Span);

        public bool HasName(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);
    }
}
