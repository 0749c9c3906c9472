using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// The MTA side of one milter connection: one state machine, one gate per event. Each event sends its macros
/// (even when a NO* step suppresses the command, as sendmail and Postfix do), then the command unless suppressed,
/// and reads the answer unless an NR_* step says there is none; decisions are kept by <see cref="SessionDecisions"/>.
/// The bytes are <see cref="CommandEncoder"/>'s and <see cref="BodyPacketizer"/>'s, the I/O and the answers
/// <see cref="MilterChannel"/>'s. Any failure breaks the session for good: every later call throws the same
/// <see cref="MilterProtocolException"/>. Calls out of SMTP order are caller bugs and throw
/// <see cref="InvalidOperationException"/>. Not thread-safe.
/// </summary>
internal sealed class MilterSession : IAsyncDisposable
{
    private static readonly ReadOnlyMemory<byte> FinalLineEnd = "\r\n"u8.ToArray();

    private readonly MilterChannel _channel;
    private readonly MilterSessionSettings _settings;
    private readonly ILogger _logger;
    private readonly SessionDecisions _decisions = new();
    private readonly BodyPacketizer _body = new();
    private NegotiatedOptions? _options;
    private SessionState _state;

    // Whether libmilter would take SMFIC_QUIT_NC (and the CONNECT after it) now: see ReadyForQuitNc.
    private bool _quitNcAccepted;

    // Postfix's sequencing (smtpd.c helo_reset and mail_reset, milter8.c milter8_abort): a HELO was given (a later
    // HELO, and the end of the session, send ABORT), a MAIL was given whose transaction has not been reset yet (its
    // reset sends ABORT), and the ABORTs owed so far, written in front of the next command but never in front of
    // SMFIC_QUIT_NC (from the end of a message libmilter ignores ABORT but then ignores QUIT_NC too).
    private bool _heloGiven;
    private bool _mailPending;
    private int _abortsOwed;

    // Recipients of the current transaction not refused: DATA without any is not the milter's to see (Postfix).
    private int _acceptedRecipients;

    /// <param name="stream">The connection to the milter.</param>
    /// <param name="endpoint">The milter, as log lines name it.</param>
    /// <param name="settings">Limits and switches.</param>
    /// <param name="logger">Where warnings and traffic go.</param>
    /// <param name="control">The connection's controls (<see cref="IConnectionControl"/>).</param>
    /// <param name="macros">The macro values to send; a new table when null.</param>
    /// <param name="negotiated">For a connection reused after SMFIC_QUIT_NC: what was negotiated on it; the session then starts at CONNECT.</param>
    public MilterSession(Stream stream, string endpoint, MilterSessionSettings settings, ILogger logger, IConnectionControl? control = null,
        MacroTable? macros = null, NegotiatedOptions? negotiated = null)
    {
        _channel = new MilterChannel(stream, endpoint, settings, logger, control);
        _settings = settings;
        _logger = logger;
        Macros = macros ?? new MacroTable();
        if (negotiated is not null)
        {
            _options = negotiated;
            _channel.Use(negotiated);
            _state = SessionState.Negotiated;
        }
    }

    /// <summary>The milter, as log lines name it.</summary>
    public string Endpoint => _channel.Endpoint;

    /// <summary>What was negotiated; null before <see cref="NegotiateAsync"/>.</summary>
    public NegotiatedOptions? Options => _options;

    /// <summary>The macro values this session sends.</summary>
    public MacroTable Macros { get; }

    /// <summary>The failure that broke the session, or null.</summary>
    public MilterProtocolException? Failure => _channel.Failure;

    /// <summary>A quarantine reason the milter gave during the current message, at any stage.</summary>
    public string? QuarantineReason => _decisions.QuarantineReason;

    /// <summary>Where the decision that holds for the current (or last) message was made: the end of the message unless earlier.</summary>
    public FilterStage DecidedAt => _decisions.DecidedAt;

    /// <summary>The queue id (macro <c>i</c>) of the current or last message.</summary>
    public string? QueueId => Macros.QueueId;

    /// <summary>True between MAIL and the end of the message.</summary>
    public bool InMessage => _state is SessionState.Envelope or SessionState.Headers or SessionState.Body;

    /// <summary>True after an accepted DATA and before the end of the headers: the message's content may come.</summary>
    public bool AwaitsHeaders => _state == SessionState.Headers;

