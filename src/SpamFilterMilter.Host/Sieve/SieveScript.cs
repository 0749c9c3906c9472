using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>How a script left the message.</summary>
public enum SieveDisposition
{
    /// <summary>Delivered: to the inbox when <see cref="SieveOutcome.Keep"/>, to each folder and each redirect address.</summary>
    Deliver,

    /// <summary><c>discard</c> and nothing kept, filed or redirected: silently dropped.</summary>
    Discard,

    /// <summary><c>reject</c>, or <c>ereject</c> with a 5xx reply: refused permanently.</summary>
    Reject,

    /// <summary><c>tempfail</c>, or <c>ereject</c> with a 4xx reply: refused for now; the sender retries.</summary>
    TempFail,
}

/// <summary>A recipient the script refused (<c>rejectrecipient</c>), with the reply for it.</summary>
public sealed record RefusedRecipient(string Address, SmtpReply Reply);

/// <summary>What running a script did: the edited message and envelope, and the actions it took.</summary>
public sealed class SieveOutcome
{
    /// <summary>The disposition (the refusal reply is in <see cref="Reply"/>).</summary>
    public SieveDisposition Disposition { get; init; }

    /// <summary>The SMTP reply for <see cref="SieveDisposition.Reject"/> and <see cref="SieveDisposition.TempFail"/>.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>The message after the script's edits (unchanged by a refusal: a refused message is not delivered).</summary>
    public required byte[] Message { get; init; }

    /// <summary>The envelope after the script's edits (refused recipients removed).</summary>
    public required Envelope Envelope { get; init; }

    /// <summary>The edits, as <see cref="MessageEditor"/> applied them, in order.</summary>
    public IReadOnlyList<MessageEdit> Edits { get; init; } = [];

    /// <summary>True when the message goes to the inbox: an explicit <c>keep</c>, or the implicit keep nothing cancelled.</summary>
    public bool Keep { get; init; }

    /// <summary>True when the script ran an explicit <c>keep</c>.</summary>
    public bool ExplicitKeep { get; init; }

    /// <summary><c>fileinto</c> folders, in order, without repeats.</summary>
    public IReadOnlyList<string> Folders { get; init; } = [];

    /// <summary><c>redirect</c> addresses, in order, without repeats.</summary>
    public IReadOnlyList<string> Redirects { get; init; } = [];

    /// <summary><c>addtag</c> tags, in order; the host prefixes them to the Subject once every slot has run.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The <c>quarantine</c> reason (the first, when several were given), or null.</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>Recipients refused with <c>rejectrecipient</c>.</summary>
    public IReadOnlyList<RefusedRecipient> RefusedRecipients { get; init; } = [];

    /// <summary>One line per action taken, for the host's log (e.g. <c>fileinto "Junk"</c>).</summary>
    public IReadOnlyList<string> Actions { get; init; } = [];
}

/// <summary>
/// A parsed and checked Sieve script in the subset the host runs: the commands of RFC 5228 (<c>require</c>,
/// <c>if</c>/<c>elsif</c>/<c>else</c>, <c>keep</c>, <c>discard</c>, <c>stop</c>, <c>redirect</c>), <c>fileinto</c>,
/// RFC 5429 <c>reject</c>/<c>ereject</c>, RFC 5293 <c>addheader</c>/<c>deleteheader</c> (and Messaging Server's
/// one-argument <c>addheader "Name: value"</c>), Messaging Server's <c>addtag</c>, the tests <c>header</c>,
/// <c>address</c>, <c>envelope</c>, <c>exists</c>, <c>size</c>, <c>true</c>, <c>false</c>, <c>not</c>, <c>allof</c>,
/// <c>anyof</c>, and the <c>vnd.spamfiltermilter</c> commands the milter plug-in's action strings use. Anything
/// else is a <see cref="SieveException"/> with its line and column, raised by <see cref="Parse"/>.
/// </summary>
public sealed class SieveScript
{
    /// <summary>The capability of this project's commands (tempfail, quarantine, insertheader, ...).</summary>
    public const string Extension = "vnd.spamfiltermilter";

