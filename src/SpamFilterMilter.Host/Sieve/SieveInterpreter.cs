using System.Globalization;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using Dialect = SpamFilterMilter.Contract.ActionStringDialect;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// The state of one run of a <see cref="SieveScript"/>: the message as edited so far and every action taken.
/// Commands run here; the tests they branch on are <see cref="SieveConditions"/>. <paramref name="verdictBody"/> is
/// what <c>replacebody :verdict</c> stands for (<see cref="FilterVerdict.ReplacementBody"/>), null when there is none;
/// <paramref name="hiddenTraceHeader"/> the host's own trace header the filter was not shown, which header edits by
/// index count as Postfix does (<see cref="MessageEditor"/>), null when there is none.
/// </summary>
internal sealed class SieveInterpreter(ReadOnlyMemory<byte> message, Envelope envelope, MessageBody? verdictBody, HeaderField? hiddenTraceHeader)
{
    private readonly ReadOnlyMemory<byte> _original = message;
    private readonly Envelope _originalEnvelope = envelope;
    private readonly MessageDraft _draft = MessageDraft.Parse(message, envelope, hiddenTraceHeader);
    private readonly List<MessageEdit> _edits = [];
    private readonly List<string> _folders = [];
    private readonly List<string> _redirects = [];
    private readonly List<string> _tags = [];
    private readonly List<RefusedRecipient> _refused = [];
    private readonly List<string> _actions = [];
    private int _notesTaken;
    private bool _implicitKeep = true;
    private bool _explicitKeep;
    private bool _stopped;
    private string? _quarantine;
    private SieveDisposition? _refusal;
    private SmtpReply? _reply;

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
                    branchTaken = SieveConditions.Holds(command.Tests[0], _draft);
                    if (branchTaken)
                    {
                        Execute(command.Block!);
                    }

                    continue;
                case "elsif":
                    if (!branchTaken && SieveConditions.Holds(command.Tests[0], _draft))
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
                AddOnce(_redirects, EditArguments.Address(command, command.String(0)));
                break;
            case "reject":
                // RFC 5429 reject: the text is the reason, the reply ours.
                Refuse(SieveDisposition.Reject, new SmtpReply(550, "5.7.1", ReplyText.Lines(command.String(0))));
                break;
            case "ereject":
                var reply = ReplyText.OrDefault(command.String(0), 550, "5.7.1");
                Refuse(reply.IsTransient ? SieveDisposition.TempFail : SieveDisposition.Reject, reply);
                break;
            case Dialect.TempFail:
                var temporary = ReplyText.TryParse(command.String(0));
                if (temporary is { IsTransient: false })
                {
                    throw command.Error($"tempfail needs a 4xx reply, not {temporary.Code.ToString(CultureInfo.InvariantCulture)}");
                }

                Refuse(SieveDisposition.TempFail, temporary ?? new SmtpReply(451, "4.7.1", ReplyText.Lines(command.String(0))));
                break;
            case Dialect.Quarantine:
                _quarantine ??= EditArguments.Text(command, command.String(0), "the quarantine reason");
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
            case Dialect.InsertHeader:
                Apply(new InsertHeader(EditArguments.Index(command), EditArguments.FieldName(command, command.String(0)), EditArguments.FieldValue(command, command.String(1))));
                break;
            case Dialect.ReplaceHeader:
                Apply(new ChangeHeader(EditArguments.Index(command), EditArguments.FieldName(command, command.String(0)), EditArguments.FieldValue(command, command.String(1))));
                break;
            case Dialect.AddRecipient:
                Apply(new AddRecipient(EditArguments.Address(command, command.String(0), nullAllowed: true), Parameters(command, 1)));
                break;
            case Dialect.DeleteRecipient:
                Apply(new DeleteRecipient(EditArguments.Address(command, command.String(0))));
                break;
            case Dialect.ChangeSender:
                Apply(new ChangeSender(EditArguments.Sender(command, command.String(0)), Parameters(command, 1)));
                break;
            case Dialect.ReplaceBody:
                Apply(new ReplaceBody(ReplacementBody(command)));
                break;
            case Dialect.RejectRecipient:
                if (!RejectRecipient(command))
                {
                    _actions.Add(command.Describe() + ": not a recipient, ignored");
                    return;
                }