    /// <summary>
    /// Whether the connection may be parked with SMFIC_QUIT_NC for another session: protocol 6, nothing decided for
    /// the whole connection, and libmilter in a state that takes QUIT_NC (<see cref="ReadyForQuitNc"/>). Anywhere
    /// else libmilter silently ignores QUIT_NC, and the CONNECT after it, and the next session would time out.
    /// </summary>
    public bool CanBeReused => _state == SessionState.Connected && Failure is null && _quitNcAccepted
        && _decisions.ForConnection is null && _options!.Version >= 6;

    /// <summary>SMFIC_OPTNEG: offers protocol 6 with every action and step, and judges the answer (<see cref="Negotiation.Judge"/>).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<NegotiatedOptions> NegotiateAsync(CancellationToken cancellationToken = default)
    {
        SessionStates.Gate(_state, Failure, SessionState.New, "negotiate", SessionState.New);
        _channel.Budget.Start();
        var options = await _channel.NegotiateAsync(_settings.OfferedProtocol, cancellationToken).ConfigureAwait(false);
        _channel.Budget.Stop();
        _options = options;
        foreach (var warning in options.Warnings)
        {
            Log.NegotiationWarning(_logger, Endpoint, warning);
        }

        if (_logger.IsEnabled(LogLevel.Debug))
        {
            Log.Negotiated(_logger, Endpoint, options.Version, MilterNames.Describe(options.Actions),
                MilterNames.Describe(options.Protocol), options.MaxPayload);
        }

        _state = SessionState.Negotiated;
        return options;
    }

    /// <summary>SMFIC_CONNECT (<see cref="CommandEncoder.WriteConnect"/>), with the client macros derived from <paramref name="client"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> ConnectAsync(ClientInfo? client, CancellationToken cancellationToken = default)
    {
        SessionStates.Gate(_state, Failure, SessionState.Negotiated, "connect", SessionState.Negotiated);
        Macros.DeriveClient(client);
        _channel.Budget.Start();
        var response = Take(await SendEventAsync(MilterCommand.Connect, MacroStage.Connect, ProtocolFlags.NoConnect,
            ProtocolFlags.NoReplyConnect, client, static (writer, client) => CommandEncoder.WriteConnect(writer, client),
            cancellationToken).ConfigureAwait(false));
        _channel.Budget.Stop();
        _state = SessionState.Connected;
        return ConnectionLevel(FilterStage.Connect, response);
    }

    /// <summary>
    /// SMFIC_HELO: <c>helo\0</c>, any time after CONNECT. As in Postfix (smtpd.c <c>ehlo_cmd</c>), a HELO resets the
    /// session: the HELO goes first, then an ABORT when a HELO came before and another when a transaction was open
    /// (libmilter ends the transaction itself on seeing HELO in it, and ignores the ABORTs).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> HeloAsync(string heloName, CancellationToken cancellationToken = default)
    {
        RefuseNul(heloName, nameof(heloName));
        SessionStates.Gate(_state, Failure, SessionState.Connected, "HELO", SessionState.Connected, SessionState.Envelope, SessionState.Headers, SessionState.Body);
        if (InMessage)
        {
            EndTransaction(oweAbort: false); // its ABORT follows the HELO
        }

        var response = _decisions.ForConnection;
        if (response is null)
        {
            _channel.Budget.Start();
            var answer = Take(await SendEventAsync(MilterCommand.Helo, MacroStage.Helo, ProtocolFlags.NoHelo,
                ProtocolFlags.NoReplyHelo, heloName, static (writer, name) => writer.WriteCString(name), cancellationToken).ConfigureAwait(false));
            _channel.Budget.Stop();
            response = ConnectionLevel(FilterStage.Helo, answer);
        }

        if (_heloGiven)
        {
            OweAbort(); // helo_reset
        }

        ResetMail(); // mail_reset
        _heloGiven = true;
        return response.Value;
    }

