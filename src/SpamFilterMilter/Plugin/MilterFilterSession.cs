using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Policy;
using SpamFilterMilter.Protocol;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// The host's stage-by-stage view of one milter connection (<see cref="IFilterSession"/>). Connects
/// and negotiates at <see cref="ConnectAsync"/>. Turns every milter failure into a decision carrying
/// the configured failure action, logs it once (endpoint, stage, cause), and from then on answers
/// every call with that failure at once, without I/O. At DEBUG=1 writes one line per message.
/// </summary>
internal sealed class MilterFilterSession : IFilterSession
{
    private readonly MilterPluginCore _core;
    private readonly MacroTable _macros = new();
    private readonly StageTrace? _trace;
    private MilterSession? _session;
    private MilterConnection? _connection;
    private Activity? _activity;
    private bool _messageFinished = true;
    private FilterFailure? _failure;
    private bool _closed;
    private long _messageStarted;

    /// <summary>
    /// Set by the whole-message filter, which builds the verdict of a message it ends early itself
    /// (<see cref="Conclude"/>, with the recipients refused so far): the stage decision then does not
    /// finish the message with a verdict of its own.
    /// </summary>
    internal bool ConcludedByCaller { get; init; }

    public MilterFilterSession(MilterPluginCore core)
    {
        _core = core;
        _trace = core.Options.Debug >= 1 ? new StageTrace() : null;
    }

    /// <summary>The failure that ended this session, if any.</summary>
    public FilterFailure? Failure => _failure;

    public void SetMacro(string name, string? value) => _macros.SetFromHost(name, value);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<StageDecision> ConnectAsync(ClientInfo client, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_session is not null || _failure is not null || _closed)
        {
            throw new InvalidOperationException("ConnectAsync is the first call of a session and comes once.");
        }

        // A parked connection first (POOL_SIZE): no TCP connect, no OPTNEG. The milter may have closed
        // it since; a transport failure on its first exchange means "open a fresh one", not a failure.
        while (_core.Pool?.Rent() is { } parked)
        {
            var session = StartSession(parked.Connection, parked.Options);
            try
            {
                var response = await session.ConnectAsync(client, cancellationToken).ConfigureAwait(false);
                return Decide("connect", response);
            }
            catch (MilterProtocolException e) when (e.Kind is MilterFailureKind.Closed or MilterFailureKind.Network)
            {
                await session.DisposeAsync().ConfigureAwait(false);
                await parked.Connection.DisposeAsync().ConfigureAwait(false);
                _session = null;
            }
            catch (MilterProtocolException e)
            {
                return Fail(e);
            }
        }

