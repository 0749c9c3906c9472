using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// A message being edited: parsed once (by the Contract's <see cref="MessageHeaderReader"/>), its header fields a list
/// edited in place, every untouched part (each field, the body) a slice of the original bytes, never copied until
/// <see cref="ToBytes"/> writes the result once. Header fields are bytes from end to end: read, edited and written
/// without decoding. So many edits on a large message cost one parse and one copy, not one copy per edit.
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
    private IReadOnlyList<string> _mailParameters;
    private bool _envelopeChanged;
    private readonly List<string> _notes = [];
    private readonly Field? _hidden; // the host's own trace header, which the filter was not shown
    private IReadOnlyList<HeaderField>? _view;

    private MessageDraft(ReadOnlyMemory<byte> message, MessageLayout layout, Envelope envelope, HeaderField? hiddenTraceHeader)
    {
        _prefix = message[..layout.PrefixLength];
        _separator = message.Slice(layout.SeparatorStart, layout.SeparatorLength);
        _body = message[layout.BodyStart..];
        _usesLf = layout.UsesLf;
        _fields = layout.Fields.Select(f => new Field(WithoutBlanksBeforeColon(message.Slice(f.Start, f.Length)), f.Field)).ToList();
        _hidden = hiddenTraceHeader is { } hidden ? _fields.Find(f => f.Header == hidden) : null;
        _original = envelope;
        _recipients = [.. envelope.Recipients];
        _mailFrom = envelope.MailFrom;
        _mailParameters = envelope.MailParameters;
    }

    /// <summary>
    /// A field's raw bytes with the obsolete blanks between its name and the colon taken out (<c>Subject : x</c> is
    /// <c>Subject: x</c>), as Postfix writes every header field ("Normalize obsolete 'name space colon' syntax to 'name
    /// colon'", global/mime_state.c, mime_state_update); its name and value are what the reader read either way. A field
    /// without such blanks is the same slice.
    /// </summary>
    private static ReadOnlyMemory<byte> WithoutBlanksBeforeColon(ReadOnlyMemory<byte> raw)
    {
        var span = raw.Span;
        var colon = span.IndexOf((byte)':');
        var name = span[..colon].TrimEnd(" \t"u8);
        return name.Length == colon ? raw : (byte[])[.. name, .. span[colon..]];
    }

    /// <summary>
    /// Parses <paramref name="message"/>, which must not change while the draft is used. The first field equal to
    /// <paramref name="hiddenTraceHeader"/>, if any, is the host's own trace header, which the filter was not shown:
    /// <see cref="ChangeHeader"/> indexes do not count it, <see cref="InsertHeader"/> indexes do (Postfix's rule).
    /// </summary>
    public static MessageDraft Parse(ReadOnlyMemory<byte> message, Envelope envelope, HeaderField? hiddenTraceHeader = null) =>
        new(message, MessageLayout.Of(message), envelope, hiddenTraceHeader);

    /// <summary>The header fields as they are now, the hidden trace header too (the list is kept until the next edit).</summary>
    public IReadOnlyList<HeaderField> Fields => _view ??= _fields.Select(f => f.Header).ToArray();

    /// <summary>The fields named <paramref name="name"/> (case-insensitively) that <see cref="ChangeHeader"/> counts, in order: all but the hidden trace header.</summary>
    public IEnumerable<HeaderField> Countable(string name) =>
        _fields.Where(f => f != _hidden && f.HasName(name)).Select(f => f.Header);

    /// <summary>The size in bytes of the message as it is now.</summary>
    public long Length
    {
        get
        {
            var separator = Separator.Length;
            long length = _prefix.Length + separator + BodyLength;
            for (var i = 0; i < _fields.Count; i++)
            {
                length += _fields[i].Raw.Length + (NeedsLineEnd(i, separator) ? LineEndBytes.Length : 0);
            }

            return length;
        }
    }

    private long BodyLength => _replacedBody is null ? _body.Length
        : _replacedBodyLength ??= ReplacedBody.Length(_replacedBody, _usesLf);

    /// <summary>
    /// What the edits so far did not do as asked, one sentence each: ESMTP parameters of envelope edits the MTA does not
    /// honour (<see cref="EnvelopeParameters"/>).
    /// </summary>
    public IReadOnlyList<string> Notes => _notes;

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
                var parameters = EnvelopeParameters.OfAddedRecipient(add.Parameters, _notes);
                if (InternalAddress.Of(add.Address).Length == 0)
                {
                    // Postfix's cleanup_add_rcpt_par (cleanup_milter.c) adds no recipient without an address, and warns.
                    _notes.Add($"the recipient {LogText.Quote(add.Address)} is not added: it is the null address, which Postfix ignores too");
                    break;
                }

                _recipients.Add(new EnvelopeRecipient(MailPath.Bare(add.Address), parameters));
                _envelopeChanged = true;
                break;
            case DeleteRecipient delete:
                _recipients.RemoveAll(r => InternalAddress.Same(r.Address, delete.Address)); // exactly, as Postfix's cleanup_del_rcpt
                _envelopeChanged = true;
                break;
            case ChangeSender sender:
                _mailFrom = MailPath.Bare(sender.Address);
                _mailParameters = EnvelopeParameters.AfterSenderChange(_mailParameters, sender.Parameters, _notes);
                _envelopeChanged = true;
                break;
            default:
                throw new ArgumentException($"An edit the editor does not know: {edit}", nameof(edit));
        }

        _view = null;
    }

    /// <summary>
    /// The second line of defence (the plug-in refuses such edits first): an edit that would put a line of its own
    /// making into the message (a bare CR or a NUL in a header value, a name that is not one) or a command of its own
    /// into the envelope (a control character in an address or ESMTP parameter, an address that is not one path) is refused. A header value's line
    /// breaks are safe: every line after the first is written as a continuation (<see cref="HeaderSyntax.WriteField"/>).
    /// </summary>
    private static void Refuse(MessageEdit edit)
    {
        var problem = edit switch
        {
            AddHeader e => HeaderProblem(e.Name, e.Value),
            InsertHeader e => HeaderProblem(e.Name, e.Value),
            ChangeHeader e => HeaderProblem(e.Name, e.Value),
            AddRecipient e => PathProblem(e.Address, "the recipient") ?? ParametersProblem(e.Parameters),
            DeleteRecipient e => PathProblem(e.Address, "the recipient"),
            ChangeSender e => PathProblem(e.Address, "the sender") ?? ParametersProblem(e.Parameters),
            _ => null,
        };
        if (problem is not null)
        {
            throw new ArgumentException($"{edit.GetType().Name}: {problem}", nameof(edit));
        }

        static string? HeaderProblem(string name, RawText? value) =>
            !HeaderSyntax.IsFieldName(Encoding.UTF8.GetBytes(name)) || name != name.TrimEnd() ? $"{LogText.Quote(name)} is not a header field name"
            : value is { } bytes && HeaderSyntax.FindUnsafeByte(bytes.Span) >= 0 ? $"the value of {name} holds a bare CR or a NUL: {LogText.Quote(bytes)}"
            : null;

        static string? EnvelopeProblem(string text, string what) =>
            MailPath.FindBadCharacter(text) >= 0 ? $"a control character in {what}: {LogText.Quote(text)}" : null;

        static string? PathProblem(string address, string what) => EnvelopeProblem(address, what)
            ?? (MailPath.PathProblem(address) is { } problem ? $"{what} {LogText.Quote(address)} is not one address: {problem}" : null);

        static string? ParametersProblem(IReadOnlyList<string> parameters) =>
            parameters.Select(p => p.Length == 0 || p.Contains(' ', StringComparison.Ordinal)
                ? $"{LogText.Quote(p)} is not one ESMTP parameter" : EnvelopeProblem(p, "the ESMTP parameters")).FirstOrDefault(p => p is not null);
    }

    /// <summary>Replaces the field at <paramref name="index"/> of the whole header with exactly <paramref name="raw"/> (all its lines, line ends included).</summary>
    public void ReplaceField(int index, string name, ReadOnlyMemory<byte> raw)
    {
        _fields[index] = new Field(raw, name);
        _view = null;
    }

    /// <summary>The raw bytes of the field at <paramref name="index"/> (all its lines, line ends included).</summary>
    public ReadOnlyMemory<byte> RawField(int index) => _fields[index].Raw;

    /// <summary>The message's own line end.</summary>
    public string LineEnd => _usesLf ? "\n" : "\r\n";

    private ReadOnlySpan<byte> LineEndBytes => _usesLf ? "\n"u8 : "\r\n"u8;

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
        Write(ref span, _prefix.Span);
        var separator = Separator;
        for (var i = 0; i < _fields.Count; i++)
        {
            Write(ref span, _fields[i].Raw.Span);
            if (NeedsLineEnd(i, separator.Length))
            {
                Write(ref span, LineEndBytes);
            }
        }

        Write(ref span, separator);
        if (_replacedBody is null)
        {
            Write(ref span, _body.Span);
        }
        else
        {
            ReplacedBody.CopyTo(_replacedBody, _usesLf, span);
        }

        return output;

        static void Write(ref Span<byte> to, ReadOnlySpan<byte> part)
        {
            part.CopyTo(to);
            to = to[part.Length..];
        }
    }

    /// <summary>
    /// The empty line between the header section and the body, as written: the message's own when it has one, else the
    /// message's line end whenever a body follows, as Postfix writes every message (a header section, the empty line,
    /// the body). A header section ended by a line that is not a header field (no colon, <c>: no name</c>,
    /// <c>X Bad:</c>, an 8-bit name) has none: Postfix's MIME parser forces out an empty line before such a line and
    /// reads it as the first line of the body (global/mime_state.c, mime_state_update, "Invalid input. Force output of
    /// one blank line"), which is also where the plug-in's reader ended the header section when it showed the message to
    /// the milter, so fields an edit adds go above the empty line and the milter's verdict (a DKIM signature) is about
    /// the message delivered. Postfix also writes one before a body a milter replaced whatever the message had
    /// (cleanup/cleanup_milter.c, cleanup_repl_body: MILTER_BODY_START writes an empty record first), so a message that
    /// ended in its header section gets one before a replaced body. A message without any header field (nor any added)
    /// gets none before its own body: there is no header section to end (Postfix never has one, its own Received: being
    /// on top of every message), and its first line is the body's to every reader already.
    /// </summary>
    private ReadOnlySpan<byte> Separator =>
        !_separator.IsEmpty ? _separator.Span : _replacedBody is not null || (!_body.IsEmpty && _fields.Count > 0) ? LineEndBytes : default;

    /// <summary>
    /// True when the field at <paramref name="index"/> is written with a line end it does not have: only the message's
    /// last line can lack one (a message that ends in its header section without a final line end), and it gets one
    /// when anything is written after it (a field an edit added, the empty line before a body), as Postfix stores every
    /// header line as a record of its own and writes each with its line end. Else the next line would be glued to it.
    /// </summary>
    private bool NeedsLineEnd(int index, int separatorLength) =>
        (index < _fields.Count - 1 || separatorLength > 0) && !_fields[index].Raw.Span.EndsWith("\n"u8);

    private void Change(ChangeHeader change)
    {
        var index = Math.Max(1, change.Index); // 0 means 1, as in libmilter and Postfix
        var seen = 0;
        for (var i = 0; i < _fields.Count; i++)
        {
            if (_fields[i] == _hidden || !_fields[i].HasName(change.Name) || ++seen != index)
            {
                continue;
            }

            if (change.Value is not { IsEmpty: false } value)
            {
                _fields.RemoveAt(i); // no value, or an empty one: delete
            }
            else
            {
                _fields[i] = NewField(change.Name, value);
            }

            return;
        }

        if (change.Value is { IsEmpty: false } added)
        {
            _fields.Add(NewField(change.Name, added)); // beyond the count: add
        }
    }

    /// <summary>A field an edit adds, written as Postfix writes a milter's header (<see cref="HeaderSyntax.WriteField"/>), in the message's own line ends.</summary>
    private Field NewField(string name, RawText value) => new(HeaderSyntax.WriteField(name, value.Span, LineEndBytes), name);

    /// <summary>
    /// One header field: its raw bytes (all lines, with their line ends) and the field they hold, as the reader read it
    /// or, for a field an edit wrote, sliced from the bytes when first asked (so it reads as the written field would).
    /// </summary>
    private sealed class Field
    {
        private HeaderField? _header;

        public Field(ReadOnlyMemory<byte> raw, HeaderField header)
        {
            Raw = raw;
            Name = header.Name;
            _header = header;
        }

        public Field(ReadOnlyMemory<byte> raw, string name)
        {
            Raw = raw;
            Name = name;
        }

        public string Name { get; }

        public ReadOnlyMemory<byte> Raw { get; }

        public HeaderField Header => _header ??= new HeaderField(Name, new RawText(ValueOf(Raw.Span)));

        public bool HasName(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);

        /// <summary>The bytes after the colon, without the final line end.</summary>
        private static ReadOnlySpan<byte> ValueOf(ReadOnlySpan<byte> raw)
        {
            var value = raw[(raw.IndexOf((byte)':') + 1)..];
            return value.EndsWith("\r\n"u8) ? value[..^2] : value.EndsWith("\n"u8) ? value[..^1] : value;
        }
    }
}
