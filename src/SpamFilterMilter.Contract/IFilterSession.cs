namespace SpamFilterMilter.Contract;

/// <summary>
/// One SMTP session as the filter sees it, driven stage by stage by the host's SMTP server.
/// Each call returns the filter's decision for that stage. Calls must follow SMTP order
/// (connect, HELO*, then per transaction MAIL, RCPT+, DATA, headers, end of headers, body chunks,
/// end of message; abort at any point of a transaction); a call out of order is a host bug and
/// throws <see cref="InvalidOperationException"/>. A filter failure is never thrown: it is a
/// decision whose <see cref="StageDecision.Failure"/> is set, and every later call answers the same
/// at once. Not thread-safe: one caller at a time, as in an SMTP session.
/// </summary>
public interface IFilterSession : IAsyncDisposable
{
    /// <summary>
    /// Sets a macro the filter may ask for (<c>j</c>, <c>_</c>, <c>v</c>, <c>{daemon_name}</c>,
    /// <c>{auth_authen}</c>, <c>{tls_version}</c>, …). Single-character names may be given bare,
    /// longer ones with or without braces. A null value removes it. Values persist for the session and
    /// win over the ones the session derives itself: <c>_</c>, <c>j</c>, <c>{client_addr}</c> … from the
    /// <see cref="ClientInfo"/>, <c>{mail_addr}</c>, <c>{rcpt_addr}</c> etc. from the stage calls, and
    /// <c>i</c> per message. Which macros go with which stage is the filter's configuration.
    /// </summary>
    void SetMacro(string name, string? value);

    /// <summary>The client connected (SMTP connection accepted).</summary>
    ValueTask<StageDecision> ConnectAsync(ClientInfo client, CancellationToken cancellationToken = default);

    /// <summary>HELO or EHLO with the name the client gave. May be called again later.</summary>
    ValueTask<StageDecision> HeloAsync(string heloName, CancellationToken cancellationToken = default);

    /// <summary>MAIL FROM: the reverse-path (with or without angle brackets; empty for the null sender) and each ESMTP parameter (e.g. <c>SIZE=1234</c>).</summary>
    ValueTask<StageDecision> MailAsync(string reversePath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default);

    /// <summary>RCPT TO: one recipient and its ESMTP parameters. A reject or tempfail applies to this recipient only.</summary>
    ValueTask<StageDecision> RcptAsync(string forwardPath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// A recipient the host itself refused (unknown user, relaying denied, …), with the reply it gave.
    /// Filters that asked for them (SMFIP_RCPT_REJ) see it as a RCPT with <c>{rcpt_mailer}</c> =
    /// <c>error</c>, <c>{rcpt_host}</c> = the enhanced status code and <c>{rcpt_addr}</c> = the reply
    /// text; others see nothing. The filter cannot change the refusal: the decision is Continue unless
    /// the filter failed.
    /// </summary>
    ValueTask<StageDecision> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// An SMTP command the host does not know (the whole line). The filter can only change the reply
    /// the host gives (the command is refused anyway): a Reject or TempFail carries its reply.
    /// </summary>
    ValueTask<StageDecision> UnknownAsync(string commandLine, CancellationToken cancellationToken = default);

    /// <summary>The DATA command was accepted.</summary>
    ValueTask<StageDecision> DataAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// One header field, in message order, repeated names kept. <paramref name="value"/> is the raw
    /// text after the colon: leading white space and folding line breaks (CRLF or LF) included.
    /// </summary>
    ValueTask<StageDecision> HeaderAsync(string name, string value, CancellationToken cancellationToken = default);

    /// <summary>The header section ended.</summary>
    ValueTask<StageDecision> EndOfHeadersAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// A piece of the body (after the blank line), any size, SMTP dot-stuffing already removed.
    /// Bare LF line ends are sent as CRLF. The chunk may be reused by the caller once the call returns.
    /// Body bytes travel in packets of the largest size the filter accepts, so a small chunk may not
    /// reach the filter until more follows or the message ends; its decision then comes with
    /// <see cref="EndOfMessageAsync"/> (<see cref="FilterVerdict.DecidedAt"/> says "body").
    /// </summary>
    ValueTask<StageDecision> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default);

    /// <summary>The message ended: returns the filter's verdict, including its edits.</summary>
    ValueTask<FilterVerdict> EndOfMessageAsync(CancellationToken cancellationToken = default);

    /// <summary>The current transaction was abandoned (RSET, or the host gave up on the message).</summary>
    ValueTask AbortAsync(CancellationToken cancellationToken = default);

    /// <summary>The SMTP session ended (QUIT or disconnect). Later calls are host bugs.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken = default);
}
