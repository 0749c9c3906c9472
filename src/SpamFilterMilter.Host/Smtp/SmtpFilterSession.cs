using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// Puts a filter (one <see cref="IFilterSession"/>, a milter) in front of an SMTP server the way Postfix's smtpd puts
/// its <c>smtpd_milters</c> there: the server calls this at each command and answers what it returns. The rules are
/// Postfix's (docs/smtp.md): a refusal at connect or HELO is given to every MAIL of the session (the greeting says
/// 554 for a permanent one, HELO still gets 250); MAIL, RCPT and DATA refusals are given at that command, a refused
/// recipient leaving the others; the end of DATA gets the verdict, the edits applied to the message and the envelope;
/// a 421 closes the session; a filter that fails answers with its configured failure action. Commands out of order
/// get Postfix's 503 and 554 replies (nested MAIL, RCPT or DATA without MAIL, DATA without a recipient) without the
/// filter hearing of them. Not thread-safe: one SMTP session, one caller at a time.
/// </summary>
public sealed class SmtpFilterSession : IAsyncDisposable
{
    private readonly IFilterSession _filter;
    private readonly string _serverName;
    private readonly List<EnvelopeRecipient> _recipients = [];

    private SmtpReply? _sessionRefusal;
    private bool _inTransaction;
    private string _sender = string.Empty;
    private IReadOnlyList<string> _senderParameters = [];
    private bool _closed;
    private IReadOnlyCollection<string> _droppedHeaderFields = PostfixStore.DefaultDroppedFields;