        try
        {
            var connection = await _core.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
            var session = StartSession(connection, negotiated: null);
            await session.NegotiateAsync(cancellationToken).ConfigureAwait(false);
            var response = await session.ConnectAsync(client, cancellationToken).ConfigureAwait(false);
            return Decide("connect", response);
        }
        catch (MilterProtocolException e)
        {
            return Fail(e);
        }
    }

    private MilterSession StartSession(MilterConnection connection, NegotiatedOptions? negotiated)
    {
        _connection = connection;
        _session = new MilterSession(connection.Stream, _core.EndpointName, _core.SessionSettings, _core.Logger, connection, _macros, negotiated);
        return _session;
    }

    public ValueTask<StageDecision> HeloAsync(string heloName, CancellationToken cancellationToken = default) =>
        RunAsync("helo", heloName, static (s, name, ct) => s.HeloAsync(name, ct), cancellationToken);

    public ValueTask<StageDecision> MailAsync(string reversePath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default)
    {
        _messageStarted = Stopwatch.GetTimestamp();
        _messageFinished = false;
        _trace?.Clear();
        StartMessageActivity();
        return RunAsync("mail", (reversePath, esmtpParameters), static (s, a, ct) => s.MailAsync(a.reversePath, a.esmtpParameters, ct), cancellationToken);
    }

    public ValueTask<StageDecision> RcptAsync(string forwardPath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default) =>
        RunAsync("rcpt", (forwardPath, esmtpParameters), static (s, a, ct) => s.RcptAsync(a.forwardPath, a.esmtpParameters, ct), cancellationToken);

    public ValueTask<StageDecision> DataAsync(CancellationToken cancellationToken = default) =>
        RunAsync("data", 0, static (s, _, ct) => s.DataAsync(ct), cancellationToken);

    public ValueTask<StageDecision> HeaderAsync(string name, string value, CancellationToken cancellationToken = default) =>
        RunAsync("header", (name, value), static (s, h, ct) => s.HeaderAsync(h.name, h.value, ct), cancellationToken);

    public ValueTask<StageDecision> EndOfHeadersAsync(CancellationToken cancellationToken = default) =>
        RunAsync("eoh", 0, static (s, _, ct) => s.EndOfHeadersAsync(ct), cancellationToken);

    public ValueTask<StageDecision> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default) =>
        RunAsync("body", chunk, static (s, c, ct) => s.BodyAsync(c, ct), cancellationToken);

    public ValueTask<StageDecision> UnknownAsync(string commandLine, CancellationToken cancellationToken = default) =>
        RunAsync("unknown", commandLine, static (s, c, ct) => s.UnknownAsync(c, ct), cancellationToken);

    public ValueTask<StageDecision> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hostReply);
        return RunAsync("rcpt-rejected", (forwardPath, hostReply, esmtpParameters),
            static (s, a, ct) => s.RcptRejectedAsync(a.forwardPath, a.hostReply, a.esmtpParameters, ct), cancellationToken);
    }

    public ValueTask<FilterVerdict> EndOfMessageAsync(CancellationToken cancellationToken = default) =>
        EndOfMessageAsync([], cancellationToken);

    /// <summary>The end of the message, with the per-recipient decisions the whole-message filter collected.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    internal async ValueTask<FilterVerdict> EndOfMessageAsync(IReadOnlyList<RecipientDecision> recipients, CancellationToken cancellationToken)
    {
        var session = Usable();
        if (session is null)
        {
            return FailureVerdict();
        }

        FilterVerdict verdict;
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await session.EndOfMessageAsync(cancellationToken).ConfigureAwait(false);
            MilterTelemetry.RecordStage(_core.EndpointName, "eom", started);
            _trace?.Add("eom", result.Response.Action);
            verdict = ActionString.ForOutcome(new MessageOutcome
            {
                Action = result.Response.Action,
                Reply = result.Response.Reply,
                Edits = result.Edits,
                QuarantineReason = result.QuarantineReason,
                Recipients = recipients,
                DecidedAt = result.DecidedAt,
            });
        }
        catch (MilterProtocolException e)
        {
            Fail(e);
            verdict = FailureVerdict();
        }

        Finish(session.QueueId, verdict);
        return verdict;
    }

    /// <summary>Builds the verdict for a message the whole-message filter ended before its end (reject at RCPT, say), and logs it.</summary>
    internal FilterVerdict Conclude(MessageOutcome outcome)
    {
        var verdict = _failure is not null ? FailureVerdict() : ActionString.ForOutcome(outcome);
        Finish(_session?.QueueId, verdict);
        return verdict;
    }

    public async ValueTask AbortAsync(CancellationToken cancellationToken = default)
    {
        if (_activity is { } activity)
        {
            activity.SetTag("aborted", true).Dispose(); // RSET before a verdict: no message to count
            _activity = null;
        }

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
        if (_session is not { } session)
        {
            return;
        }

        // Park the connection for the next session when the pool and libmilter allow it.
        var options = session.Options;
        if (_core.Pool is { } pool && _failure is null && options is not null && session.CanBeReused
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

    /// <summary>The decision every call gets once the milter failed.</summary>
    public StageDecision FailureDecision()
    {
        var (action, reply) = ActionString.Resolve(_core.Options.FailureAction);
        return new StageDecision { Action = action, Reply = reply, Failure = _failure };
    }

    private FilterVerdict FailureVerdict() => ActionString.ForFailure(_failure!, _core.Options.FailureAction);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<StageDecision> RunAsync<TState>(string stage, TState state,
        Func<MilterSession, TState, CancellationToken, ValueTask<MilterResponse>> call, CancellationToken cancellationToken)
    {
        var session = Usable();
        if (session is null)
        {
            return FailureDecision();
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var response = await call(session, state, cancellationToken).ConfigureAwait(false);
            MilterTelemetry.RecordStage(_core.EndpointName, stage, started);
            return Decide(stage, response);
        }
        catch (MilterProtocolException e)
        {
            return Fail(e);
        }
    }

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

    private StageDecision Decide(string stage, MilterResponse response)
    {
        _trace?.Add(stage, response.Action);
        var quarantine = _session?.QuarantineReason;
        var endsMessage = response.Action != FilterAction.Continue && stage is "mail" or "data" or "header" or "eoh" or "body"
            || (stage == "rcpt" && response.Action is FilterAction.Accept or FilterAction.Discard);
        if (endsMessage && !ConcludedByCaller)
        {
            // Decided before the end of the message: an SMTP server will not go on to DATA, so the
            // message is finished here (once), for the metrics and the activity.
            Finish(_session?.QueueId, ActionString.ForOutcome(new MessageOutcome
            {
                Action = response.Action, Reply = response.Reply, QuarantineReason = quarantine, DecidedAt = stage,
            }));
        }

        if (response.Action == FilterAction.Continue && response.Reply is null && quarantine is null)
        {
            return StageDecision.Continue;
        }

        return new StageDecision { Action = response.Action, Reply = response.Reply, QuarantineReason = quarantine };
    }

    private StageDecision Fail(MilterProtocolException e)
    {
        if (_failure is null)
        {
            _failure = new FilterFailure("milter " + _core.EndpointName, e.Stage, e.Cause);
            Log.Failure(_core.Logger, _core.EndpointName, e.Stage, e.Cause, ActionName(ActionString.Resolve(_core.Options.FailureAction).Action));
            MilterTelemetry.RecordFailure(_core.EndpointName, CauseName(e), e.Stage);
            _trace?.Add(e.Stage, null);
        }

        return FailureDecision();
    }

    /// <summary>The action in lower case, without allocating per message (Enum.ToString does).</summary>
    internal static string ActionName(FilterAction action) => action switch
    {
        FilterAction.Continue => "continue",
        FilterAction.Accept => "accept",
        FilterAction.Reject => "reject",
        FilterAction.TempFail => "tempfail",
        _ => "discard",
    };

    private static string CauseName(MilterProtocolException e) => e.Kind switch
    {
        MilterFailureKind.ConnectFailed => "connect",
        MilterFailureKind.LimitExceeded => "limit",
        _ => e.Kind.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// The message activity, from MAIL to the verdict. Started without becoming the host's
    /// Activity.Current: the host's own trace context stays as it was between stage calls.
    /// </summary>
    private void StartMessageActivity()
    {
        _activity?.Dispose();
        var previous = Activity.Current;
        _activity = MilterTelemetry.ActivitySource.StartActivity("milter message", ActivityKind.Client);
        Activity.Current = previous;
        _activity?.SetTag("milter", _core.EndpointName);
    }

    /// <summary>Everything that happens once per verdict: metrics, the activity, the DEBUG=1 line.</summary>
    private void Finish(string? queueId, FilterVerdict verdict)
    {
        if (_messageFinished)
        {
            return; // a decision before the end of the message already finished it
        }

        _messageFinished = true;
        var kind = verdict.Kind switch
        {
            VerdictKind.Default => "default",
            VerdictKind.Null => "null",
            VerdictKind.String => "string",
            _ => "failure",
        };
        var action = ActionName(verdict.Action);
        MilterTelemetry.RecordMessage(_core.EndpointName, kind, action, _messageStarted);
        if (_activity is { } activity)
        {
            activity.SetTag("queue_id", queueId).SetTag("verdict", kind).SetTag("action", action).SetTag("decided_at", verdict.DecidedAt);
            if (verdict.Failure is { } failure)
            {
                activity.SetStatus(ActivityStatusCode.Error, failure.ToString());
            }

            activity.Dispose();
            _activity = null;
        }

        LogSummary(queueId, verdict);
    }

    private void LogSummary(string? queueId, FilterVerdict verdict)
    {
        if (_trace is null || !_core.Logger.IsEnabled(LogLevel.Information))
        {
            _trace?.Clear();
            return;
        }

        var elapsed = _messageStarted == 0 ? 0 : Stopwatch.GetElapsedTime(_messageStarted).TotalMilliseconds;
        var described = verdict.Kind switch
        {
            VerdictKind.Default => "default",
            VerdictKind.Failure => $"failure ({ActionName(verdict.Action)})",
            _ => $"{ActionName(verdict.Action)}, {verdict.Edits.Count} edit(s)",
        };
        Log.MessageSummary(_core.Logger, _core.EndpointName, queueId ?? "-", _trace.ToString(), described, elapsed);
        _trace.Clear();
    }

    /// <summary>The stage decisions of one message, run-length compressed ("header×5=continue").</summary>
    private sealed class StageTrace
    {
        private readonly List<(string Stage, string Action, int Count)> _entries = [];

        public void Add(string stage, FilterAction? action)
        {
            var name = action is { } a ? ActionName(a) : "failed";
            if (_entries.Count > 0 && _entries[^1].Stage == stage && _entries[^1].Action == name)
            {
                _entries[^1] = (stage, name, _entries[^1].Count + 1);
            }
            else
            {
                _entries.Add((stage, name, 1));
            }
        }

        public void Clear() => _entries.Clear();

        public override string ToString()
        {
            var text = new StringBuilder();
            foreach (var (stage, action, count) in _entries)
            {
                if (text.Length > 0)
                {
                    text.Append(' ');
                }

                text.Append(stage);
                if (count > 1)
                {
                    text.Append('×').Append(count);
                }

                text.Append('=').Append(action);
            }

            return text.ToString();
        }
    }
}
