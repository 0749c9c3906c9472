using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// One copy of the message on its way through the slots, for a group of recipients: the bytes and envelope
/// as edited so far and what the actions decided.
/// </summary>
internal sealed class MessageCopy(OriginalMessage original, List<string> recipients, byte[] message, Envelope envelope)
{
    private readonly List<string> _folders = [];
    private readonly List<string> _redirects = [];
    private readonly List<string> _tags = [];
    private readonly List<RefusedRecipient> _refused = [];
    private readonly List<RefusedRecipient> _toSplit = [];
    private bool _keep = true;
    private bool _explicitKeep;
    private string? _quarantine;
    private SmtpReply? _reply;
    private bool _splitAway;

    /// <summary>The original envelope recipients (bare) this copy is for.</summary>
    public List<string> Recipients { get; } = recipients;

    public byte[] Message { get; private set; } = message;

    public Envelope Envelope { get; private set; } = envelope;

    public List<int> Slots { get; } = [];

    public Disposition? Ended { get; private set; }

    /// <summary>True when the copy is for nobody any more: every recipient was refused and has a result of its own.</summary>
    public bool IsEmpty => _splitAway && Recipients.Count == 0 && Envelope.Recipients.Count == 0 && Ended is null;

    /// <summary>Moves <paramref name="selected"/> into a new copy that carries everything decided so far.</summary>
    public MessageCopy Split(IReadOnlyList<EnvelopeRecipient> selected)
    {
        var moving = Recipients.Where(r => selected.Any(s => MailPath.Same(s.Address, r))).ToList();
        Recipients.RemoveAll(moving.Contains);
        var copy = new MessageCopy(original, moving, Message, Envelope with { Recipients = selected.ToList() })
        {
            _keep = _keep,
            _explicitKeep = _explicitKeep,
            _quarantine = _quarantine,
        };
        copy._folders.AddRange(_folders);
        copy._redirects.AddRange(_redirects);
        copy._tags.AddRange(_tags);
        copy.Slots.AddRange(Slots);
        Envelope = Envelope with { Recipients = Envelope.Recipients.Where(r => !selected.Contains(r)).ToList() };
        return copy;
    }

    /// <summary>
    /// Gives each original recipient the last slot refused (<c>rejectrecipient</c>) a result of its own,
    /// a refusal with its reply and the original message; a copy whose every recipient was refused is
    /// refused too (it never becomes an empty delivery).
    /// </summary>
    public List<MessageCopy> SplitRefused(List<string> log)
    {
        var split = new List<MessageCopy>();
        foreach (var refused in _toSplit)
        {
            var own = Recipients.FirstOrDefault(r => MailPath.Same(r, refused.Address));
            if (own is null)
            {
                continue; // a recipient a slot added: refused in this copy's RefusedRecipients only
            }

            Recipients.Remove(own);
            _splitAway = true;
            var alone = new MessageCopy(original, [own], original.Message, original.For([own]));
            alone.Slots.AddRange(Slots);
            alone._refused.Add(refused);
            alone.End(refused.Reply.IsTransient ? Disposition.TempFail : Disposition.Reject, refused.Reply);
            split.Add(alone);
        }

        if (_toSplit.Count > 0 && Envelope.Recipients.Count == 0 && Recipients.Count > 0 && Ended is null)
        {
            var first = _toSplit[0].Reply;
            End(first.IsTransient ? Disposition.TempFail : Disposition.Reject, first);
            log.Add($"every recipient of the copy for {Who()} is refused: {first}");
        }

        _toSplit.Clear();
        return split;
    }

    /// <summary>Ends the copy with a refusal: it carries the original message and envelope from here on.</summary>
    public void End(Disposition disposition, SmtpReply? reply)
    {
        Ended = disposition;
        _reply = reply;
        Message = original.Message;
        if (Recipients.Count > 0)
        {
            Envelope = original.For(Recipients);
        }
    }

