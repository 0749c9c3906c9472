namespace SpamFilterMilter.Contract;

/// <summary>
/// One SMTP session as the filter sees it, driven stage by stage by the host's SMTP server: each call returns the
/// filter's decision for that stage (<see cref="StageDecision"/>: its <see cref="StageDecision.Scope"/> and
/// <see cref="StageDecision.ClosesSession"/> say what the server does, without reading codes). The host calls in the
/// order its SMTP client's commands come, whatever they are; the session keeps the transaction state itself:
/// <list type="table">
/// <listheader><term>Call</term><description>When</description></listheader>
/// <item><term><see cref="ConnectAsync"/></term><description>First, once. Any other call before it throws (<see cref="CloseAsync"/> and disposing excepted).</description></item>
/// <item><term><see cref="HeloAsync"/></term><description>Any time after connect, again and again (EHLO after STARTTLS). Inside a transaction it ends the transaction first (RFC 5321 §4.1.4).</description></item>
/// <item><term><see cref="MailAsync"/></term><description>Any time after connect (HELO is optional): also right after a refused MAIL, a refused or ended message, or while a transaction is open, which it then ends first (as RSET would). Many transactions per session.</description></item>
/// <item><term><see cref="RcptAsync"/>, <see cref="RcptRejectedAsync"/></term><description>After MAIL, until DATA is accepted (also after DATA was answered for a transaction without recipients). Without MAIL they throw.</description></item>
/// <item><term><see cref="DataAsync"/></term><description>After MAIL. When no recipient of the transaction was accepted (all refused by the filter or by the host) the filter is not asked, as Postfix does not ask it: the decision is Continue (the server refuses DATA itself, 554), and more RCPTs and another DATA may follow; content may not.</description></item>
/// <item><term><see cref="HeaderAsync"/>, <see cref="EndOfHeadersAsync"/>, <see cref="BodyAsync"/>, <see cref="EndOfMessageAsync"/>, or <see cref="MessageAsync"/> for all of them</term><description>After an accepted DATA (headers, then end of headers, then body, then end of message). Without one they throw. After the end of the message the transaction is over.</description></item>
/// <item><term><see cref="UnknownAsync"/></term><description>After connect, outside the content of a message.</description></item>
/// <item><term><see cref="AbortAsync"/></term><description>Anywhere after connect (RSET, or the host gave up on the message); outside a transaction it does nothing.</description></item>
/// <item><term><see cref="CloseAsync"/></term><description>Anywhere, any number of times; every call after it (but <see cref="CloseAsync"/>) throws.</description></item>
/// </list>
/// A decision that settles the message (<see cref="DecisionScope.Message"/>: a refused MAIL, a message rejected at a
/// header, …) holds for the rest of that transaction: later calls of it answer the same without asking the filter,
/// and the next MAIL starts afresh. A decision for the session, and a filter failure (a decision whose
/// <see cref="StageDecision.Failure"/> is set: a failure is never thrown), hold for every later call, answered at once.
/// <see cref="InvalidOperationException"/> is thrown only for orders no SMTP server produces (listed above); the
/// filter then sees nothing of the call. Not thread-safe: one caller at a time, as in an SMTP session.
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

    /// <summary>HELO or EHLO with the name the client gave. May be called again later; inside a transaction it ends the transaction first.</summary>
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
    /// One header field, in message order, repeated names kept (<see cref="MessageHeaderReader"/> reads them so).
    /// <paramref name="value"/> is the exact bytes after the colon: leading white space and folding line breaks
    /// (CRLF or LF) included, 8-bit bytes as they are. The filter gets them byte for byte, as Postfix sends them:
    /// one leading space removed (unless it negotiated SMFIP_HDR_LEADSPC), each fold a bare LF. A string converts
    /// to <see cref="RawText"/> as UTF-8.
    /// </summary>
    ValueTask<StageDecision> HeaderAsync(string name, RawText value, CancellationToken cancellationToken = default);

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

    /// <summary>
    /// The content of the message after an accepted DATA, in place of <see cref="HeaderAsync"/> …
    /// <see cref="EndOfMessageAsync"/>: <paramref name="message"/> is the raw message as the client sent it after DATA
    /// (header section, blank line, body; CRLF or LF line ends; SMTP dot-stuffing already removed and the final
    /// <c>.</c> line not included), read forward once. The session splits it into header fields and body as Postfix
    /// does, sends each header field, the end of the headers, the body and the end of the message, and returns the
    /// verdict. When the filter decides before the end (a reject at a header, an accept at the end of the headers, a
    /// failure), reading stops there and the verdict says where (<see cref="FilterVerdict.DecidedAt"/>): the rest of
    /// the stream is left unread, and the host still reads the rest of DATA from its client before it replies. Either
    /// way the transaction is over when this returns. The caller keeps ownership of the stream.
    /// </summary>
    /// <param name="message">The content after DATA.</param>
    /// <param name="hiddenTraceHeader">
    /// The host's own trace header (its Received:) when it put one in <paramref name="message"/>, exactly as it stands
    /// there: the filter is not shown it, as Postfix does not show its own (see <see cref="MessageSubmission.HiddenTraceHeader"/>).
    /// </param>
    /// <param name="cancellationToken">The host's cancellation.</param>
    ValueTask<FilterVerdict> MessageAsync(Stream message, HeaderField? hiddenTraceHeader = null, CancellationToken cancellationToken = default);

    /// <summary>The current transaction was abandoned (RSET, or the host gave up on the message); outside a transaction nothing happens.</summary>
    ValueTask AbortAsync(CancellationToken cancellationToken = default);

    /// <summary>The SMTP session ended (QUIT or disconnect). A second call does nothing; any other call after it throws.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken = default);
}