    /// <summary>
    /// SMFIC_MAIL (<see cref="CommandEncoder.WriteArgv"/>). Starts a message; a transaction still open (no RSET came,
    /// the host gave up on a message) is ended first, with its ABORT. A refused MAIL is reset at once, as in Postfix:
    /// its ABORT goes with the next command, and the refusal holds for the rest of this transaction.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> MailAsync(string reversePath, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        var pending = BeginMail(reversePath, parameters, AnswerItself.Instance, cancellationToken);
        return CompleteMail(pending.Decided, pending.Decided is null ? await pending.Answer.ConfigureAwait(false) : default);
    }

    /// <summary><see cref="MailAsync"/> up to the answer (see <see cref="PendingAnswer{TResult}"/>).</summary>
    internal PendingAnswer<TResult> BeginMail<TResult>(string reversePath, IReadOnlyList<string>? parameters, IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        RefuseNul(reversePath, nameof(reversePath));
        RefuseNul(parameters, nameof(parameters));
        SessionStates.Gate(_state, Failure, SessionState.Connected, "MAIL", SessionState.Connected, SessionState.Envelope, SessionState.Headers, SessionState.Body);
        if (InMessage)
        {
            EndTransaction(oweAbort: true);
        }

        StartMessage();
        var address = MailPath.Bracket(reversePath);
        Macros.DeriveSender(address, _settings.QueueIdAtMail);
        _state = SessionState.Envelope;
        _acceptedRecipients = 0;
        if (_decisions.ForConnection is { } decided)
        {
            return new PendingAnswer<TResult>(decided);
        }

        _mailPending = true;
        return new PendingAnswer<TResult>(SendEventAsync(MilterCommand.Mail, MacroStage.Mail, ProtocolFlags.NoMail,
            ProtocolFlags.NoReplyMail, (address, parameters), static (writer, args) => CommandEncoder.WriteArgv(writer, args.address, args.parameters),
            then, cancellationToken));
    }

    /// <summary><see cref="MailAsync"/> from the answer on: <paramref name="decided"/> when nothing was asked.</summary>
    internal MilterResponse CompleteMail(MilterResponse? decided, MilterAnswer answer)
    {
        if (decided is { } response)
        {
            return response;
        }

        response = _decisions.Apply(FilterStage.Mail, Take(answer));
        if (response.Action is FilterAction.Reject or FilterAction.TempFail)
        {
            ResetMail(); // smtpd.c mail_cmd: a refused MAIL is reset (mail_reset) at once
        }

        return response;
    }

    /// <summary>SMFIC_RCPT (<see cref="CommandEncoder.WriteArgv"/>). REJECT and TEMPFAIL apply to this recipient only.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> RcptAsync(string forwardPath, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        var pending = BeginRcpt(forwardPath, parameters, AnswerItself.Instance, cancellationToken);
        return CompleteRcpt(pending.Decided, pending.Decided is null ? await pending.Answer.ConfigureAwait(false) : default);
    }

    /// <summary><see cref="RcptAsync"/> up to the answer (see <see cref="PendingAnswer{TResult}"/>).</summary>
    internal PendingAnswer<TResult> BeginRcpt<TResult>(string forwardPath, IReadOnlyList<string>? parameters, IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        RefuseNul(forwardPath, nameof(forwardPath));
        RefuseNul(parameters, nameof(parameters));
        SessionStates.Gate(_state, Failure, SessionState.Envelope, "RCPT", SessionState.Envelope);
        var address = MailPath.Bracket(forwardPath);
        Macros.DeriveRecipient(address);
        if ((_decisions.Decided ?? (_decisions.SkipRecipients ? MilterResponse.Continue : null)) is { } decided)
        {
            return new PendingAnswer<TResult>(decided);
        }

        return new PendingAnswer<TResult>(SendEventAsync(MilterCommand.Rcpt, MacroStage.Rcpt, ProtocolFlags.NoRcpt,
            ProtocolFlags.NoReplyRcpt, (address, parameters), static (writer, args) => CommandEncoder.WriteArgv(writer, args.address, args.parameters),
            then, cancellationToken));
    }

    /// <summary><see cref="RcptAsync"/> from the answer on: <paramref name="decided"/> when nothing was asked.</summary>
    internal MilterResponse CompleteRcpt(MilterResponse? decided, MilterAnswer answer)
    {
        var response = decided ?? _decisions.Apply(FilterStage.Rcpt, Take(answer));
        if (response.Action is not (FilterAction.Reject or FilterAction.TempFail))
        {
            _acceptedRecipients++;
            Macros.RecipientAccepted();
            Macros.ShowQueueId(); // an accepted recipient: Postfix sends i from the next stage on
        }

        return response;
    }

    /// <summary>
    /// A recipient the MTA refused, for milters that negotiated SMFIP_RCPT_REJ: SMFIC_RCPT with <c>{rcpt_mailer}</c>=error,
    /// <c>{rcpt_host}</c>=the enhanced code, <c>{rcpt_addr}</c>=the reply text (libmilter's convention). Like Postfix,
    /// the milter's verdict is not used: the recipient is refused already. Without RCPT_REJ nothing is sent.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        RefuseNul(forwardPath, nameof(forwardPath));
        RefuseNul(parameters, nameof(parameters));
        SessionStates.Gate(_state, Failure, SessionState.Envelope, "RCPT", SessionState.Envelope);
        if (!_options!.Has(ProtocolFlags.RcptRejected) || _decisions.Decided is not null || _decisions.SkipRecipients)
        {
            return MilterResponse.Continue;
        }

        Macros.DeriveRefusedRecipient(hostReply);
        try
        {
            var response = Take(await SendEventAsync(MilterCommand.Rcpt, MacroStage.Rcpt, ProtocolFlags.NoRcpt,
                ProtocolFlags.NoReplyRcpt, (MailPath.Bracket(forwardPath), parameters),
                static (writer, args) => CommandEncoder.WriteArgv(writer, args.Item1, args.parameters), cancellationToken).ConfigureAwait(false));
            if (response.Skip)
            {
                _decisions.Apply(FilterStage.Rcpt, response);
            }

            return MilterResponse.Continue;
        }
        finally
        {
            Macros.DeriveRefusedRecipient(null);
        }
    }

    /// <summary>
    /// SMFIC_DATA (protocol 4 and later; masked for older milters). When no recipient of the transaction was accepted
    /// the milter is not asked, as Postfix does not ask it (smtpd.c <c>data_cmd</c>: the server refuses DATA itself):
    /// CONTINUE, and the transaction stays in its envelope (more RCPTs and another DATA may follow; no content may).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> DataAsync(CancellationToken cancellationToken = default)
    {
        var pending = BeginData(AnswerItself.Instance, cancellationToken);
        return CompleteData(pending.Decided, pending.Decided is null ? await pending.Answer.ConfigureAwait(false) : default);
    }

    /// <summary><see cref="DataAsync"/> up to the answer (see <see cref="PendingAnswer{TResult}"/>).</summary>
    internal PendingAnswer<TResult> BeginData<TResult>(IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        SessionStates.Gate(_state, Failure, SessionState.Envelope, "DATA", SessionState.Envelope);
        if (_decisions.Decided is { } decided)
        {
            _state = SessionState.Headers;
            return new PendingAnswer<TResult>(decided);
        }

        if (_acceptedRecipients == 0)
        {
            return new PendingAnswer<TResult>(MilterResponse.Continue);
        }

        _state = SessionState.Headers;
        Macros.ShowQueueId();
        Macros.ShowFirstRecipient(); // Postfix's {rcpt_*} from DATA to the end of the message: the first accepted recipient
        return new PendingAnswer<TResult>(SendEventAsync(MilterCommand.Data, MacroStage.Data, ProtocolFlags.NoData,
            ProtocolFlags.NoReplyData, 0, static (_, _) => { }, then, cancellationToken));
    }

    /// <summary><see cref="DataAsync"/> from the answer on: <paramref name="decided"/> when nothing was asked.</summary>
    internal MilterResponse CompleteData(MilterResponse? decided, MilterAnswer answer) => decided ?? _decisions.Apply(FilterStage.Data, Take(answer));

    /// <summary>SMFIC_HEADER (<see cref="CommandEncoder.WriteHeader"/>).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> HeaderAsync(string name, RawText value, CancellationToken cancellationToken = default)
    {
        var pending = BeginHeader(name, value, AnswerItself.Instance, cancellationToken);
        return CompleteHeader(pending.Decided, pending.Decided is null ? await pending.Answer.ConfigureAwait(false) : default);
    }

    /// <summary><see cref="HeaderAsync"/> up to the answer (see <see cref="PendingAnswer{TResult}"/>).</summary>
    internal PendingAnswer<TResult> BeginHeader<TResult>(string name, RawText value, IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new ArgumentException("A header field needs a name.", nameof(name));
        }

        SessionStates.Gate(_state, Failure, SessionState.Headers, "header", SessionState.Headers);
        if (_decisions.Decided is { } decided)
        {
            return new PendingAnswer<TResult>(decided);
        }

        // A name with a NUL is no header field to Postfix (is_header stops at the NUL, and cleanup starts the body there, as
        // MessageHeaderReader does), so such a field is not sent.
        if (_decisions.SkipHeaders || name.Contains('\0', StringComparison.Ordinal))
        {
            return new PendingAnswer<TResult>(MilterResponse.Continue);
        }

        // The value as Postfix keeps it: cut at each NUL (a C string to milter8.c) and at 60,000 bytes, so that the packet
        // is never one libmilter refuses. A host that stores the message as Postfix does gave it so already, and so does
        // MessagePlayer, which knows the blanks a field had before its colon (they count in Postfix's pieces; here, none).
        value = HeaderSyntax.CutLikePostfix(name, value);

        // Postfix sends the end-of-header macros before each header.
        return new PendingAnswer<TResult>(SendEventAsync(MilterCommand.Header, MacroStage.EndOfHeaders, ProtocolFlags.NoHeaders,
            ProtocolFlags.NoReplyHeader, (name, value, keep: _options!.Has(ProtocolFlags.HeaderLeadingSpace)),
            static (writer, field) => CommandEncoder.WriteHeader(writer, field.name, field.value, field.keep), then, cancellationToken));
    }

    /// <summary><see cref="HeaderAsync"/> from the answer on: <paramref name="decided"/> when nothing was asked.</summary>
    internal MilterResponse CompleteHeader(MilterResponse? decided, MilterAnswer answer) => decided ?? _decisions.Apply(FilterStage.Header, Take(answer));

    /// <summary>SMFIC_EOH: the header section ended (sent even when there were no headers).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> EndOfHeadersAsync(CancellationToken cancellationToken = default)
    {
        var pending = BeginEndOfHeaders(AnswerItself.Instance, cancellationToken);
        return CompleteEndOfHeaders(pending.Decided, pending.Decided is null ? await pending.Answer.ConfigureAwait(false) : default);
    }

    /// <summary><see cref="EndOfHeadersAsync"/> up to the answer (see <see cref="PendingAnswer{TResult}"/>).</summary>
    internal PendingAnswer<TResult> BeginEndOfHeaders<TResult>(IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        SessionStates.Gate(_state, Failure, SessionState.Headers, "end of headers", SessionState.Headers);
        _state = SessionState.Body;
        if (_decisions.Decided is { } decided)
        {
            return new PendingAnswer<TResult>(decided);
        }

        return new PendingAnswer<TResult>(SendEventAsync(MilterCommand.EndOfHeaders, MacroStage.EndOfHeaders, ProtocolFlags.NoEndOfHeaders,
            ProtocolFlags.NoReplyEndOfHeaders, 0, static (_, _) => { }, then, cancellationToken));
    }

    /// <summary><see cref="EndOfHeadersAsync"/> from the answer on: <paramref name="decided"/> when nothing was asked.</summary>
    internal MilterResponse CompleteEndOfHeaders(MilterResponse? decided, MilterAnswer answer) => decided ?? _decisions.Apply(FilterStage.EndOfHeaders, Take(answer));

    /// <summary>
    /// Body bytes, any amount, cut into SMFIC_BODY packets by <see cref="BodyPacketizer"/>. The answer is the
    /// milter's decision on the packets sent during this call; the last, partly filled packet goes out with
    /// <see cref="EndOfMessageAsync"/>, whose result then names the body if that packet decided.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default)
    {
        SessionStates.Gate(_state, Failure, SessionState.Body, "body", SessionState.Body);
        if (_decisions.Decided is { } decided)
        {
            return decided;
        }

        var remaining = chunk;
        while (!remaining.IsEmpty && !_decisions.SkipBody && !Unwanted(ProtocolFlags.NoBody))
        {
            if (!_body.IsOpen)
            {
                WriteMacros(MacroStage.EndOfMessage, MilterCommand.Body); // Postfix: the end-of-data macros before each body packet
            }

            remaining = remaining[_body.Fill(_channel.Writer, remaining.Span)..];
            if (_body.IsFull(_channel.Writer))
            {
                var response = _decisions.Apply(FilterStage.Body, Take(await SendBodyPacketAsync(cancellationToken).ConfigureAwait(false)));
                if (response.Action != FilterAction.Continue)
                {
                    return response;
                }
            }
        }

        return MilterResponse.Continue;
    }

    /// <summary>
    /// Sends what is left of the body, then SMFIC_BODYEOB, and reads the modifications and the final answer. The
    /// answer's quarantine reason is the message's (given at any stage); <see cref="DecidedAt"/> then says where the
    /// message was decided. The session is then ready for the next MAIL.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterAnswer> EndOfMessageAsync(CancellationToken cancellationToken = default)
    {
        SessionStates.Gate(_state, Failure, SessionState.Body, "end of message", SessionState.Body);
        var response = _decisions.Decided;
        IReadOnlyList<MessageEdit> edits = [];
        if (response is null && _body.OwesLineEnd)
        {
            // The body's last line has no line end: Postfix sends every body line with CRLF, the last one too
            // (milter8.c milter8_body), so a milter hashes or matches the body as the next hop will get it.
            var ended = await BodyAsync(FinalLineEnd, cancellationToken).ConfigureAwait(false);
            response = ended.Action == FilterAction.Continue ? null : ended;
        }

        if (response is null && _body.IsOpen)
        {
            var early = _decisions.Apply(FilterStage.Body, Take(await SendBodyPacketAsync(cancellationToken).ConfigureAwait(false)));
            response = early.Action == FilterAction.Continue ? null : early;
        }

        if (response is null)
        {
            WriteMacros(MacroStage.EndOfMessage, MilterCommand.EndOfBody);
            var answer = await _channel.SendAsync(MilterCommand.EndOfBody, expectAnswer: true, 0, static (_, _) => { }, cancellationToken).ConfigureAwait(false);
            response = _decisions.Apply(FilterStage.EndOfMessage, Take(answer));
            edits = answer.Edits;
        }

        EndMessage();
        ResetMail(); // Postfix resets every finished transaction: ABORT (libmilter ignores it after the end of a message)
        return new MilterAnswer(response.Value, _decisions.QuarantineReason, edits, MilterCommand.EndOfBody);
    }

    /// <summary>
    /// The transaction was abandoned (RSET, or the host gave up on the message): SMFIC_ABORT (no reply), sent with the
    /// next command, when a MAIL of it reached the milter and was not reset yet (Postfix). Outside a transaction nothing.
    /// </summary>
    public ValueTask AbortAsync(CancellationToken cancellationToken = default)
    {
        SessionStates.Gate(_state, Failure, SessionState.Connected, "abort", SessionState.Connected, SessionState.Envelope, SessionState.Headers, SessionState.Body);
        if (InMessage)
        {
            EndTransaction(oweAbort: true);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>SMFIC_UNKNOWN (protocol 3 and later): an SMTP command the MTA does not know. The milter may only change the error reply.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> UnknownAsync(string commandLine, CancellationToken cancellationToken = default)
    {
        RefuseNul(commandLine, nameof(commandLine));
        SessionStates.Gate(_state, Failure, SessionState.Connected, "unknown command", SessionState.Connected, SessionState.Envelope);
        if (_decisions.ForConnection is { } decided)
        {
            return decided;
        }

        if (!InMessage)
        {
            _channel.Budget.Start();
        }

        var response = Take(await SendEventAsync(MilterCommand.Unknown, MacroStage.Unknown, ProtocolFlags.NoUnknown,
            ProtocolFlags.NoReplyUnknown, commandLine, static (writer, line) => writer.WriteCString(line), cancellationToken).ConfigureAwait(false));
        if (!InMessage)
        {
            _channel.Budget.Stop();
        }

        return _decisions.Apply(FilterStage.Unknown, response);
    }

    /// <summary>
    /// SMFIC_QUIT_NC (no reply): this SMTP session is over and another will follow on the same connection. The stream
    /// is left open for the caller to park. False (and nothing sent) when <see cref="CanBeReused"/> is false.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<bool> QuitForReuseAsync(CancellationToken cancellationToken = default)
    {
        if (!CanBeReused || !await _channel.SendNowAsync(MilterCommand.QuitNewConnection, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        _state = SessionState.Closed; // the stream stays open: the caller parks it
        return true;
    }

    /// <summary>SMFIC_QUIT (no reply), then closes the connection. Safe to call in any state.</summary>
    public async ValueTask QuitAsync(CancellationToken cancellationToken = default)
    {
        if (_state == SessionState.Closed)
        {
            return;
        }

        var sendQuit = _state != SessionState.New;
        if (sendQuit && Failure is null)
        {
            // smtpd.c at the end of the session: helo_reset and mail_reset, then the QUIT.
            if (InMessage)
            {
                EndTransaction(oweAbort: true);
            }

            if (_heloGiven)
            {
                OweAbort();
            }

            WriteOwedAborts();
        }

        _state = SessionState.Closed;
        var wasBroken = Failure is not null;
        await _channel.QuitAsync(sendQuit, cancellationToken).ConfigureAwait(false);
        if (!wasBroken)
        {
            Log.Closed(_logger, Endpoint);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await QuitAsync().ConfigureAwait(false);
        await _channel.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>At CONNECT and HELO DISCARD is not defined and is ignored, as in Postfix; any other decision holds for the connection.</summary>
    private MilterResponse ConnectionLevel(FilterStage stage, MilterResponse response)
    {
        if (response.Action == FilterAction.Discard)
        {
            Log.MilterQuirk(_logger, Endpoint, stage.ToName(), "SMFIR_DISCARD is not defined at this stage; ignored (Postfix does the same)");
            return MilterResponse.Continue;
        }

        return _decisions.Apply(stage, response with { Skip = false });
    }

    /// <summary>
    /// Whether the milter asked not to get an event: its NO* step (<paramref name="noEvent"/>) was negotiated. An unwanted
    /// event is not sent and counts as CONTINUE (<see cref="SendEventAsync{TState}"/>, and the body's packets in <see cref="BodyAsync"/>).
    /// </summary>
    private bool Unwanted(ProtocolFlags noEvent) => _options!.Has(noEvent);

    /// <summary>
    /// The one way an event goes out: its macros, then the command unless it is <see cref="Unwanted"/>, then the answer
    /// unless an NR_* step says there is none (the packets then wait for the next write). As in Postfix, an unwanted SMTP
    /// command's macros still go, and an unwanted header's or end of headers' do not. The caller awaits the answer and
    /// hands it to <see cref="Take"/>.
    /// </summary>
    private ValueTask<MilterAnswer> SendEventAsync<TState>(MilterCommand command, MacroStage macroStage,
        ProtocolFlags noEvent, ProtocolFlags noReplyBy, TState state, Action<PacketWriter, TState> writePayload,
        CancellationToken cancellationToken) =>
        SendEventAsync(command, macroStage, noEvent, noReplyBy, state, writePayload, AnswerItself.Instance, cancellationToken);

    /// <summary><see cref="SendEventAsync{TState}"/>, the answer handed to <paramref name="then"/> by the method that reads it.</summary>
    private ValueTask<TResult> SendEventAsync<TState, TResult>(MilterCommand command, MacroStage macroStage,
        ProtocolFlags noEvent, ProtocolFlags noReplyBy, TState state, Action<PacketWriter, TState> writePayload,
        IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        WriteOwedAborts();
        var unwanted = Unwanted(noEvent);
        if (!unwanted || command is not (MilterCommand.Header or MilterCommand.EndOfHeaders))
        {
            WriteMacros(macroStage, command); // macros change no libmilter state
        }

        if (unwanted)
        {
            return new ValueTask<TResult>(then.Answered(MilterAnswer.NotSent)); // nothing sent: libmilter's state is as it was
        }

        // The channel's own task: the caller awaits the answer with nothing of ours suspended in between.
        return _channel.SendAsync(command, !_options!.Has(noReplyBy), state, writePayload, then, cancellationToken);
    }

    /// <summary>The last (full or partly filled) body packet, answered unless NR_BODY was negotiated.</summary>
    private ValueTask<MilterAnswer> SendBodyPacketAsync(CancellationToken cancellationToken)
    {
        _body.Close(_channel.Writer);
        return _channel.ExchangeAsync(MilterCommand.Body, !_options!.Has(ProtocolFlags.NoReplyBody), cancellationToken);
    }

    /// <summary>
    /// An answer: its quarantine request is kept, its decision returned, and what it did to libmilter's state noted
    /// (<see cref="MilterAnswer.Answering"/> says to what). An event not sent (<see cref="MilterAnswer.NotSent"/>) changed nothing.
    /// </summary>
    private MilterResponse Take(MilterAnswer answer)
    {
        if (answer.Answering is not { } command)
        {
            return answer.Response;
        }

        _quitNcAccepted = ReadyForQuitNc(command, answer.DecidedBy);
        _decisions.Quarantine(answer.QuarantineReason);
        return answer.Response;
    }

    /// <summary>
    /// Whether libmilter takes SMFIC_QUIT_NC after <paramref name="command"/> was answered with <paramref name="decidedBy"/>
    /// (null: no answer, an NR_* step). Its engine (engine.c, next_states) allows QUIT_NC only from the end of a
    /// message and from UNKNOWN; and an ACCEPT, REJECT, TEMPFAIL or DISCARD sends it back to the HELO state
    /// (UNKNOWN keeps its state on a refusal), from which QUIT_NC, and the CONNECT after it, are ignored. So: the
    /// end of a message answered CONTINUE (or SKIP), or an UNKNOWN command not answered ACCEPT.
    /// </summary>
    private static bool ReadyForQuitNc(MilterCommand command, MilterReply? decidedBy) => command switch
    {
        MilterCommand.EndOfBody => decidedBy is MilterReply.Continue or MilterReply.Skip,
        MilterCommand.Unknown => decidedBy is not MilterReply.Accept,
        _ => false,
    };

    /// <summary>
    /// The macros of <paramref name="stage"/> before <paramref name="command"/>: the list the milter asked for, else the
    /// configured one (with the host's macros that are in no list, at CONNECT). Nothing for an event the milter's
    /// protocol version does not have (Postfix's np_mask): DATA below version 4, UNKNOWN below 3.
    /// </summary>
    private void WriteMacros(MacroStage stage, MilterCommand command)
    {
        if ((command == MilterCommand.Data && _options!.Version < 4) || (command == MilterCommand.Unknown && _options!.Version < 3))
        {
            return;
        }

        var requested = (int)stage < MilterConstants.MacroStageCount ? _options!.MacroLists[(int)stage] : null;
        var extras = requested is null && stage == MacroNames.ExtraMacroStage ? _settings.MacroLists : null;
        if (MacroPacket.Write(_channel.Writer, command, requested ?? _settings.MacroLists[stage], Macros, extras) is { } leftOut)
        {
            foreach (var name in leftOut)
            {
                Log.MilterQuirk(_logger, Endpoint, "SMFIC_MACRO", $"macro {name} left out: it would make the packet larger than {_channel.Writer.MaxPayload} bytes");
            }
        }
    }

    private void StartMessage()
    {
        _channel.Budget.Start();
        _decisions.StartMessage();
        _body.Reset();
    }

    private void EndMessage()
    {
        _channel.Budget.Stop();
        _decisions.EndMessage();
        _state = SessionState.Connected;
    }

    /// <summary>
    /// Ends the open transaction here (RSET, a MAIL or HELO in it, the end of the session): what was decided for it
    /// is forgotten, and its ABORT is owed now (<paramref name="oweAbort"/>) or by the caller once its own command is out.
    /// </summary>
    private void EndTransaction(bool oweAbort)
    {
        _quitNcAccepted = false; // libmilter is in the middle of a message: no QUIT_NC until another message ends
        _body.Cancel(_channel.Writer);
        EndMessage();
        if (oweAbort)
        {
            ResetMail();
        }
    }

    /// <summary>Postfix's <c>mail_reset</c>: the ABORT a MAIL that reached the milter is owed, once.</summary>
    private void ResetMail()
    {
        if (_mailPending)
        {
            _mailPending = false;
            OweAbort();
        }
    }

    /// <summary>One more ABORT before the next command, unless the connection is decided (Postfix's milter8_abort skips it then).</summary>
    private void OweAbort()
    {
        if (_decisions.ForConnection is null)
        {
            _abortsOwed++;
        }
    }

    /// <summary>
    /// Writes the ABORTs owed, in front of the command being written. They take libmilter out of a message (or, after
    /// the end of one, to its HELO state): no QUIT_NC until another message ends.
    /// </summary>
    private void WriteOwedAborts()
    {
        for (; _abortsOwed > 0; _abortsOwed--)
        {
            _channel.Writer.Begin(MilterCommand.Abort);
            _channel.Writer.End();
            _quitNcAccepted = false;
        }
    }

    private static void RefuseNul(string value, string parameter)
    {
        ArgumentNullException.ThrowIfNull(value, parameter);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The value contains a NUL character, which the milter protocol cannot carry.", parameter);
        }
    }

    private static void RefuseNul(IReadOnlyList<string>? values, string parameter)
    {
        if (values is null)
        {
            return;
        }

        foreach (var value in values)
        {
            RefuseNul(value, parameter);
        }
    }
}
