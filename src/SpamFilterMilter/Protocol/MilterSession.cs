using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Policy;

namespace SpamFilterMilter.Protocol;

/// <summary>A milter's answer to one event, after the session applied the protocol rules.</summary>
/// <param name="Action">What the milter decided.</param>
/// <param name="Reply">The SMTP reply for reject and tempfail.</param>
/// <param name="Skip">The milter answered SMFIR_SKIP: further events of this kind are not sent.</param>
internal readonly record struct MilterResponse(FilterAction Action, SmtpReply? Reply = null, bool Skip = false)
{
    public static MilterResponse Continue => default;

    public static MilterResponse Accept => new(FilterAction.Accept);
}

/// <summary>The end-of-message answer: the final response, the modifications before it, and the stage that decided (eom, or earlier).</summary>
internal sealed record EndOfMessageResult(MilterResponse Response, IReadOnlyList<MessageEdit> Edits, string? QuarantineReason, string DecidedAt = "eom");

/// <summary>Limits and switches of a session.</summary>
internal sealed record MilterSessionSettings
{
    /// <summary>Bound on each write and each read.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(36);

    /// <summary>
    /// The time the milter may take over one message, all its waits from MAIL to the verdict added up
    /// (the host's own time between stages does not count). PROGRESS does not extend it.
    /// </summary>
    public TimeSpan MessageTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Most packets a milter may send in answer to one event (PROGRESS and modifications included).</summary>
    public int MaxRepliesPerEvent { get; init; } = 10_000;

    /// <summary>Most modifications a milter may make to one message.</summary>
    public int MaxEditsPerMessage { get; init; } = 1_000;

    /// <summary>Largest payload accepted in one packet from the milter (checked before anything is allocated).</summary>
    public int MaxReplyPacket { get; init; } = MilterConstants.MaxPayload1M;

    /// <summary>Longest SMTP reply text accepted in SMFIR_REPLYCODE.</summary>
    public int MaxReplyText { get; init; } = 32 * 1024;

    /// <summary>Largest replacement body accepted from SMFIR_REPLBODY.</summary>
    public int MaxReplacementBodyBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>The steps offered in SMFIC_OPTNEG.</summary>
    public ProtocolFlags OfferedProtocol { get; init; } = Negotiation.OfferedProtocol;

    /// <summary>Log every packet (DEBUG=2).</summary>
    public bool LogTraffic { get; init; }

    /// <summary>
    /// Wait for the milter in a blocking read on the calling thread (sendmail's and Postfix's model:
    /// the least CPU per message) instead of asynchronously. The stream must then come from a socket
    /// whose read and write timeouts are set (see <see cref="Transport.MilterConnector"/>).
    /// </summary>
    public bool BlockingIo { get; init; }
}

/// <summary>
/// The MTA side of one milter connection: one state machine, one gate per event. It sends each event
/// with its macros, honours every NO* and NR_* step the milter negotiated, reads and validates the
/// replies, and keeps the connection-level and message-level decisions the milter made. Any failure
/// (I/O, timeout, a reply that breaks the rules) breaks the session for good: the stream is closed,
/// nothing more is sent, and every later call throws the same <see cref="MilterProtocolException"/>.
/// Calls out of SMTP order are caller bugs and throw <see cref="InvalidOperationException"/>.
/// Not thread-safe.
/// </summary>
internal sealed partial class MilterSession : IAsyncDisposable
{
    private enum State
    {
        New,        // nothing sent yet
        Negotiated, // OPTNEG done, waiting for CONNECT
        Connected,  // CONNECT done: HELO, MAIL, UNKNOWN allowed
        Envelope,   // MAIL sent: RCPT, DATA
        Headers,    // DATA sent: HEADER, EOH
        Body,       // EOH sent: BODY, EOM
        Closed,
        Broken,
    }

    private readonly Stream _stream;
    private readonly FrameReader _reader;
    private readonly PacketWriter _writer;
    private readonly MilterSessionSettings _settings;
    private readonly ILogger _logger;
    private readonly IConnectionControl? _control;
    private CancellationTokenSource _timer = new();

    // The milter's time budget (MESSAGE_TIMEOUT) for the current message, or for the current event
    // outside a message, and whether it (rather than TIMEOUT) bounds the operation under way.
    private TimeSpan _budget;
    private bool _budgetRunning;
    private bool _boundByBudget;

    /// <summary>
    /// Outside a message each event (OPTNEG, CONNECT, HELO, UNKNOWN) gets a budget of its own, so that
    /// endless PROGRESS cannot hold the session there either. Inside a message the message's budget runs.
    /// </summary>
    private void StartEventBudget()
    {
        if (!InMessage)
        {
            _budget = _settings.MessageTimeout;
            _budgetRunning = true;
        }
    }

    private void EndEventBudget()
    {
        if (!InMessage)
        {
            _budgetRunning = false;
        }
    }
    private long _operationStarted;
    private CancellationTokenRegistration _hostRegistration;
    private NegotiatedOptions? _options;
    private State _state;
    private MilterProtocolException? _failure;
    private string _stage = "start";

    // Decisions that outlive the event that produced them.
    private MilterResponse? _connectionDecision;
    private MilterResponse? _messageDecision;
    private string _decidedAt = "eom";
    private string? _quarantineReason;
    private bool _skipRcpt;
    private bool _skipHeaders;
    private bool _skipBody;