    /// <summary>Merges a script's outcome; returns what it meant, in words.</summary>
    public string Take(SieveOutcome outcome)
    {
        switch (outcome.Disposition)
        {
            case SieveDisposition.Reject:
                End(Disposition.Reject, outcome.Reply);
                return $"reject {outcome.Reply}";
            case SieveDisposition.TempFail:
                End(Disposition.TempFail, outcome.Reply);
                return $"tempfail {outcome.Reply}";
        }

        // Deliver or discard: as in one Sieve script, a discard only cancels the implicit keep; whether
        // anything keeps, files or redirects the message is decided once every slot has run.
        Message = outcome.Message;
        Envelope = outcome.Envelope;
        _keep &= outcome.Keep;
        _explicitKeep |= outcome.ExplicitKeep;
        _quarantine ??= outcome.QuarantineReason;
        _folders.AddRange(outcome.Folders.Where(f => !_folders.Contains(f)));
        _redirects.AddRange(outcome.Redirects.Where(r => !_redirects.Contains(r)));
        _tags.AddRange(outcome.Tags);
        _refused.AddRange(outcome.RefusedRecipients);
        _toSplit.AddRange(outcome.RefusedRecipients);
        var words = new List<string>();
        if (outcome.Disposition == SieveDisposition.Discard)
        {
            words.Add("discard");
        }

        if (outcome.Edits.Count > 0)
        {
            words.Add($"{outcome.Edits.Count} edit{(outcome.Edits.Count == 1 ? "" : "s")}");
        }

        words.AddRange(outcome.Folders.Select(f => $"fileinto {f}"));
        words.AddRange(outcome.Redirects.Select(r => $"redirect {r}"));
        words.AddRange(outcome.Tags.Select(t => $"tag {t}"));
        words.AddRange(outcome.RefusedRecipients.Select(r => $"refuse <{r.Address}> {r.Reply}"));
        if (outcome.QuarantineReason is { } reason)
        {
            words.Add($"quarantine ({reason})");
        }

        words.Add(outcome.Keep ? "keep" : "implicit keep cancelled");
        return string.Join(", ", words);
    }

    public DeliveryResult Finish(List<string> log)
    {
        var keep = _keep || _explicitKeep;
        if (Ended is null && !keep && _folders.Count == 0 && _redirects.Count == 0 && _quarantine is null)
        {
            End(Disposition.Discard, null); // discarded, and no slot kept, filed or redirected it
        }

        if (Ended is { } ended)
        {
            log.Add($"result for {Who()}: {ended.ToString().ToLowerInvariant()}{(_reply is null ? "" : " " + _reply)}");
            return new DeliveryResult
            {
                Recipients = Recipients,
                Disposition = ended,
                Reply = _reply,
                Message = Message,
                Envelope = Envelope,
                RefusedRecipients = _refused,
                Slots = Slots,
            };
        }

        var message = SubjectTags.Apply(Message, _tags);
        var disposition = _quarantine is null ? Disposition.Deliver : Disposition.Quarantine;
        var where = new List<string>();
        if (keep)
        {
            where.Add("inbox");
        }

        where.AddRange(_folders.Select(f => $"folder {f}"));
        where.AddRange(_redirects.Select(r => $"redirect to {r}"));
        log.Add($"result for {Who()}: {(disposition == Disposition.Quarantine ? $"quarantine ({_quarantine})" : "deliver")}{(where.Count == 0 ? "" : " to " + string.Join(", ", where))}");
        return new DeliveryResult
        {
            Recipients = Recipients,
            Disposition = disposition,
            QuarantineReason = _quarantine,
            Message = message,
            Envelope = Envelope,
            Keep = keep,
            Folders = _folders,
            Redirects = _redirects,
            Tags = _tags,
            RefusedRecipients = _refused,
            Slots = Slots,
        };
    }

    private string Who() => string.Join(", ", (Recipients.Count > 0 ? Recipients : Envelope.Recipients.Select(r => MailPath.Bare(r.Address))).Select(r => $"<{r}>"));
}
