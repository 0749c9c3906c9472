using System.Diagnostics;
using System.Runtime.CompilerServices;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Transport;
using SpamFilterMilter.Verdicts;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// The host's stage-by-stage view of one milter connection (<see cref="IFilterSession"/>) over a <see cref="MilterSession"/>.
/// Connects and negotiates at <see cref="ConnectAsync"/> (or takes a parked connection, POOL_SIZE). Turns every milter
/// failure into a decision carrying the configured failure action, logs it once (endpoint, stage, cause), and from
/// then on answers every call with that failure at once, without I/O. A message's verdict is made by
/// <see cref="TransactionVerdictBuilder"/> as soon as it is decided (before the end of the message, if the milter
/// decides then), and recorded once by <see cref="MessageTrace"/>.
/// </summary>
internal sealed class FilterSessionAdapter : IFilterSession
{
    private readonly MilterClientContext _context;
    private readonly MacroTable _macros = new();
    private readonly TransactionVerdictBuilder _verdicts;
    private readonly MessageTrace _trace;
    private readonly bool _wholeMessage;
    private MilterSession? _session;
    private MilterConnection? _connection;
    private EndpointLease? _lease;
    private FilterFailure? _failure;
    private StageCall? _call;
    private bool _closed;

    /// <param name="context">What the plug-in's sessions share.</param>
    /// <param name="wholeMessage">
    /// True for whole-message filtering (<see cref="WholeMessageFilter"/>): the verdict then carries each recipient's
    /// decision at RCPT, and is made for a decision at connect or HELO too.
    /// </param>
    public FilterSessionAdapter(MilterClientContext context, bool wholeMessage = false)
    {
        _context = context;
        _wholeMessage = wholeMessage;
        _verdicts = new TransactionVerdictBuilder(context.Options.FailureAction, recordRecipients: wholeMessage);
        _trace = new MessageTrace(context.LogName, context.Telemetry, context.Logger, traceStages: context.Options.Debug >= 1);
    }

    /// <summary>The server this session uses (the last one tried, until one connects); null before.</summary>
    private MilterTelemetry Telemetry => _lease?.Endpoint.Telemetry ?? _context.Telemetry;

    /// <summary>The server this session uses, as log lines name it; the slot's list when it has none.</summary>
    private string EndpointName => _lease?.Endpoint.Name ?? _context.EndpointName;

    /// <summary><see cref="EndpointName"/> as log lines give it, with the host's slot.</summary>
    private string LogName => _lease?.Endpoint.LogName ?? _context.LogName;

    /// <summary>The failure that ended this session, if any.</summary>
    public FilterFailure? Failure => _failure;

    /// <summary>The verdict of the current message once the milter decided it (or failed); null while it wants to see more.</summary>
    public FilterVerdict? Verdict { get; private set; }

    /// <summary>True when there were recipients and the milter refused every one (whole-message filtering).</summary>
    internal bool AllRecipientsRefused => _verdicts.AllRecipientsRefused;

    public void SetMacro(string name, string? value) => _macros.SetFromHost(name, value);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<StageDecision> ConnectAsync(ClientInfo client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_session is not null || _failure is not null || _closed)
        {
            throw new InvalidOperationException("ConnectAsync is the first call of a session and comes once.");
        }

        if (_wholeMessage)
        {
            _trace.Start(); // the message is the whole call: a verdict at connect or HELO is counted and logged too
        }