    private readonly List<Call> _commands;

    private SieveScript(string text, List<Call> commands)
    {
        Text = text;
        _commands = commands;
    }

    /// <summary>The script text.</summary>
    public string Text { get; }

    /// <summary>Parses and checks <paramref name="text"/>; throws <see cref="SieveException"/> for anything wrong or unsupported.</summary>
    public static SieveScript Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new SieveScript(text, SieveParser.Parse(text));
    }

    /// <summary>
    /// Runs the script on <paramref name="message"/> and <paramref name="envelope"/>. The message is parsed
    /// once and edited in place (a later test sees an earlier edit), and written once at the end, with
    /// <see cref="MessageEditor"/>'s semantics for every edit. A refusal (<c>reject</c>, <c>ereject</c>,
    /// <c>tempfail</c>) ends the script. Throws <see cref="SieveException"/> for a run-time error (e.g. a
    /// header name that is not one, invalid base64). <paramref name="message"/> must not change during the run.
    /// </summary>
    public SieveOutcome Run(ReadOnlyMemory<byte> message, Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var run = new Interpreter(message, envelope);
        run.Execute(_commands);
        return run.Outcome();
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>The state of one run: the message as edited so far and every action taken.</summary>
    private sealed class Interpreter(ReadOnlyMemory<byte> message, Envelope envelope)
    {
        private readonly ReadOnlyMemory<byte> _original = message;
        private readonly Envelope _originalEnvelope = envelope;
        private readonly MessageDraft _draft = MessageDraft.Parse(message, envelope);
        private readonly List<MessageEdit> _edits = [];
        private readonly List<string> _folders = [];
        private readonly List<string> _redirects = [];
        private readonly List<string> _tags = [];
        private readonly List<RefusedRecipient> _refused = [];
        private readonly List<string> _actions = [];
        private bool _implicitKeep = true;
        private bool _explicitKeep;
        private bool _stopped;
        private string? _quarantine;
        private SieveDisposition? _refusal;
        private SmtpReply? _reply;

        private IReadOnlyList<HeaderField> Fields => _draft.Fields;

        public SieveOutcome Outcome()
        {
            if (_refusal is { } refusal)
            {
                return new SieveOutcome
                {
                    Disposition = refusal,
                    Reply = _reply,
                    Message = _original.ToArray(),
                    Envelope = _originalEnvelope,
                    Actions = _actions,
                };
            }

            var keep = _explicitKeep || _implicitKeep;
            // Only discard, fileinto and redirect cancel the implicit keep, and the last two leave a folder or an address.
            var discard = !keep && _folders.Count == 0 && _redirects.Count == 0;
            return new SieveOutcome
            {
                Disposition = discard ? SieveDisposition.Discard : SieveDisposition.Deliver,
                Message = _draft.ToBytes(),
                Envelope = _draft.Envelope,
                Edits = _edits,
                Keep = keep,
                ExplicitKeep = _explicitKeep,
                Folders = _folders,
                Redirects = _redirects,
                Tags = _tags,
                QuarantineReason = _quarantine,
                RefusedRecipients = _refused,
                Actions = _actions,
            };
        }

        public void Execute(List<Call> commands)
        {
            var branchTaken = false;
            foreach (var command in commands)
            {
                if (_stopped)
                {
                    return;
                }

                switch (command.Name)
                {
                    case "if":
                        branchTaken = Test(command.Tests[0]);
                        if (branchTaken)
                        {
                            Execute(command.Block!);
                        }

                        continue;
                    case "elsif":
                        if (!branchTaken && Test(command.Tests[0]))
                        {
                            branchTaken = true;
                            Execute(command.Block!);
                        }

                        continue;
                    case "else":
                        if (!branchTaken)
                        {
                            Execute(command.Block!);
                        }

                        continue;
                    default:
                        Action(command);
                        break;
                }
            }
        }

        private void Action(Call command)
        {
            switch (command.Name)
            {
                case "stop":
                    _stopped = true;
                    return;
                case "keep":
                    _explicitKeep = true;
                    break;
                case "discard":
                    _implicitKeep = false;
                    break;
                case "fileinto":
                    _implicitKeep = false;
                    AddOnce(_folders, command.String(0));
                    break;
                case "redirect":
                    _implicitKeep = false;
                    AddOnce(_redirects, Address(command, command.String(0)));
                    break;
                case "reject":
                    // RFC 5429 reject: the text is the reason, the reply ours.
                    Refuse(SieveDisposition.Reject, new SmtpReply(550, "5.7.1", ReplyText.Lines(command.String(0))));
                    break;
                case "ereject":
                    var reply = ReplyText.OrDefault(command.String(0), 550, "5.7.1");
                    Refuse(reply.IsTransient ? SieveDisposition.TempFail : SieveDisposition.Reject, reply);
                    break;
                case "tempfail":
                    var temporary = ReplyText.TryParse(command.String(0));
                    if (temporary is { IsTransient: false })
                    {
                        throw command.Error($"tempfail needs a 4xx reply, not {temporary.Code.ToString(CultureInfo.InvariantCulture)}");
                    }

                    Refuse(SieveDisposition.TempFail, temporary ?? new SmtpReply(451, "4.7.1", ReplyText.Lines(command.String(0))));
                    break;
                case "quarantine":
                    _quarantine ??= command.String(0);
                    break;
                case "addtag":
                    _tags.Add(command.String(0));
                    break;
                case "addheader":
                    AddHeader(command);
                    break;
                case "deleteheader":
                    DeleteHeader(command);
                    break;
                case "insertheader":
                    Apply(new InsertHeader(Index(command), FieldName(command, command.String(0)), FieldValue(command, command.String(1), command.Has(":raw"))));
                    break;
                case "replaceheader":
                    Apply(new ChangeHeader(Index(command), FieldName(command, command.String(0)), FieldValue(command, command.String(1), command.Has(":raw"))));
                    break;
                case "addrecipient":
                    Apply(new AddRecipient(Address(command, command.String(0)), command.OptionalString(1)));
                    break;
                case "deleterecipient":
                    Apply(new DeleteRecipient(Address(command, command.String(0))));
                    break;
                case "changesender":
                    Apply(new ChangeSender(command.String(0), command.OptionalString(1)));
                    break;
                case "replacebody":
                    byte[] body;
                    try
                    {
                        body = Convert.FromBase64String(command.String(0));
                    }
                    catch (FormatException e)
                    {
                        throw command.Error("replacebody needs the new body in base64", e);
                    }

                    Apply(new ReplaceBody(body));
                    break;
                case "rejectrecipient":
                    if (!RejectRecipient(command))
                    {
                        _actions.Add(Describe(command) + ": not a recipient, ignored");
                        return;
                    }

                    break;
                default:
                    throw command.Error($"unsupported command \"{command.Name}\""); // the parser lets none through
            }

            if (_refusal is null)
            {
                _actions.Add(Describe(command));
            }
        }

        private void Refuse(SieveDisposition disposition, SmtpReply reply)
        {
            _refusal = disposition;
            _reply = reply;
            _stopped = true;
            _actions.Add($"{disposition.ToString().ToLowerInvariant()} {reply}");
        }

        private void AddHeader(Call command)
        {
            string name, value;
            if (command.Positional.Count == 2)
            {
                (name, value) = (command.String(0), command.String(1));
            }
            else
            {
                // Messaging Server's form: addheader "Name: value".
                var field = command.String(0);
                var colon = field.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw command.Error($"addheader with one argument needs \"Name: value\", not \"{field}\"");
                }

                (name, value) = (field[..colon], field[(colon + 1)..].TrimStart(' ', '\t'));
            }

            // RFC 5293: without :last the field goes on top. Messaging Server's one-argument form appends.
            var last = command.Has(":last") || command.Positional.Count == 1;
            name = FieldName(command, name);
            value = FieldValue(command, value, command.Has(":raw"));
            Apply(last ? new AddHeader(name, value) : new InsertHeader(0, name, value));
        }

        /// <summary>
        /// RFC 5293 deleteheader: every field of that name (or only the :index-th, counted from the end with
        /// :last) whose value matches one of the value patterns, if any were given. Deleted from the last to
        /// the first so that the indexes of the ChangeHeader edits stay right.
        /// </summary>
        private void DeleteHeader(Call command)
        {
            var name = command.String(0);
            var patterns = command.Strings(1);
            var occurrences = Fields.Where(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
            var candidates = Enumerable.Range(1, occurrences.Count).ToList();
            if (command.TagNumber(":index") is { } index)
            {
                var n = (int)Math.Clamp(index, 1, int.MaxValue); // 0 means 1, as in libmilter and Postfix
                var position = command.Has(":last") ? occurrences.Count - n + 1 : n;
                candidates = position >= 1 && position <= occurrences.Count ? [position] : [];
            }

            var matcher = Matcher.For(command);
            foreach (var i in candidates.Where(i => patterns.Count == 0 || matcher.Any(HeaderText.TestValue(occurrences[i - 1].Value), patterns)).Reverse().ToList())
            {
                Apply(new ChangeHeader(i, occurrences[i - 1].Name, null));
            }
        }

        /// <summary>
        /// Refuses one recipient of the envelope with its reply; the message goes on for the others. A
        /// recipient the envelope does not have (any more) is not refused: there is nobody to answer.
        /// </summary>
        private bool RejectRecipient(Call command)
        {
            var address = command.String(0);
            var reply = ReplyText.OrDefault(command.String(1), 550, "5.7.1");
            if (!_draft.Envelope.Recipients.Any(r => MailAddress.Same(r.Address, address)))
            {
                return false;
            }

            _draft.Apply(new DeleteRecipient(address));
            _refused.Add(new RefusedRecipient(MailAddress.Bare(address), reply));
            return true;
        }

        private void Apply(MessageEdit edit)
        {
            _draft.Apply(edit);
            _edits.Add(edit);
        }

        private bool Test(Call test)
        {
            switch (test.Name)
            {
                case "true": return true;
                case "false": return false;
                case "not": return !Test(test.Tests[0]);
                case "allof": return test.Tests.All(Test);
                case "anyof": return test.Tests.Any(Test);
                case "exists":
                    return test.Strings(0).All(name => Fields.Any(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase)));
                case "size":
                    return test.TagNumber(":over") is { } over ? _draft.Length > over : _draft.Length < test.TagNumber(":under")!.Value;
                case "header":
                {
                    var matcher = Matcher.For(test);
                    return test.Strings(0).Any(name => Fields
                        .Where(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                        .Any(f => matcher.Any(HeaderText.TestValue(f.Value), test.Strings(1))));
                }

                case "address":
                {
                    var matcher = Matcher.For(test);
                    var part = AddressPart(test);
                    return test.Strings(0).Any(name => Fields
                        .Where(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                        .SelectMany(f => HeaderValue.Addresses(f.Value))
                        .Any(a => matcher.Any(HeaderText.Part(a, part), test.Strings(1))));
                }

                case "envelope":
                {
                    var matcher = Matcher.For(test);
                    var part = AddressPart(test);
                    var current = _draft.Envelope;
                    var addresses = test.Strings(0).SelectMany(p => p.Equals("from", StringComparison.OrdinalIgnoreCase)
                        ? [MailAddress.Bare(current.MailFrom)]
                        : current.Recipients.Select(r => MailAddress.Bare(r.Address)));
                    return addresses.Any(a => matcher.Any(HeaderText.Part(a, part), test.Strings(1)));
                }

                default:
                    throw test.Error($"unsupported test \"{test.Name}\""); // the parser lets none through
            }
        }

        private static string AddressPart(Call test) =>
            test.Has(":localpart") ? ":localpart" : test.Has(":domain") ? ":domain" : ":all";

        private static int Index(Call command) => (int)Math.Clamp(command.TagNumber(":index")!.Value, 0, int.MaxValue);

        private static string FieldName(Call command, string name)
        {
            if (!HeaderSyntax.IsFieldName(Encoding.UTF8.GetBytes(name)) || name != name.Trim())
            {
                throw command.Error($"\"{name}\" is not a header field name");
            }

            return name;
        }

        /// <summary>
        /// A Sieve value becomes the editor's raw value, the exact text after the colon: RFC 5293 puts one
        /// space before the value; with <c>:raw</c> (vnd.spamfiltermilter) nothing is added, so a milter's
        /// value with no space, a tab or several blanks is written as it is. Line breaks (CRLF, or LF which
        /// becomes CRLF) must fold, i.e. be followed by a space or tab: any other CR or LF, or a NUL, would
        /// put a line of the script's making into the message, so it is refused.
        /// </summary>
        private static string FieldValue(Call command, string value, bool raw)
        {
            var text = value.Replace("\r\n", "\n", StringComparison.Ordinal);
            for (var i = text.IndexOf('\n', StringComparison.Ordinal); i >= 0; i = text.IndexOf('\n', i + 1))
            {
                if (i + 1 >= text.Length || text[i + 1] is not (' ' or '\t'))
                {
                    throw command.Error("a header value may break lines only to fold them (the next line must start with a space or tab)");
                }
            }

            if (text.Contains('\r', StringComparison.Ordinal) || text.Contains('\0', StringComparison.Ordinal))
            {
                throw command.Error("a header value may not hold a bare CR or a NUL");
            }

            return (raw ? string.Empty : " ") + text.Replace("\n", "\r\n", StringComparison.Ordinal);
        }

        private static string Address(Call command, string address)
        {
            if (MailAddress.Bare(address).Length == 0 || address.Contains('\n', StringComparison.Ordinal))
            {
                throw command.Error($"\"{address}\" is not an address");
            }

            return address;
        }

        private static string Describe(Call command)
        {
            var words = new List<string> { command.Name };
            foreach (var (tag, parameter) in command.Tags)
            {
                words.Add(tag);
                if (parameter is NumberArgument n)
                {
                    words.Add(n.Value.ToString(CultureInfo.InvariantCulture));
                }
                else if (parameter is StringsArgument s)
                {
                    words.Add(Quote(s.Values[0]));
                }
            }

            foreach (var argument in command.Positional.OfType<StringsArgument>())
            {
                var quoted = argument.Values.Select(v => Quote(command.Name == "replacebody" && v.Length > 40 ? v[..40] + "..." : v));
                words.Add(argument.IsList ? "[" + string.Join(", ", quoted) + "]" : string.Join(", ", quoted));
            }

            return string.Join(' ', words);
        }

        private static string Quote(string text) =>
            "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
                .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

        private static void AddOnce(List<string> list, string value)
        {
            if (!list.Contains(value, StringComparer.Ordinal))
            {
                list.Add(value);
            }
        }
    }

    /// <summary>A match type (:is, :contains, :matches) under a comparator (i;ascii-casemap by default, i;octet).</summary>
    private sealed class Matcher
    {
        private readonly string _type;
        private readonly Wildcard.CaseFolding _folding;

        private Matcher(string type, Wildcard.CaseFolding folding)
        {
            _type = type;
            _folding = folding;
        }

        public static Matcher For(Call call) => new(
            call.Has(":contains") ? ":contains" : call.Has(":matches") ? ":matches" : ":is",
            call.TagString(":comparator") == "i;octet" ? Wildcard.CaseFolding.None : Wildcard.CaseFolding.Ascii);

        public bool Any(string value, IReadOnlyList<string> keys) => keys.Any(key => IsMatch(value, key));

        private bool IsMatch(string value, string key) => _type switch
        {
            ":contains" => Fold(value).Contains(Fold(key), StringComparison.Ordinal),
            ":matches" => Wildcard.IsMatch(value, key, _folding),
            _ => string.Equals(Fold(value), Fold(key), StringComparison.Ordinal),
        };

        private string Fold(string text) =>
            _folding == Wildcard.CaseFolding.None ? text : string.Create(text.Length, text, (span, source) =>
            {
                for (var i = 0; i < source.Length; i++)
                {
                    span[i] = Wildcard.AsciiUpper(source[i]);
                }
            });
    }
}