                break;
            default:
                throw command.Error($"unsupported command \"{command.Name}\""); // the parser lets none through
        }

        if (_refusal is null)
        {
            _actions.Add(command.Describe());
            for (; _notesTaken < _draft.Notes.Count; _notesTaken++)
            {
                _actions.Add($"  {_draft.Notes[_notesTaken]}"); // what of the command did not take effect, under it
            }
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
        name = EditArguments.FieldName(command, name);
        var bytes = EditArguments.FieldValue(command, value);
        Apply(last ? new AddHeader(name, bytes) : new InsertHeader(0, name, bytes));
    }

    /// <summary>
    /// RFC 5293 deleteheader: every field of that name (or only the :index-th, counted from the end with
    /// :last) whose value matches one of the value patterns, if any were given. Deleted from the last to
    /// the first so that the indexes of the ChangeHeader edits stay right. The host's hidden trace header is
    /// not one of them: ChangeHeader does not count it.
    /// </summary>
    private void DeleteHeader(Call command)
    {
        var name = command.String(0);
        var patterns = command.Strings(1);
        var occurrences = _draft.Countable(name).ToList();
        var candidates = Enumerable.Range(1, occurrences.Count).ToList();
        if (command.TagNumber(":index") is { } index)
        {
            var n = (int)Math.Clamp(index, 1, int.MaxValue); // 0 means 1, as in libmilter and Postfix
            var position = command.Has(":last") ? occurrences.Count - n + 1 : n;
            candidates = position >= 1 && position <= occurrences.Count ? [position] : [];
        }

        var matcher = SieveMatcher.For(command);
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
        // The host's own rule (any case), not SMFIR_DELRCPT's exact one: each recipient it names is deleted by its own address.
        var refused = _draft.Envelope.Recipients.Where(r => MailPath.Same(r.Address, address)).Select(r => r.Address).Distinct(StringComparer.Ordinal).ToList();
        if (refused.Count == 0)
        {
            return false;
        }

        foreach (var recipient in refused)
        {
            _draft.Apply(new DeleteRecipient(recipient));
        }

        _refused.Add(new RefusedRecipient(MailPath.Bare(address), reply));
        return true;
    }

    /// <summary>The body <c>replacebody</c> gives: the verdict's (<see cref="Dialect.VerdictTag"/>), or decoded from its base64 argument.</summary>
    private MessageBody ReplacementBody(Call command)
    {
        if (command.Has(Dialect.VerdictTag))
        {
            return verdictBody ?? throw command.Error($"{Dialect.ReplaceBody} {Dialect.VerdictTag} needs a verdict that replaces the body; there is none");
        }

        try
        {
            return Convert.FromBase64String(command.String(0));
        }
        catch (FormatException e)
        {
            throw command.Error("replacebody needs the new body in base64", e);
        }
    }

    private void Apply(MessageEdit edit)
    {
        _draft.Apply(edit);
        _edits.Add(edit);
    }


    private static void AddOnce(List<string> list, string value)
    {
        if (!list.Contains(value, StringComparer.Ordinal))
        {
            list.Add(value);
        }
    }

    /// <summary>
    /// The ESMTP parameters of <c>addrecipient</c> and <c>changesender</c>: a string list, one parameter per entry, as
    /// the plug-in writes it; a hand-written script may also give one space-separated string (or list entries holding
    /// several), which is split as a milter's argument string is (<see cref="EsmtpParameters.Split"/>).
    /// </summary>
    private static IReadOnlyList<string> Parameters(Call command, int index) =>
        [.. command.Strings(index).SelectMany(text => EsmtpParameters.Split(EditArguments.Text(command, text, "the ESMTP parameters")))];
}