    // Body streaming: bytes go straight into an open SMFIC_BODY packet.
    private bool _bodyPacketOpen;
    private bool _lastBodyByteWasCr;

    /// <param name="stream">The connection to the milter.</param>
    /// <param name="endpoint">The milter, as log lines name it.</param>
    /// <param name="settings">Limits and switches.</param>
    /// <param name="logger">Where warnings and traffic go.</param>
    /// <param name="control">
    /// The connection's controls: ACK now (TCP_QUICKACK), called when a packet was read that more
    /// packets will follow (an edit, PROGRESS), since the milter's Nagle holds its next small packet
    /// until that ACK, which Linux would otherwise delay by up to 40 ms; and, for blocking I/O, the
    /// bound of the next reads and writes.
    /// </param>
    /// <param name="macros">The macro values to send; a new table when null.</param>
    /// <param name="negotiated">For a connection reused after SMFIC_QUIT_NC: what was negotiated on it; the session then starts at CONNECT.</param>
    public MilterSession(Stream stream, string endpoint, MilterSessionSettings settings, ILogger logger, IConnectionControl? control = null,
        MacroTable? macros = null, NegotiatedOptions? negotiated = null)
    {
        _stream = stream;
        Macros = macros ?? new MacroTable();
        Endpoint = endpoint;
        _settings = settings;
        _logger = logger;
        _control = control;
        _reader = new FrameReader(stream, settings.MaxReplyPacket);
        _writer = new PacketWriter(MilterConstants.DefaultMaxPayload);
        if (negotiated is not null)
        {
            _options = negotiated;
            _writer.MaxPayload = negotiated.MaxPayload;
            _reader.MaxPayload = Math.Max(settings.MaxReplyPacket, negotiated.MaxPayload);
            _state = State.Negotiated;
        }
    }

    /// <summary>The milter, as log lines name it.</summary>
    public string Endpoint { get; }

    /// <summary>What was negotiated; null before <see cref="NegotiateAsync"/>.</summary>
    public NegotiatedOptions? Options => _options;

    /// <summary>The macro values this session sends.</summary>
    public MacroTable Macros { get; }

    /// <summary>The failure that broke the session, or null.</summary>
    public MilterProtocolException? Failure => _failure;

    /// <summary>A quarantine reason the milter gave during the current message, at any stage.</summary>
    public string? QuarantineReason => _quarantineReason;

    /// <summary>The queue id (macro <c>i</c>) of the current or last message.</summary>
    public string? QueueId => Macros.TryGet(MacroNames.QueueId, out var id) ? id : null;

    /// <summary>True between MAIL and the end of the message.</summary>
    public bool InMessage => _state is State.Envelope or State.Headers or State.Body;

    /// <summary>
    /// Whether the connection may be parked with SMFIC_QUIT_NC for another session: protocol 6, nothing
    /// decided for the whole connection, and the last thing the milter saw a completed message (or an
    /// UNKNOWN command): libmilter silently ignores QUIT_NC, and the CONNECT after it, anywhere else.
    /// </summary>
    public bool CanBeReused => _state == State.Connected && _quitNcAccepted && _connectionDecision is null && _options!.Version >= 6;

    private bool _quitNcAccepted;