        // A server of the slot (HOST may name several); one that fails before the milter saw any of the SMTP session
        // passes the session to the next in service, each tried once.
        var failover = new EndpointFailover(_context.Endpoints);
        while (failover.Next() is { } lease)
        {
            _lease = lease;
            _trace.UseEndpoint(lease.Endpoint.LogName, lease.Endpoint.Telemetry);
            try
            {
                return await ConnectToAsync(lease.Endpoint, client, cancellationToken).ConfigureAwait(false);
            }
            catch (MilterProtocolException e)
            {
                if (!failover.MoveOn(lease, e, cancellationToken))
                {
                    return Fail(e); // one server, the host's cancellation, or not the server's doing: another would fare no better
                }

                if (_session is { } broken)
                {
                    await broken.DisposeAsync().ConfigureAwait(false);
                    _session = null;
                    _connection = null;
                }

                // Counted against this server now; the message's own failure, if no other server takes it, is the slot's.
                lease.Endpoint.Telemetry.RecordFailure(e.ErrorType, e.Stage);
                Log.TryingAnotherServer(_context.Logger, lease.Endpoint.LogName, e.Message);
            }
        }

        // Every server failed this session, or none could take it: the slot's failure, counted against each server already.
        _lease = null;
        _trace.UseEndpoint(_context.LogName, _context.Telemetry);
        return Fail(failover.Exhausted(), counted: failover.AnyFailed);
    }

    /// <summary>
    /// Connects to <paramref name="endpoint"/> (or takes a connection parked there, POOL_SIZE), negotiates and sends
    /// SMFIC_CONNECT; a failure is recorded as the connect stage's and thrown as a <see cref="MilterProtocolException"/>.
    /// </summary>
    private async ValueTask<StageDecision> ConnectToAsync(MilterEndpoint endpoint, ClientInfo client, CancellationToken cancellationToken)
    {
        // A parked connection first (POOL_SIZE): no TCP connect, no OPTNEG. The milter may have closed it since; a
        // transport failure on its first exchange means "open a fresh one", not a failure.
        while (endpoint.Pool?.Rent() is { } parked)
        {
            var session = StartSession(parked.Connection, parked.Options);
            var connectStarted = Stopwatch.GetTimestamp();
            try
            {
                return await ConnectEventAsync(session, client, connectStarted, cancellationToken).ConfigureAwait(false);
            }
            catch (MilterProtocolException e) when (e.Kind is MilterFailureKind.Closed or MilterFailureKind.Network)
            {
                await session.DisposeAsync().ConfigureAwait(false);
                await parked.Connection.DisposeAsync().ConfigureAwait(false);
                _session = null;
            }
            catch (MilterProtocolException e)
            {
                Telemetry.RecordStage(FilterStage.Connect, connectStarted, e.ErrorType);
                throw;
            }
        }

        MilterSession fresh;
        var started = Stopwatch.GetTimestamp();
        var activity = Telemetry.StartConnect(_trace.Context); // inside a whole message's span
        try
        {
            var connection = await endpoint.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
            fresh = StartSession(connection, negotiated: null);
            var negotiated = await fresh.NegotiateAsync(cancellationToken).ConfigureAwait(false);
            Telemetry.Connected(activity, started, connection.PeerEndPoint, negotiated.Version);
        }
        catch (Exception e) when (IsFailure(e, cancellationToken))
        {
            var failure = AsFailure(e, FilterStage.Connect);
            Telemetry.ConnectFailed(activity, started, failure.ErrorType, failure.Message);
            throw failure;
        }
        finally
        {
            activity?.Dispose(); // ended already, unless the host cancelled
        }

        started = Stopwatch.GetTimestamp();
        try
        {
            return await ConnectEventAsync(fresh, client, started, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFailure(e, cancellationToken))
        {
            var failure = AsFailure(e, FilterStage.Connect);
            Telemetry.RecordStage(FilterStage.Connect, started, failure.ErrorType);
            throw failure;
        }
    }

    /// <summary>
    /// SMFIC_CONNECT on a negotiated connection, timed from <paramref name="started"/> as the connect stage when it
    /// succeeds (a failure is timed by the caller: a parked connection the milter closed is no failure).
    /// </summary>
    private async ValueTask<StageDecision> ConnectEventAsync(MilterSession session, ClientInfo client, long started, CancellationToken cancellationToken)
    {
        var response = await session.ConnectAsync(client, cancellationToken).ConfigureAwait(false);
        Telemetry.RecordStage(FilterStage.Connect, started);
        return Decide(FilterStage.Connect, response);
    }

    private MilterSession StartSession(MilterConnection connection, NegotiatedOptions? negotiated)
    {
        _connection = connection;
        _session = new MilterSession(connection.Stream, LogName, _context.SessionSettings, _context.Logger, connection, _macros, negotiated);
        return _session;
    }

    public ValueTask<StageDecision> HeloAsync(string heloName, CancellationToken cancellationToken = default)
    {
        if (!_wholeMessage)
        {
            _trace.Abort(); // a HELO inside a transaction ends it
        }

        return RunAsync(FilterStage.Helo, heloName, static (s, name, ct) => s.HeloAsync(name, ct), cancellationToken);
    }

    public ValueTask<StageDecision> MailAsync(string reversePath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default)
    {
        Verdict = null;
        _verdicts.StartMessage();
        if (!_wholeMessage)
        {
            _trace.Abort(); // a MAIL inside a transaction ends it
            _trace.Start();
        }

        return RunAsync(FilterStage.Mail, (reversePath, esmtpParameters), static (s, a, then, ct) => s.BeginMail(a.reversePath, a.esmtpParameters, then, ct),
            static (s, decided, answer) => s.CompleteMail(decided, answer), cancellationToken);
    }

    public ValueTask<StageDecision> RcptAsync(string forwardPath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.Rcpt, (forwardPath, esmtpParameters), static (s, a, then, ct) => s.BeginRcpt(a.forwardPath, a.esmtpParameters, then, ct),
            static (s, decided, answer) => s.CompleteRcpt(decided, answer), cancellationToken,
            recipient: forwardPath);

    public ValueTask<StageDecision> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hostReply);
        return RunAsync(FilterStage.Rcpt, (forwardPath, hostReply, esmtpParameters),
            static (s, a, ct) => s.RcptRejectedAsync(a.forwardPath, a.hostReply, a.esmtpParameters, ct), cancellationToken);
    }

    public ValueTask<StageDecision> DataAsync(CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.Data, 0, static (s, _, then, ct) => s.BeginData(then, ct), static (s, decided, answer) => s.CompleteData(decided, answer), cancellationToken);

    public ValueTask<StageDecision> HeaderAsync(string name, RawText value, CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.Header, (name, value), static (s, h, then, ct) => s.BeginHeader(h.name, h.value, then, ct),
            static (s, decided, answer) => s.CompleteHeader(decided, answer), cancellationToken);

    public ValueTask<StageDecision> EndOfHeadersAsync(CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.EndOfHeaders, 0, static (s, _, then, ct) => s.BeginEndOfHeaders(then, ct),
            static (s, decided, answer) => s.CompleteEndOfHeaders(decided, answer), cancellationToken);

    public ValueTask<StageDecision> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.Body, chunk, static (s, c, ct) => s.BodyAsync(c, ct), cancellationToken);

    public ValueTask<StageDecision> UnknownAsync(string commandLine, CancellationToken cancellationToken = default) =>
        RunAsync(FilterStage.Unknown, commandLine, static (s, c, ct) => s.UnknownAsync(c, ct), cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<FilterVerdict> EndOfMessageAsync(CancellationToken cancellationToken = default)
    {
        var session = Usable();
        if (session is null)
        {
            return Verdict ??= _verdicts.Failed(_failure!);
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var answer = await session.EndOfMessageAsync(cancellationToken).ConfigureAwait(false);
            Telemetry.RecordStage(FilterStage.EndOfMessage, started);
            _trace.Stage(FilterStage.EndOfMessage, answer.Response.Action);
            if (Verdict is null)
            {
                Verdict = _verdicts.Decided(answer.Response.Action, answer.Response.Reply, answer.Edits, answer.QuarantineReason, session.DecidedAt);
            }
            else
            {
                TransactionVerdictBuilder.DisposeBodies(answer.Edits); // decided before: these edits belong to no verdict
            }

            _trace.Finish(session.QueueId, Verdict);
            _lease?.Succeeded();
            return Verdict;
        }
        catch (Exception e) when (IsFailure(e, cancellationToken))
        {
            var failure = AsFailure(e, FilterStage.EndOfMessage);
            Telemetry.RecordStage(FilterStage.EndOfMessage, started, failure.ErrorType);
            Fail(failure);
            return Verdict!;
        }
    }

    /// <summary>
    /// The content of the message after an accepted DATA, played by <see cref="MessagePlayer.ContentAsync"/>; the
    /// transaction is over afterwards, whether it ran to its end or was decided before (then it is reset here, with
    /// the ABORT Postfix sends).
    /// </summary>
    public async ValueTask<FilterVerdict> MessageAsync(Stream message, HeaderField? hiddenTraceHeader = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Usable() is { AwaitsHeaders: false })
        {
            throw new InvalidOperationException(
                "MessageAsync plays the content of a message: it comes after an accepted DataAsync, in place of HeaderAsync … EndOfMessageAsync.");
        }

        var verdict = await new MessagePlayer(this, null).ContentAsync(message, hiddenTraceHeader, cancellationToken).ConfigureAwait(false);
        if (!_closed && Usable() is { InMessage: true } session)
        {
            await session.AbortAsync(cancellationToken).ConfigureAwait(false);
        }

        return verdict;
    }

    /// <summary>
    /// Ends a message whose every recipient the milter refused (whole-message filtering): the transaction is abandoned
    /// and the verdict is the refusal (a temporary one wins).
    /// </summary>
    internal async ValueTask<FilterVerdict> ConcludeAllRefusedAsync(CancellationToken cancellationToken)
    {
        if (Usable() is { } session)
        {
            await session.AbortAsync(cancellationToken).ConfigureAwait(false);
        }

        Verdict = _verdicts.AllRefused();
        _trace.Finish(_session?.QueueId, Verdict);
        return Verdict;
    }

    public async ValueTask AbortAsync(CancellationToken cancellationToken = default)
    {
        _trace.Abort();
        if (Usable() is { } session)
        {
            await session.AbortAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask CloseAsync(CancellationToken cancellationToken = default)
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        if (_lease is { } lease)
        {
            if (_failure is null)
            {
                lease.Succeeded();
            }

            lease.Release();
        }

        if (_session is not { } session)
        {
            return;
        }

        // Park the connection for the next session when the pool and libmilter allow it.
        var options = session.Options;
        if (_lease?.Endpoint.Pool is { } pool && _failure is null && options is not null && session.CanBeReused
            && await session.QuitForReuseAsync(cancellationToken).ConfigureAwait(false))
        {
            await session.DisposeAsync().ConfigureAwait(false);
            if (!pool.Return(_connection!, options))
            {
                await _connection!.DisposeAsync().ConfigureAwait(false);
            }

            return;
        }

        await session.QuitAsync(cancellationToken).ConfigureAwait(false);
        await session.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => CloseAsync();

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<StageDecision> RunAsync<TState>(FilterStage stage, TState state,
        Func<MilterSession, TState, CancellationToken, ValueTask<MilterResponse>> call, CancellationToken cancellationToken,
        string? recipient = null)
    {
        var session = Usable();
        if (session is null)
        {
            return FailureDecision(stage);
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            return Decided(stage, started, await call(session, state, cancellationToken).ConfigureAwait(false), recipient);
        }
        catch (Exception e) when (IsFailure(e, cancellationToken))
        {
            return Failed(stage, started, e);
        }
    }

    /// <summary>
    /// <see cref="RunAsync{TState}(FilterStage, TState, Func{MilterSession, TState, CancellationToken, ValueTask{MilterResponse}}, CancellationToken, string?)"/>
    /// for an event the session splits at its answer (<see cref="PendingAnswer{TResult}"/>). Not an async method: the
    /// session's <c>Complete…</c> and the host's decision run in <see cref="StageCall"/>, inside the channel's method
    /// that read the answer, so a reply resumes that method and the host's, and nothing of ours in between.
    /// </summary>
    private ValueTask<StageDecision> RunAsync<TState>(FilterStage stage, TState state,
        Func<MilterSession, TState, IAnswerContinuation<StageDecision>, CancellationToken, PendingAnswer<StageDecision>> begin,
        Func<MilterSession, MilterResponse?, MilterAnswer, MilterResponse> complete, CancellationToken cancellationToken, string? recipient = null)
    {
        StageCall? call = null;
        try
        {
            var session = Usable();
            if (session is null)
            {
                return new ValueTask<StageDecision>(FailureDecision(stage));
            }

            call = (_call ??= new StageCall(this)).Start(session, stage, complete, recipient, cancellationToken);
            var pending = begin(session, state, call, cancellationToken);
            return pending.Decided is { } decided ? new ValueTask<StageDecision>(call.Decided(decided)) : pending.Answer;
        }
        catch (Exception e) when (call is not null && IsFailure(e, cancellationToken))
        {
            return new ValueTask<StageDecision>(call.Failed(e)); // before anything was asked (the continuation handles what comes after)
        }
        catch (Exception e) // the host's misuse or cancellation: as an async method would, in the task
        {
            return ValueTask.FromException<StageDecision>(e);
        }
    }

    private StageDecision Decided(FilterStage stage, long started, MilterResponse response, string? recipient)
    {
        Telemetry.RecordStage(stage, started);
        return Decide(stage, response, recipient);
    }

    private StageDecision Failed(FilterStage stage, long started, Exception e)
    {
        var failure = AsFailure(e, stage);
        Telemetry.RecordStage(stage, started, failure.ErrorType);
        return Fail(failure);
    }

    /// <summary>
    /// The message failed for a reason that is not the milter's (the host's message could not be read, say): it gets
    /// the failure outcome as if the milter had failed there, and the session ends.
    /// </summary>
    internal async ValueTask<FilterVerdict> FailMessageAsync(FilterStage stage, Exception cause)
    {
        Fail(new MilterProtocolException(MilterFailureKind.Internal, stage, null, $"the message could not be read: {cause.Message}", cause));
        if (_session is { } session)
        {
            await session.QuitAsync().ConfigureAwait(false); // nothing more goes to the milter
        }

        return Verdict!;
    }

    /// <summary>
    /// Everything but the host's own cancellation and its misuse (a call out of order, a bad argument: host bugs the
    /// contract throws for) becomes a failure: nothing else escapes to the host.
    /// </summary>
    private static bool IsFailure(Exception e, CancellationToken hostToken) =>
        !(e is ArgumentException || (e is InvalidOperationException && e is not ObjectDisposedException)
            || (e is OperationCanceledException && hostToken.IsCancellationRequested));

    private static MilterProtocolException AsFailure(Exception e, FilterStage stage) => e as MilterProtocolException
        ?? new MilterProtocolException(MilterFailureKind.Internal, stage, null, $"{e.GetType().Name}: {e.Message}", e);

    /// <summary>The session to use, null when the milter already failed; throws for host misuse.</summary>
    private MilterSession? Usable()
    {
        if (_closed)
        {
            throw new InvalidOperationException("The filter session is closed.");
        }

        if (_failure is not null)
        {
            return null;
        }

        return _session ?? throw new InvalidOperationException("The filter session must be connected (ConnectAsync) first.");
    }

    /// <summary>
    /// The host's view of the milter's <paramref name="response"/> at <paramref name="stage"/>. A decision that settles
    /// the message (<see cref="DecisionRules"/>) makes its verdict now: an SMTP server will not go on to DATA.
    /// </summary>
    private StageDecision Decide(FilterStage stage, MilterResponse response, string? recipient = null)
    {
        _trace.Stage(stage, response.Action);
        var quarantine = _session?.QuarantineReason;
        var decision = response.Action == FilterAction.Continue && response.Reply is null && quarantine is null
            ? StageDecision.ContinueAt(stage)
            : new StageDecision { Stage = stage, Action = response.Action, Reply = response.Reply, QuarantineReason = quarantine };
        if (recipient is not null)
        {
            _verdicts.Recipient(recipient, decision);
        }

        if (decision.Scope >= DecisionScope.Message && Verdict is null && (_trace.IsOpen || _wholeMessage))
        {
            // Where the milter decided: here, or earlier for a decision that holds for the connection.
            Verdict = _verdicts.Decided(decision.Action, decision.Reply, [], quarantine, _session?.DecidedAt ?? stage);
            _trace.Finish(_session?.QueueId, Verdict);
        }

        return decision;
    }

    /// <summary>The decision every call gets once the milter failed.</summary>
    private StageDecision FailureDecision(FilterStage stage)
    {
        var (action, reply) = _verdicts.FailureOutcome;
        return new StageDecision { Stage = stage, Action = action, Reply = reply, Failure = _failure };
    }

    /// <param name="e">The failure.</param>
    /// <param name="counted">The failure was counted against each server tried already (<c>spamfilter.milter.client.failures</c>).</param>
    private StageDecision Fail(MilterProtocolException e, bool counted = false)
    {
        if (_failure is null)
        {
            _failure = new FilterFailure("milter " + EndpointName, e.Stage, e.Message);
            Log.Failure(_context.Logger, LogName, e.Stage.ToName(), e.Message, FailureActions.Name(_context.Options.FailureAction));
            if (MilterEndpoint.CountsAgainstServer(e.Kind))
            {
                _lease?.Failed(e.Message);
            }

            if (!counted)
            {
                Telemetry.RecordFailure(e.ErrorType, e.Stage);
            }

            _trace.Stage(e.Stage, null);
            Verdict = _verdicts.Failed(_failure);
            _trace.Finish(_session?.QueueId, Verdict, e.ErrorType);
        }

        return FailureDecision(e.Stage);
    }


    /// <summary>
    /// The end of one host call, run by the channel's method that read the milter's answer: the session's
    /// <c>Complete…</c>, the stage's telemetry and the host's decision, or the failure's. One per adapter, reused: a
    /// session takes one call at a time (<see cref="IFilterSession"/>).
    /// </summary>
    private sealed class StageCall(FilterSessionAdapter adapter) : IAnswerContinuation<StageDecision>
    {
        private MilterSession _session = null!;
        private Func<MilterSession, MilterResponse?, MilterAnswer, MilterResponse> _complete = null!;
        private FilterStage _stage;
        private long _started;
        private string? _recipient;
        private CancellationToken _hostToken;

        public StageCall Start(MilterSession session, FilterStage stage, Func<MilterSession, MilterResponse?, MilterAnswer, MilterResponse> complete,
            string? recipient, CancellationToken hostToken)
        {
            (_session, _stage, _complete, _recipient, _hostToken) = (session, stage, complete, recipient, hostToken);
            _started = Stopwatch.GetTimestamp();
            return this;
        }

        public StageDecision Answered(MilterAnswer answer) => Complete(null, answer);

        /// <summary>The session decided without asking the milter.</summary>
        public StageDecision Decided(MilterResponse decided) => Complete(decided, default);

        public StageDecision Failed(Exception failure) =>
            IsFailure(failure, _hostToken) ? adapter.Failed(_stage, _started, failure) : throw failure;

        private StageDecision Complete(MilterResponse? decided, MilterAnswer answer)
        {
            try
            {
                return adapter.Decided(_stage, _started, _complete(_session, decided, answer), _recipient);
            }
            catch (Exception e) when (IsFailure(e, _hostToken))
            {
                return adapter.Failed(_stage, _started, e);
            }
        }
    }
}