    /// <param name="filter">The filter's session; this object owns it and closes it.</param>
    /// <param name="serverName">The server's host name, for the greetings Postfix words with it.</param>
    public SmtpFilterSession(IFilterSession filter, string serverName)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentException.ThrowIfNullOrEmpty(serverName);
        _filter = filter;
        _serverName = serverName;
    }

    /// <summary>
    /// The header fields left out of each message before the filter sees it and before it is delivered, as Postfix's
    /// cleanup leaves out its <c>message_drop_headers</c>: by default <see cref="DefaultDroppedHeaderFields"/>, Postfix's
    /// (a client's <c>Bcc:</c> would show every recipient who else got the message; <c>Return-Path:</c> and
    /// <c>Content-Length:</c> belong to delivery). Only the message's own header section, never a MIME part's; a name
    /// matches in any case. Empty: every field is kept.
    /// </summary>
    /// <exception cref="ArgumentException">A name <see cref="CheckDroppedHeaderFields"/> refuses.</exception>
    public IReadOnlyCollection<string> DroppedHeaderFields
    {
        get => _droppedHeaderFields;
        init => _droppedHeaderFields = CheckDroppedHeaderFields(value);
    }

    /// <summary>Postfix's <c>message_drop_headers</c> default: <c>Bcc</c>, <c>Content-Length</c>, <c>Resent-Bcc</c>, <c>Return-Path</c>.</summary>
    public static IReadOnlyList<string> DefaultDroppedHeaderFields => PostfixStore.DefaultDroppedFields;

    /// <summary>
    /// A copy of <paramref name="names"/> to leave out of each message (<see cref="DroppedHeaderFields"/>), once each is
    /// checked: a header field's name alone (RFC 5322: printable ASCII but the colon, no blank; a list such as
    /// <c>bcc, content-length</c> is several names), neither a MIME field (<c>MIME-Version</c>, <c>Content-Type</c>,
    /// <c>Content-Transfer-Encoding</c>, <c>Content-ID</c>, <c>Content-Description</c>, <c>Content-Disposition</c>: Postfix
    /// keeps those whatever its <c>message_drop_headers</c> says, and a message without them is no longer the one that was
    /// sent) nor <c>Received</c> (the trace fields are what a mail loop is found by; Postfix would drop its own too).
    /// </summary>
    /// <exception cref="ArgumentException">A name that is none of those; its message names it and says why, for an administrator.</exception>
    public static IReadOnlyCollection<string> CheckDroppedHeaderFields(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        string[] copy = [.. names];
        foreach (var name in copy)
        {
            if (!HeaderSyntax.IsBareFieldName(name))
            {
                throw new ArgumentException($"'{name}' is not a header field name (printable ASCII, no colon, no blank; one name each).");
            }

            if (name.Equals("Received", StringComparison.OrdinalIgnoreCase) || MimeFields.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"'{name}' cannot be dropped: "
                    + (name.Equals("Received", StringComparison.OrdinalIgnoreCase) ? "the trace fields are what a mail loop is found by." : "a MIME field stays, as Postfix keeps it."));
            }
        }

        return copy;
    }

    /// <summary>The fields Postfix reads as MIME fields (header_opts.c, <c>HDR_OPT_MIME</c>), which it never drops.</summary>
    private static readonly string[] MimeFields =
        ["Content-Description", "Content-Disposition", "Content-ID", "Content-Transfer-Encoding", "Content-Type", "MIME-Version"];

    /// <summary>The reply Postfix gives DATA when no recipient was accepted.</summary>
    public static SmtpReply NoValidRecipients { get; } = new(554, "5.5.1", "Error: no valid recipients");

    /// <summary>The reply Postfix gives MAIL inside a transaction (after MAIL, until the message ends or RSET).</summary>
    public static SmtpReply NestedMail { get; } = new(503, "5.5.1", "Error: nested MAIL command");

    /// <summary>The reply Postfix gives RCPT outside a transaction.</summary>
    public static SmtpReply NeedMail { get; } = new(503, "5.5.1", "Error: need MAIL command");

    /// <summary>The reply Postfix gives DATA outside a transaction.</summary>
    public static SmtpReply NeedRcpt { get; } = new(503, "5.5.1", "Error: need RCPT command");

    /// <summary>The reply Postfix gives a command it does not know, when its filter does not refuse it otherwise.</summary>
    public static SmtpReply CommandNotRecognized { get; } = new(500, "5.5.2", "Error: command not recognized");

    /// <summary>The recipients accepted in the current transaction, in order.</summary>
    public IReadOnlyList<EnvelopeRecipient> Recipients => _recipients;

    /// <summary>
    /// A client connected: the answer is the greeting. A permanent refusal greets with 554 and refuses every MAIL with
    /// the filter's reply; a temporary one greets normally and refuses every MAIL; 421 greets with 421 and closes.
    /// </summary>
    public async ValueTask<SmtpAnswer> ConnectAsync(ClientInfo client, CancellationToken cancellationToken = default)
    {
        var decision = await _filter.ConnectAsync(client, cancellationToken).ConfigureAwait(false);
        if (Refusal(decision) is not { } reply)
        {
            return SmtpAnswer.Proceed;
        }

        if (reply.Code == 421)
        {
            return SmtpAnswer.Refuse(new SmtpReply(421, null, $"{_serverName} Service unavailable - try again later"));
        }

        _sessionRefusal = reply;
        return reply.Code >= 500 ? SmtpAnswer.Refuse(new SmtpReply(554, null, $"{_serverName} ESMTP not accepting connections")) : SmtpAnswer.Proceed;
    }

    /// <summary>HELO or EHLO: answered 250 unless the filter closes the session; a refusal is kept for MAIL.</summary>
    public async ValueTask<SmtpAnswer> HeloAsync(string heloName, CancellationToken cancellationToken = default)
    {
        if (_sessionRefusal is not null)
        {
            return SmtpAnswer.Proceed;
        }

        _inTransaction = false; // RFC 5321 §4.1.4: EHLO resets the transaction
        _recipients.Clear();
        var decision = await _filter.HeloAsync(heloName, cancellationToken).ConfigureAwait(false);
        if (Refusal(decision) is not { } reply)
        {
            return SmtpAnswer.Proceed;
        }

        if (reply.Code == 421)
        {
            return SmtpAnswer.Refuse(reply);
        }

        _sessionRefusal = reply;
        return SmtpAnswer.Proceed;
    }

    /// <summary>
    /// A command the server does not know, <paramref name="command"/> its first word (what Postfix's smtpd gives its
    /// milters): always refused, with the filter's refusal at its UNKNOWN stage, else <see cref="CommandNotRecognized"/>; a
    /// 421 closes the session. After a refusal at connect or HELO the filter is not asked.
    /// </summary>
    public async ValueTask<SmtpAnswer> UnknownAsync(string command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_sessionRefusal is not null)
        {
            return SmtpAnswer.Refuse(CommandNotRecognized);
        }

        var decision = await _filter.UnknownAsync(command, cancellationToken).ConfigureAwait(false);
        return SmtpAnswer.Refuse(Refusal(decision) ?? CommandNotRecognized);
    }

    /// <summary>
    /// MAIL FROM: the reverse-path (with or without angle brackets) and its ESMTP parameters, refused with Postfix's reply
    /// when one is not what Postfix takes (<see cref="ClientParameters"/>).
    /// </summary>
    public async ValueTask<SmtpAnswer> MailAsync(string reversePath, IReadOnlyList<string> parameters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (_sessionRefusal is { } refusal)
        {
            return SmtpAnswer.Refuse(refusal);
        }

        if (_inTransaction)
        {
            return SmtpAnswer.Refuse(NestedMail);
        }

        if (ClientParameters.MailRefusal(parameters) is { } badParameter)
        {
            return SmtpAnswer.Refuse(badParameter); // the filter never hears of it, as at Postfix
        }

        _recipients.Clear();
        var decision = await _filter.MailAsync(reversePath, parameters, cancellationToken).ConfigureAwait(false);
        if (Refusal(decision) is { } reply)
        {
            return SmtpAnswer.Refuse(reply);
        }

        _inTransaction = true;
        _sender = MailPath.Bare(reversePath);
        _senderParameters = parameters;
        return SmtpAnswer.Proceed;
    }

    /// <summary>RCPT TO: a refusal refuses this recipient only; its ESMTP parameters are checked as MAIL's are.</summary>
    public async ValueTask<SmtpAnswer> RcptAsync(string forwardPath, IReadOnlyList<string> parameters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!_inTransaction)
        {
            return SmtpAnswer.Refuse(NeedMail);
        }

        if (ClientParameters.RcptRefusal(parameters) is { } badParameter)
        {
            return SmtpAnswer.Refuse(badParameter);
        }

        var decision = await _filter.RcptAsync(forwardPath, parameters, cancellationToken).ConfigureAwait(false);
        if (Refusal(decision) is { } reply)
        {
            return SmtpAnswer.Refuse(reply);
        }

        _recipients.Add(new EnvelopeRecipient(MailPath.Bare(forwardPath), parameters));
        return SmtpAnswer.Proceed;
    }

    /// <summary>DATA: refused with Postfix's 554 when no recipient was accepted (the filter is not asked), else the filter decides.</summary>
    public async ValueTask<SmtpAnswer> DataAsync(CancellationToken cancellationToken = default)
    {
        if (!_inTransaction)
        {
            return SmtpAnswer.Refuse(NeedRcpt);
        }

        if (_recipients.Count == 0)
        {
            return SmtpAnswer.Refuse(NoValidRecipients);
        }

        var decision = await _filter.DataAsync(cancellationToken).ConfigureAwait(false);
        return Refusal(decision) is { } reply ? SmtpAnswer.Refuse(reply) : SmtpAnswer.Proceed;
    }

    /// <summary>
    /// The message after an accepted DATA (dot-stuffing removed): stores it as Postfix does (its CRs, mbox lines and
    /// header fields, less <see cref="DroppedHeaderFields"/>, docs/smtp.md), sends that to the filter and applies the verdict to it.
    /// <paramref name="traceField"/> is the server's own trace header field (a whole <c>Received:</c> field with its
    /// line ends), put on top of the message; the filter does not see it, yet its header insert positions count it,
    /// as Postfix's do.
    /// </summary>
    public async ValueTask<FilteredMessage> MessageAsync(Stream message, byte[]? traceField = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_inTransaction || _recipients.Count == 0)
        {
            throw new InvalidOperationException("The message comes after an accepted DATA.");
        }

        var whole = PostfixStore.AsStored(await ReadAfterAsync(traceField ?? [], message, cancellationToken).ConfigureAwait(false), traceField?.Length ?? 0,
            _droppedHeaderFields);
        HeaderField? hidden = traceField is null ? null : MessageEditor.ReadFields(traceField)[0];
        FilterVerdict verdict;
        using (var content = new MemoryStream(whole, writable: false))
        {
            verdict = await _filter.MessageAsync(content, hidden, cancellationToken).ConfigureAwait(false);
        }

        _inTransaction = false;
        try
        {
            var envelope = new Envelope(_sender, _senderParameters, [.. _recipients]);
            _recipients.Clear();
            if (Refusal(verdict.Action, verdict.Reply) is { } refusal)
            {
                var refused = verdict.Action == FilterAction.Reject ? Disposition.Reject : Disposition.TempFail;
                return new FilteredMessage(SmtpAnswer.Refuse(refusal), refused, envelope, whole, verdict);
            }

            if (verdict.Action == FilterAction.Discard)
            {
                return new FilteredMessage(SmtpAnswer.Proceed, Disposition.Discard, envelope, whole, verdict);
            }

            var edited = MessageEditor.Apply(whole.AsMemory(), envelope, verdict.Edits, hidden);
            // The filter deleted every recipient: Postfix takes the message (250) and drops it without a word, or holds it
            // when it was quarantined too (seen live, the randomized differential); delivered, it would go to no one, and
            // no next hop takes a MAIL without a RCPT.
            var disposition = verdict.QuarantineReason is not null ? Disposition.Quarantine
                : edited.Envelope.Recipients.Count == 0 ? Disposition.Discard : Disposition.Deliver;
            return new FilteredMessage(SmtpAnswer.Proceed, disposition, edited.Envelope, edited.Message, verdict);
        }
        finally
        {
            verdict.DisposeBodies();
        }
    }

    /// <summary>RSET, or the server gave up on the transaction.</summary>
    public async ValueTask ResetAsync(CancellationToken cancellationToken = default)
    {
        if (_inTransaction)
        {
            await _filter.AbortAsync(cancellationToken).ConfigureAwait(false);
        }

        _inTransaction = false;
        _recipients.Clear();
    }

    /// <summary>QUIT or the connection ended.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        if (!_closed)
        {
            _closed = true;
            await _filter.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the filter's session (if not yet) and disposes it.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _filter.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The reply that refuses the command, or null when the decision lets it through.</summary>
    private static SmtpReply? Refusal(StageDecision decision) => Refusal(decision.Action, decision.Reply);

    /// <summary>
    /// The reply a filter's REJECT or TEMPFAIL refuses with (its own, else Postfix's default wording), at any stage and
    /// at the end of the message; null for the actions that do not refuse.
    /// </summary>
    private static SmtpReply? Refusal(FilterAction action, SmtpReply? reply) => action switch
    {
        FilterAction.Reject => reply ?? SmtpReply.DefaultReject,
        FilterAction.TempFail => reply ?? SmtpReply.DefaultTempFail,
        _ => null,
    };

    /// <summary>
    /// <paramref name="prefix"/> and then the rest of <paramref name="message"/>, in one array: read straight into it
    /// when the stream knows its length (a message the server holds in memory), else through one growing buffer.
    /// </summary>
    private static async ValueTask<byte[]> ReadAfterAsync(byte[] prefix, Stream message, CancellationToken cancellationToken)
    {
        if (message.CanSeek)
        {
            var whole = new byte[prefix.Length + (message.Length - message.Position)];
            prefix.CopyTo(whole, 0);
            await message.ReadExactlyAsync(whole.AsMemory(prefix.Length), cancellationToken).ConfigureAwait(false);
            return whole;
        }

        using var copy = new MemoryStream();
        copy.Write(prefix);
        await message.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        return copy.ToArray();
    }
}