    /// <summary>
    /// SMFIC_OPTNEG: offers protocol 6 with every action and step, and judges the answer
    /// (<see cref="Negotiation.Judge"/>).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<NegotiatedOptions> NegotiateAsync(CancellationToken cancellationToken = default)
    {
        Gate(State.New, "negotiate", State.New);
        StartEventBudget();
        try
        {
            _stage = "SMFIC_OPTNEG";
            Negotiation.WriteOffer(_writer, _settings.OfferedProtocol);
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            Frame frame;
            try
            {
                frame = await ReadFrameAsync("SMFIC_OPTNEG reply", cancellationToken).ConfigureAwait(false);
            }
            catch (MilterProtocolException e) when (e.Kind == MilterFailureKind.Closed)
            {
                // A milter cannot say "no" to OPTNEG: libmilter just hangs up. Say what that means.
                throw new MilterProtocolException(MilterFailureKind.Negotiation, e.Stage,
                    e.Cause + " (a milter that cannot accept what we offer hangs up during negotiation)", e);
            }

            if (_reader.BufferedCount > 0)
            {
                throw new MilterProtocolException(MilterFailureKind.Malformed, "SMFIC_OPTNEG reply",
                    $"the milter sent {_reader.BufferedCount} more bytes after its OPTNEG answer (garbage)");
            }

            var options = Negotiation.Judge(frame, _settings.OfferedProtocol);
            _options = options;
            _writer.MaxPayload = options.MaxPayload; // never send more than the milter accepts
            _reader.MaxPayload = Math.Max(_settings.MaxReplyPacket, options.MaxPayload); // accept what we agreed on
            foreach (var warning in options.Warnings)
            {
                Log.NegotiationWarning(_logger, Endpoint, warning);
            }

            if (_logger.IsEnabled(LogLevel.Debug))
            {
                Log.Negotiated(_logger, Endpoint, options.Version, MilterConstants.Describe(options.Actions),
                    MilterConstants.Describe(options.Protocol), options.MaxPayload);
            }
            _state = State.Negotiated;
            EndEventBudget();
            return options;
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// SMFIC_CONNECT. Payload: <c>hostname\0</c>, family byte, then unless family is U
    /// <c>uint16 port</c> and <c>address\0</c>.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> ConnectAsync(ClientInfo? client, CancellationToken cancellationToken = default)
    {
        Gate(State.Negotiated, "connect", State.Negotiated);
        StartEventBudget();
        try
        {
            DeriveClientMacros(client);
            var response = await SendEventAsync(MilterCommand.Connect, MacroStage.Connect, ProtocolFlags.NoConnect,
                ProtocolFlags.NoReplyConnect, client, static (writer, client) => WriteConnect(writer, client),
                cancellationToken).ConfigureAwait(false);
            _state = State.Connected;
            EndEventBudget();
            return ConnectionLevel(response, "connect");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>SMFIC_HELO: <c>helo\0</c>. A HELO inside a transaction ends the transaction first, as in sendmail.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> HeloAsync(string heloName, CancellationToken cancellationToken = default)
    {
        RefuseNul(heloName, nameof(heloName));
        Gate(State.Connected, "HELO", State.Connected, State.Envelope, State.Headers, State.Body);
        try
        {
            if (InMessage)
            {
                AbortMessage();
            }

            if (_connectionDecision is { } decided)
            {
                return decided;
            }

            StartEventBudget();
            var response = await SendEventAsync(MilterCommand.Helo, MacroStage.Helo, ProtocolFlags.NoHelo,
                ProtocolFlags.NoReplyHelo, heloName, static (writer, name) => writer.WriteCString(name),
                cancellationToken).ConfigureAwait(false);
            EndEventBudget();
            return ConnectionLevel(response, "helo");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>SMFIC_MAIL: <c>"&lt;sender&gt;"\0</c> then each ESMTP argument <c>\0</c>-terminated. Starts a message.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> MailAsync(string reversePath, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        RefuseNul(reversePath, nameof(reversePath));
        RefuseNul(parameters, nameof(parameters));
        Gate(State.Connected, "MAIL", State.Connected);
        try
        {
            StartMessage();
            var address = Addresses.Bracket(reversePath);
            Macros.SetDerived(MacroNames.MailAddress, Addresses.Unbracket(address));
            Macros.SetDerived(MacroNames.MailHost, Addresses.Domain(address));
            if (!Macros.IsSetByHost(MacroNames.QueueId))
            {
                Macros.SetDerived(MacroNames.QueueId, QueueIds.Next());
            }

            _state = State.Envelope;
            if (_connectionDecision is { } decided)
            {
                return decided;
            }

            var response = await SendEventAsync(MilterCommand.Mail, MacroStage.Mail, ProtocolFlags.NoMail,
                ProtocolFlags.NoReplyMail, (address, parameters), static (writer, args) => WriteArgv(writer, args.address, args.parameters),
                cancellationToken).ConfigureAwait(false);
            return MessageLevel(response, "mail");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>SMFIC_RCPT: <c>"&lt;rcpt&gt;"\0</c> then each ESMTP argument. REJECT and TEMPFAIL apply to this recipient only.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> RcptAsync(string forwardPath, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        RefuseNul(forwardPath, nameof(forwardPath));
        RefuseNul(parameters, nameof(parameters));
        Gate(State.Envelope, "RCPT", State.Envelope);
        try
        {
            var address = Addresses.Bracket(forwardPath);
            Macros.SetDerived(MacroNames.RcptAddress, Addresses.Unbracket(address));
            Macros.SetDerived(MacroNames.RcptHost, Addresses.Domain(address));
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                return decided;
            }

            if (_skipRcpt)
            {
                return MilterResponse.Continue;
            }

            var response = await SendEventAsync(MilterCommand.Rcpt, MacroStage.Rcpt, ProtocolFlags.NoRcpt,
                ProtocolFlags.NoReplyRcpt, (address, parameters), static (writer, args) => WriteArgv(writer, args.address, args.parameters),
                cancellationToken).ConfigureAwait(false);
            if (response.Skip)
            {
                _skipRcpt = true;
                return MilterResponse.Continue;
            }

            // Reject and tempfail concern this recipient; discard the whole message; accept ends the message's filtering.
            return response.Action is FilterAction.Discard or FilterAction.Accept
                ? MessageLevel(response, "rcpt")
                : CheckClose(response, "rcpt");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// A recipient the MTA refused, for milters that negotiated SMFIP_RCPT_REJ: SMFIC_RCPT with
    /// <c>{rcpt_mailer}</c>=error, <c>{rcpt_host}</c>=the enhanced code, <c>{rcpt_addr}</c>=the reply
    /// text (libmilter's convention). Like Postfix, the milter's verdict is not used: the recipient is
    /// refused already. Without RCPT_REJ nothing is sent.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? parameters, CancellationToken cancellationToken = default)
    {
        RefuseNul(forwardPath, nameof(forwardPath));
        RefuseNul(parameters, nameof(parameters));
        Gate(State.Envelope, "RCPT", State.Envelope);
        if (!_options!.Has(ProtocolFlags.RcptRejected) || (_connectionDecision ?? _messageDecision) is not null || _skipRcpt)
        {
            return MilterResponse.Continue;
        }

        try
        {
            Macros.SetDerived(MacroNames.RcptMailer, "error");
            Macros.SetDerived(MacroNames.RcptHost, hostReply.EnhancedCode ?? hostReply.Code.ToString(CultureInfo.InvariantCulture));
            Macros.SetDerived(MacroNames.RcptAddress, string.Join(' ', hostReply.Lines));
            var response = await SendEventAsync(MilterCommand.Rcpt, MacroStage.Rcpt, ProtocolFlags.NoRcpt,
                ProtocolFlags.NoReplyRcpt, (Addresses.Bracket(forwardPath), parameters),
                static (writer, args) => WriteArgv(writer, args.Item1, args.parameters), cancellationToken).ConfigureAwait(false);
            if (response.Skip)
            {
                _skipRcpt = true;
            }

            return MilterResponse.Continue;
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
        finally
        {
            Macros.SetDerived(MacroNames.RcptMailer, null); // the next accepted recipient is not an error
        }
    }

    /// <summary>SMFIC_DATA (protocol 4 and later; masked for older milters).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> DataAsync(CancellationToken cancellationToken = default)
    {
        Gate(State.Envelope, "DATA", State.Envelope);
        try
        {
            _state = State.Headers;
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                return decided;
            }

            var response = await SendEventAsync(MilterCommand.Data, MacroStage.Data, ProtocolFlags.NoData,
                ProtocolFlags.NoReplyData, 0, static (_, _) => { }, cancellationToken).ConfigureAwait(false);
            return MessageLevel(response, "data");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// SMFIC_HEADER: <c>name\0value\0</c>. The value is the raw text after the colon; unless the milter
    /// negotiated HDR_LEADSPC exactly one leading space is removed (sendmail, Postfix). Folded lines
    /// travel joined by a bare LF.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> HeaderAsync(string name, string value, CancellationToken cancellationToken = default)
    {
        RefuseNul(name, nameof(name));
        RefuseNul(value, nameof(value));
        if (name.Length == 0)
        {
            throw new ArgumentException("A header field needs a name.", nameof(name));
        }

        Gate(State.Headers, "header", State.Headers);
        try
        {
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                return decided;
            }

            if (_skipHeaders)
            {
                return MilterResponse.Continue;
            }

            // One leading space off (unless HDR_LEADSPC), CRLF folds as LF: written straight into the
            // packet, without building a string per header.
            var skip = !_options!.Has(ProtocolFlags.HeaderLeadingSpace) && value.StartsWith(' ') ? 1 : 0;
            var response = await SendEventAsync(MilterCommand.Header, null, ProtocolFlags.NoHeaders,
                ProtocolFlags.NoReplyHeader, (name, value, skip), static (writer, field) =>
                {
                    writer.WriteCString(field.name);
                    writer.WriteHeaderValue(field.value.AsSpan(field.skip));
                }, cancellationToken).ConfigureAwait(false);
            if (response.Skip)
            {
                _skipHeaders = true;
                return MilterResponse.Continue;
            }

            return MessageLevel(response, "header");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>SMFIC_EOH: the header section ended (sent even when there were no headers).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> EndOfHeadersAsync(CancellationToken cancellationToken = default)
    {
        Gate(State.Headers, "end of headers", State.Headers);
        try
        {
            _state = State.Body;
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                return decided;
            }

            var response = await SendEventAsync(MilterCommand.EndOfHeaders, MacroStage.EndOfHeaders, ProtocolFlags.NoEndOfHeaders,
                ProtocolFlags.NoReplyEndOfHeaders, 0, static (_, _) => { }, cancellationToken).ConfigureAwait(false);
            return MessageLevel(response, "eoh");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// Body bytes, any amount. They are copied into SMFIC_BODY packets of exactly the largest size the
    /// milter accepts (the last one shorter), bare LF becoming CRLF on the way; a CRLF may be split
    /// between packets, as sendmail does. Nothing is allocated per chunk. The answer is the milter's
    /// decision on the packets sent during this call; the last, partly filled packet goes out with
    /// <see cref="EndOfMessageAsync"/>, whose result then names "body" if that packet decided.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default)
    {
        Gate(State.Body, "body", State.Body);
        try
        {
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                return decided;
            }

            if (_skipBody || _options!.Has(ProtocolFlags.NoBody))
            {
                return MilterResponse.Continue;
            }

            var remaining = chunk;
            while (!remaining.IsEmpty)
            {
                if (!_bodyPacketOpen)
                {
                    _writer.Begin(MilterCommand.Body);
                    _bodyPacketOpen = true;
                }

                var room = _writer.MaxPayload - _writer.CurrentPayloadLength;
                var consumed = CopyBody(remaining.Span, room);
                remaining = remaining[consumed..];
                if (_writer.CurrentPayloadLength == _writer.MaxPayload)
                {
                    var response = await SendBodyPacketAsync(cancellationToken).ConfigureAwait(false);
                    if (response.Skip)
                    {
                        _skipBody = true;
                        return MilterResponse.Continue;
                    }

                    if (response.Action != FilterAction.Continue)
                    {
                        return MessageLevel(response, "body");
                    }
                }
            }

            return MilterResponse.Continue;
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// Sends what is left of the body, then SMFIC_BODYEOB, and reads the modifications and the final
    /// answer. The session is then ready for the next MAIL.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<EndOfMessageResult> EndOfMessageAsync(CancellationToken cancellationToken = default)
    {
        Gate(State.Body, "end of message", State.Body);
        try
        {
            EndOfMessageResult result;
            if ((_connectionDecision ?? _messageDecision) is { } decided)
            {
                result = new EndOfMessageResult(decided, [], _quarantineReason, _decidedAt);
            }
            else
            {
                MilterResponse early = default;
                if (_bodyPacketOpen)
                {
                    early = await SendBodyPacketAsync(cancellationToken).ConfigureAwait(false);
                }

                if (early.Action != FilterAction.Continue && !early.Skip)
                {
                    result = new EndOfMessageResult(MessageLevel(early, "body"), [], _quarantineReason, "body");
                }
                else
                {
                    _stage = "SMFIC_BODYEOB";
                    WriteMacros(MacroStage.EndOfMessage, MilterCommand.EndOfBody);
                    _writer.Begin(MilterCommand.EndOfBody);
                    _writer.End();
                    await FlushAsync(cancellationToken).ConfigureAwait(false);
                    result = await ReadEndOfMessageAsync(cancellationToken).ConfigureAwait(false);
                    CheckClose(result.Response, "eom");
                    _quitNcAccepted = true;
                }
            }

            EndMessage();
            return result;
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>SMFIC_ABORT (no reply): the transaction was abandoned. Sent with the next command.</summary>
    public ValueTask AbortAsync(CancellationToken cancellationToken = default)
    {
        Gate(State.Connected, "abort", State.Connected, State.Envelope, State.Headers, State.Body);
        if (InMessage)
        {
            AbortMessage();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>SMFIC_UNKNOWN (protocol 3 and later): an SMTP command the MTA does not know. The milter may only change the error reply.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<MilterResponse> UnknownAsync(string commandLine, CancellationToken cancellationToken = default)
    {
        RefuseNul(commandLine, nameof(commandLine));
        Gate(State.Connected, "unknown command", State.Connected, State.Envelope);
        try
        {
            if (_connectionDecision is { } decided)
            {
                return decided;
            }

            // sendmail sends no macros with UNKNOWN; nor do we.
            StartEventBudget();
            var response = await SendEventAsync(MilterCommand.Unknown, null, ProtocolFlags.NoUnknown,
                ProtocolFlags.NoReplyUnknown, commandLine, static (writer, line) => writer.WriteCString(line),
                cancellationToken).ConfigureAwait(false);
            EndEventBudget();
            return CheckClose(response, "unknown");
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// SMFIC_QUIT_NC (no reply): this SMTP session is over and another will follow on the same connection.
    /// The stream is left open for the caller to park. False (and nothing sent) when <see cref="CanBeReused"/> is false.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<bool> QuitForReuseAsync(CancellationToken cancellationToken = default)
    {
        if (!CanBeReused)
        {
            return false;
        }

        try
        {
            _stage = "SMFIC_QUIT_NC";
            _writer.Begin(MilterCommand.QuitNewConnection);
            _writer.End();
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            _state = State.Closed; // the stream stays open: the caller parks it
            return true;
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            _ = Break(e, cancellationToken);
            return false;
        }
    }

    /// <summary>SMFIC_QUIT (no reply), then closes the connection. Safe to call in any state.</summary>
    public async ValueTask QuitAsync(CancellationToken cancellationToken = default)
    {
        if (_state is State.Closed or State.Broken)
        {
            return;
        }

        try
        {
            if (_state != State.New)
            {
                _stage = "SMFIC_QUIT";
                _writer.Cancel();
                _writer.Begin(MilterCommand.Quit);
                _writer.End();
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsSessionFailure(e))
        {
            // The milter went away first; nothing is lost at QUIT.
        }
        finally
        {
            _state = State.Closed;
            await _stream.DisposeAsync().ConfigureAwait(false);
            Log.Closed(_logger, Endpoint);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await QuitAsync().ConfigureAwait(false);
        _hostRegistration.Dispose();
        _timer.Dispose();
        _reader.Dispose();
        _writer.Dispose();
    }

    // ---- Events -------------------------------------------------------------------------------

    /// <summary>
    /// Writes one event: its macros (even when the command itself is suppressed, as sendmail and
    /// Postfix do), then the command unless a NO* step suppresses it; reads the reply unless an NR_*
    /// step says there is none. Packets that need no reply stay buffered for the next write.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<MilterResponse> SendEventAsync<TState>(
        MilterCommand command, MacroStage? macroStage, ProtocolFlags suppressedBy, ProtocolFlags noReplyBy,
        TState state, Action<PacketWriter, TState> writePayload, CancellationToken cancellationToken)
    {
        _stage = MilterConstants.Name(command);
        _quitNcAccepted = command == MilterCommand.Unknown;
        if (macroStage is { } stage)
        {
            WriteMacros(stage, command);
        }

        if (_options!.Has(suppressedBy))
        {
            return MilterResponse.Continue;
        }

        _writer.Begin(command);
        writePayload(_writer, state);
        _writer.End();
        if (_options.Has(noReplyBy))
        {
            if (_writer.PendingLength >= _writer.MaxPayload)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            return MilterResponse.Continue;
        }

        await FlushAsync(cancellationToken).ConfigureAwait(false);
        return await ReadResponseAsync(command, cancellationToken).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<MilterResponse> SendBodyPacketAsync(CancellationToken cancellationToken)
    {
        _stage = "SMFIC_BODY";
        _writer.End();
        _bodyPacketOpen = false;
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        return _options!.Has(ProtocolFlags.NoReplyBody)
            ? MilterResponse.Continue
            : await ReadResponseAsync(MilterCommand.Body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Copies body bytes into the open packet, at most <paramref name="room"/> bytes, LF → CRLF. Returns the input bytes consumed.</summary>
    private int CopyBody(ReadOnlySpan<byte> input, int room)
    {
        var consumed = 0;
        while (consumed < input.Length && room > 0)
        {
            var rest = input[consumed..];
            var lf = rest.IndexOf((byte)'\n');
            var run = lf < 0 ? rest.Length : lf;
            if (run > 0)
            {
                var n = Math.Min(run, room);
                _writer.WriteBytes(rest[..n]);
                _lastBodyByteWasCr = rest[n - 1] == (byte)'\r';
                consumed += n;
                room -= n;
                continue;
            }

            // rest[0] is LF: write it, with the CR it lacks (the CR may end this packet and the LF start the next).
            if (!_lastBodyByteWasCr)
            {
                _writer.WriteByte((byte)'\r');
                _lastBodyByteWasCr = true;
                room--;
                if (room == 0)
                {
                    break;
                }
            }

            _writer.WriteByte((byte)'\n');
            _lastBodyByteWasCr = false;
            consumed++;
            room--;
        }

        return consumed;
    }

    /// <summary>
    /// SMFIC_MACRO: <c>cmdcode</c>, then <c>name\0value\0</c> pairs. Only macros with a value are sent
    /// and no packet at all when none has one: libmilter refuses a packet holding only the command byte
    /// (dec_argv finds no string) and keeps the stage's earlier values, so an empty packet could not
    /// clear them anyway. TODO(limit): a host macro removed in mid-session therefore stays visible to a
    /// libmilter milter with its old value until that stage's next packet; the session's own macros
    /// always have values at their stages. Pairs that would make the packet larger than the milter
    /// accepts are left out, with a warning.
    /// </summary>
    private void WriteMacros(MacroStage stage, MilterCommand command)
    {
        var requested = _options!.MacroLists[(int)stage];
        var names = requested ?? MacroNames.DefaultLists[(int)stage];
        _writer.Begin(MilterCommand.Macro);
        _writer.WriteByte((byte)command);
        var any = false;
        foreach (var name in names)
        {
            if (Macros.TryGet(name, out var value))
            {
                any |= TryWriteMacro(name, value);
            }
        }

        if (requested is null && stage == MacroNames.ExtraMacroStage)
        {
            foreach (var (name, value) in Macros.Extras)
            {
                any |= TryWriteMacro(name, value);
            }
        }

        if (any)
        {
            _writer.End();
        }
        else
        {
            _writer.Cancel();
        }
    }

    private bool TryWriteMacro(string name, string value)
    {
        var size = System.Text.Encoding.UTF8.GetByteCount(name) + System.Text.Encoding.UTF8.GetByteCount(value) + 2;
        if (_writer.CurrentPayloadLength + size > _writer.MaxPayload)
        {
            Log.MilterQuirk(_logger, Endpoint, "SMFIC_MACRO", $"macro {name} left out: it would make the packet larger than {_writer.MaxPayload} bytes");
            return false;
        }

        _writer.WriteCString(name);
        _writer.WriteCString(value);
        return true;
    }

    private static void WriteConnect(PacketWriter writer, ClientInfo? client)
    {
        if (client is null)
        {
            writer.WriteCString("localhost");
            writer.WriteByte(MilterConstants.FamilyUnknown);
            return;
        }

        if (client.LocalSocketPath is { } path)
        {
            writer.WriteCString(client.HostName ?? "localhost");
            writer.WriteByte(MilterConstants.FamilyUnix);
            writer.WriteUInt16(0);
            writer.WriteCString(path);
            return;
        }

        if (client.Address is not { } address)
        {
            writer.WriteCString(client.HostName ?? "localhost");
            writer.WriteByte(MilterConstants.FamilyUnknown);
            return;
        }

        // sendmail sends an IPv4-mapped IPv6 client as plain IPv4.
        var ipv4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        writer.WriteCString(client.HostName ?? $"[{ipv4}]");
        writer.WriteByte(ipv4.AddressFamily == AddressFamily.InterNetworkV6 ? MilterConstants.FamilyInet6 : MilterConstants.FamilyInet);
        writer.WriteUInt16((ushort)client.Port);
        writer.WriteCString(ipv4.ToString());
    }

    private static void WriteArgv(PacketWriter writer, string first, IReadOnlyList<string>? rest)
    {
        writer.WriteCString(first);
        if (rest is not null)
        {
            foreach (var argument in rest)
            {
                writer.WriteCString(argument);
            }
        }
    }

    private void DeriveClientMacros(ClientInfo? client)
    {
        if (client?.Address is { } address)
        {
            var ip = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            // sendmail and Postfix both tag IPv6 in {client_addr}.
            Macros.SetDerived(MacroNames.ClientAddress,
                ip.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6:" + ip : ip.ToString());
            Macros.SetDerived(MacroNames.ClientPort, client.Port.ToString(CultureInfo.InvariantCulture));
        }

        if (client?.HostName is { } name)
        {
            Macros.SetDerived(MacroNames.ClientName, name);
        }
    }

    // ---- Decisions ----------------------------------------------------------------------------

    /// <summary>At CONNECT and HELO every decision but CONTINUE concerns the whole connection; DISCARD is not defined there and is ignored, as in Postfix.</summary>
    private MilterResponse ConnectionLevel(MilterResponse response, string stage)
    {
        if (response.Action == FilterAction.Discard)
        {
            Log.MilterQuirk(_logger, Endpoint, stage, "SMFIR_DISCARD is not defined at this stage; ignored (Postfix does the same)");
            return MilterResponse.Continue;
        }

        if (response.Action != FilterAction.Continue)
        {
            _connectionDecision = response;
            _decidedAt = stage;
        }

        return response with { Skip = false };
    }

    /// <summary>From MAIL on, a decision but CONTINUE holds for the rest of the message.</summary>
    private MilterResponse MessageLevel(MilterResponse response, string stage)
    {
        if (response.Action != FilterAction.Continue)
        {
            _messageDecision = response;
            _decidedAt = stage;
        }

        return CheckClose(response with { Skip = false }, stage);
    }

    /// <summary>A 421 reply (or SMFIR_SHUTDOWN) closes the SMTP session: it holds for the rest of the connection.</summary>
    private MilterResponse CheckClose(MilterResponse response, string stage)
    {
        if (response.Reply is { Code: 421 } && _connectionDecision is null)
        {
            _connectionDecision = response;
            _decidedAt = stage;
        }

        return response;
    }

    private void StartMessage()
    {
        _budget = _settings.MessageTimeout;
        _budgetRunning = true;
        _messageDecision = null;
        _quarantineReason = null;
        _skipRcpt = _skipHeaders = _skipBody = false;
        _bodyPacketOpen = false;
        _lastBodyByteWasCr = false;
        Macros.SetDerived(MacroNames.RcptAddress, null);
        Macros.SetDerived(MacroNames.RcptHost, null);
    }

    private void EndMessage()
    {
        _budgetRunning = false;
        _messageDecision = null;
        _state = State.Connected;
    }

    private void AbortMessage()
    {
        _quitNcAccepted = false;
        if (_bodyPacketOpen)
        {
            _writer.Cancel();
            _bodyPacketOpen = false;
        }

        _writer.Begin(MilterCommand.Abort);
        _writer.End();
        EndMessage();
    }

    // ---- Gate, I/O, failure -------------------------------------------------------------------

    private void Gate(State expected, string what, params ReadOnlySpan<State> allowed)
    {
        if (_state == State.Broken)
        {
            throw _failure!;
        }

        foreach (var state in allowed)
        {
            if (_state == state)
            {
                return;
            }
        }

        throw new InvalidOperationException(_state switch
        {
            State.Closed => $"The milter session is closed; {what} cannot be sent.",
            State.New or State.Negotiated => $"The milter session must be connected (ConnectAsync) before {what}.",
            _ => $"{char.ToUpperInvariant(what[0])}{what[1..]} cannot come now: the session is at {Describe(_state)}, and {what} belongs {Describe(expected)}.",
        });
    }

    private static string Describe(State state) => state switch
    {
        State.New => "the start",
        State.Negotiated => "after negotiation",
        State.Connected => "between transactions (after connect or the end of a message)",
        State.Envelope => "in the envelope (after MAIL)",
        State.Headers => "in the header section (after DATA)",
        State.Body => "in the body (after the end of headers)",
        _ => state.ToString(),
    };

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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))] // no allocation per call in steady state
    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_writer.PendingLength == 0)
        {
            return;
        }

        if (_settings.LogTraffic && _logger.IsEnabled(LogLevel.Debug))
        {
            foreach (var packet in PacketFormatter.DescribeWritten(_writer.Pending.ToArray()))
            {
                Log.PacketSent(_logger, Endpoint, packet);
            }
        }

        var token = Arm(cancellationToken);
        try
        {
            await _writer.FlushAsync(_stream, _settings.BlockingIo, token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsTimeout(e, cancellationToken))
        {
            throw new MilterProtocolException(MilterFailureKind.Timeout, _stage, $"can't write {_stage}: {TimedOut()}", e);
        }
        catch (IOException e)
        {
            throw new MilterProtocolException(MilterFailureKind.Network, _stage,
                $"can't write {_stage}: {e.InnerException?.Message ?? e.Message}", e);
        }
        finally
        {
            Disarm();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<Frame> ReadFrameAsync(string stage, CancellationToken cancellationToken)
    {
        _stage = stage; // a failure while waiting names the reply ("SMFIC_MAIL reply")
        var token = Arm(cancellationToken);
        Frame frame;
        try
        {
            frame = await _reader.ReadAsync(stage, _settings.BlockingIo, token).ConfigureAwait(false);
        }
        catch (Exception e) when (IsTimeout(e, cancellationToken))
        {
            throw new MilterProtocolException(MilterFailureKind.Timeout, stage, $"can't read {stage} packet: {TimedOut()}", e);
        }
        finally
        {
            Disarm();
        }

        if (_settings.LogTraffic && _logger.IsEnabled(LogLevel.Debug))
        {
            Log.PacketReceived(_logger, Endpoint, PacketFormatter.Describe(frame.Code, frame.Payload.Span));
        }

        return frame;
    }

    /// <summary>A timer (async) or socket timeout (blocking) that expired, rather than the host cancelling.</summary>
    private static bool IsTimeout(Exception e, CancellationToken hostToken) =>
        e is TimeoutException || (e is OperationCanceledException && !hostToken.IsCancellationRequested)
        || (e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock } });

    /// <summary>
    /// Arms the per-operation bound. Async: a timer token, one token source reused for the life of the
    /// session. Blocking: the socket's own timeouts bound the call; a host cancellation closes the stream.
    /// </summary>
    private CancellationToken Arm(CancellationToken hostToken)
    {
        _boundByBudget = _budgetRunning && _budget < _settings.Timeout;
        var bound = _boundByBudget ? _budget : _settings.Timeout;
        _operationStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_settings.BlockingIo)
        {
            if (_boundByBudget && bound <= TimeSpan.Zero)
            {
                throw new MilterProtocolException(MilterFailureKind.Timeout, _stage, $"can't wait for {_stage}: {TimedOut()}");
            }

            _control?.SetBlockingTimeout(bound);
            if (hostToken.CanBeCanceled)
            {
                _hostRegistration = hostToken.UnsafeRegister(static s => ((Stream)s!).Dispose(), _stream);
            }

            return CancellationToken.None;
        }

        if (!_timer.TryReset())
        {
            _timer.Dispose();
            _timer = new CancellationTokenSource();
        }

        _timer.CancelAfter(bound > TimeSpan.Zero ? bound : TimeSpan.FromTicks(1));
        if (hostToken.CanBeCanceled)
        {
            _hostRegistration = hostToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _timer);
        }

        return _timer.Token;
    }

    private void Disarm()
    {
        _hostRegistration.Dispose();
        _hostRegistration = default;
        if (_budgetRunning)
        {
            _budget -= System.Diagnostics.Stopwatch.GetElapsedTime(_operationStarted);
        }
    }

    /// <summary>Why the operation timed out: the per-operation TIMEOUT, or the message's MESSAGE_TIMEOUT budget.</summary>
    private string TimedOut() => _boundByBudget
        ? $"the milter used up the {Seconds(_settings.MessageTimeout)} it may take over one message (MESSAGE_TIMEOUT)"
        : $"timed out after {Seconds(_settings.Timeout)}";

    private static string Seconds(TimeSpan timeout) =>
        timeout.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture) + " s";

    private static bool IsSessionFailure(Exception e) =>
        e is MilterProtocolException or IOException or SocketException or ObjectDisposedException or OperationCanceledException;

    /// <summary>
    /// Breaks the session for good: closes the stream without sending anything more (replies may be in
    /// flight, so nothing could restore step), and remembers the failure for every later call. A
    /// cancellation by the host is rethrown as such, but the session is broken all the same.
    /// </summary>
    private Exception Break(Exception e, CancellationToken hostToken)
    {
        // In blocking mode a host cancellation closes the stream, so it surfaces as a failed read.
        var cancelledByHost = hostToken.IsCancellationRequested && e is OperationCanceledException or IOException or ObjectDisposedException;
        if (_state != State.Broken)
        {
            _failure = e switch
            {
                _ when cancelledByHost => new MilterProtocolException(MilterFailureKind.Cancelled, _stage, "cancelled by the host", e),
                MilterProtocolException p => p,
                _ => new MilterProtocolException(MilterFailureKind.Network, _stage, e.Message, e),
            };
            _state = State.Broken;
            _writer.Clear();
            _stream.Dispose();
        }

        if (cancelledByHost)
        {
            return new OperationCanceledException("The host cancelled the milter operation.", e, hostToken);
        }

        return _failure!;
    }
}

/// <summary>Envelope address helpers.</summary>
internal static class Addresses
{
    /// <summary>The address in angle brackets, as SMTP writes it; the null sender is <c>&lt;&gt;</c>.</summary>
    public static string Bracket(string address)
    {
        var trimmed = address.Trim();
        return trimmed.StartsWith('<') ? trimmed : "<" + trimmed + ">";
    }

    /// <summary>Without angle brackets.</summary>
    public static string Unbracket(string address) =>
        address is ['<', .., '>'] ? address[1..^1] : address;

    /// <summary>The domain part after the last '@', or empty.</summary>
    public static string Domain(string address)
    {
        var bare = Unbracket(address);
        var at = bare.LastIndexOf('@');
        return at < 0 ? string.Empty : bare[(at + 1)..];
    }
}

/// <summary>Queue ids for the <c>i</c> macro when the host gives none: unique per message in this process and unlikely to repeat across processes.</summary>
internal static class QueueIds
{
    private static readonly uint Prefix = (uint)Random.Shared.Next() ^ (uint)Environment.ProcessId;
    private static long s_counter;

    public static string Next()
    {
        var n = Interlocked.Increment(ref s_counter);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix:X8}{n:X6}");
    }
}
