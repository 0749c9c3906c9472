using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// One milter connection as the session uses it: strict framing both ways, COMMAND_TIMEOUT or CONTENT_TIMEOUT on each wait and the message
/// budget (<see cref="MessageBudget"/>) across a message, the answer loop (PROGRESS, QUARANTINE, the modifications,
/// then one decision, each packet checked by <see cref="ReplyDecoder"/>), the traffic log, and the sticky failure.
/// Every exchange with the milter goes through <see cref="ExchangeAsync"/> (or, for OPTNEG, <see cref="NegotiateAsync"/>):
/// the one place that catches a failure, breaks the connection for good (closed, nothing more sent: replies may be in
/// flight, so nothing could restore step) and remembers it, as Postfix's milter8 does. Not thread-safe.
/// </summary>
internal sealed class MilterChannel : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly FrameReader _reader;
    private readonly PacketWriter _writer;
    private readonly MilterSessionSettings _settings;
    private readonly ILogger _logger;
    private readonly IConnectionControl? _control;
    private readonly EditCollector _edits;
    private readonly WaitTimer? _timer; // async I/O only: blocking waits are bounded by the socket's timeouts
    private CancellationTokenRegistration _hostRegistration;
    private NegotiatedOptions? _options;
    private TimeSpan _bound; // of the wait under way

    // What is under way, for a failure that does not say it itself (a socket error, a host cancellation).
    private FilterStage _stage;
    private string _step = "start";

    public MilterChannel(Stream stream, string endpoint, MilterSessionSettings settings, ILogger logger, IConnectionControl? control)
    {
        _stream = stream;
        Endpoint = endpoint;
        _settings = settings;
        _logger = logger;
        _control = control;
        _reader = new FrameReader(stream, settings.MaxReplyPacket, control);
        _timer = settings.BlockingIo ? null : new WaitTimer();
        _writer = new PacketWriter(MilterConstants.DefaultMaxPayload);
        _edits = new EditCollector(settings.MaxEditsPerMessage, settings.MaxReplacementBodyBytes, settings.BodySpillDirectory);
        Budget = new MessageBudget(settings.CommandTimeout, settings.ContentTimeout, settings.MessageTimeout);
    }

    /// <summary>The milter, as log lines name it.</summary>
    public string Endpoint { get; }

    /// <summary>Where the session writes its packets; they go out with the next exchange.</summary>
    public PacketWriter Writer => _writer;

    /// <summary>The time the milter may still take over the current message or event.</summary>
    public MessageBudget Budget { get; }

    /// <summary>The failure that broke the connection, or null while it is usable.</summary>
    public MilterProtocolException? Failure { get; private set; }

    /// <summary>Uses what was negotiated on this connection (for a connection reused after SMFIC_QUIT_NC).</summary>
    public void Use(NegotiatedOptions options)
    {
        _options = options;
        _writer.MaxPayload = options.MaxPayload; // never send more than the milter accepts
        _reader.MaxPayload = Math.Max(_settings.MaxReplyPacket, options.MaxPayload); // accept what we agreed on
    }

    /// <summary>
    /// SMFIC_OPTNEG: offers <paramref name="offeredProtocol"/> with every action, reads the one answer and judges it
    /// (<see cref="Negotiation.Judge"/>).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<NegotiatedOptions> NegotiateAsync(ProtocolFlags offeredProtocol, CancellationToken cancellationToken)
    {
        try
        {
            Negotiation.WriteOffer(_writer, offeredProtocol);
            await FlushAsync(MilterCommand.OptionNegotiation, cancellationToken).ConfigureAwait(false);
            Frame frame;
            try
            {
                frame = await ReadFrameAsync(FilterStage.Connect, Negotiation.Step, cancellationToken).ConfigureAwait(false);
            }
            catch (MilterProtocolException e) when (e.Kind == MilterFailureKind.Closed)
            {
                // A milter cannot say "no" to OPTNEG: libmilter just hangs up. Say what that means.
                throw new MilterProtocolException(MilterFailureKind.Negotiation, e.Stage, e.Step,
                    e.Cause + " (a milter that cannot accept what we offer hangs up during negotiation)", e);
            }

            if (_reader.BufferedCount > 0)
            {
                throw new MilterProtocolException(MilterFailureKind.Malformed, FilterStage.Connect, Negotiation.Step,
                    $"the milter sent {_reader.BufferedCount} more bytes after its OPTNEG answer (garbage)");
            }

            var options = Negotiation.Judge(frame, offeredProtocol);
            Use(options);
            return options;
        }
        catch (Exception e) // whatever it is, the milter's step is lost: break
        {
            throw Break(e, cancellationToken);
        }
    }

    /// <summary>
    /// Writes one command packet (its payload by <paramref name="writePayload"/>) behind what is pending, then
    /// exchanges as <see cref="ExchangeAsync"/> does. A payload larger than the milter accepts breaks the connection.
    /// </summary>
    public ValueTask<MilterAnswer> SendAsync<TState>(MilterCommand command, bool expectAnswer, TState state,
        Action<PacketWriter, TState> writePayload, CancellationToken cancellationToken) =>
        SendAsync(command, expectAnswer, state, writePayload, AnswerItself.Instance, cancellationToken);

    /// <summary>
    /// <see cref="SendAsync{TState}(MilterCommand, bool, TState, Action{PacketWriter, TState}, CancellationToken)"/>, the
    /// answer (or the failure) handed to <paramref name="then"/> by the method that read it.
    /// </summary>
    public ValueTask<TResult> SendAsync<TState, TResult>(MilterCommand command, bool expectAnswer, TState state,
        Action<PacketWriter, TState> writePayload, IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        try
        {
            _writer.Begin(command);
            writePayload(_writer, state);
            _writer.End();
        }
        catch (MilterProtocolException e)
        {
            return HandOnNow(then, failure: Break(e, cancellationToken));
        }

        return ExchangeAsync(command, expectAnswer, then, cancellationToken);
    }

    /// <summary>
    /// The exchange for <paramref name="command"/>, whose packet is pending: when it expects an answer, writes
    /// everything pending in one write and reads the answer; otherwise leaves it buffered for the next write (so a
    /// milter never waits on Nagle or a delayed ACK between two packets of one event), writing only when the buffer
    /// is full.
    /// </summary>
    public ValueTask<MilterAnswer> ExchangeAsync(MilterCommand command, bool expectAnswer, CancellationToken cancellationToken) =>
        ExchangeAsync(command, expectAnswer, AnswerItself.Instance, cancellationToken);

    /// <summary>
    /// <see cref="ExchangeAsync(MilterCommand, bool, CancellationToken)"/>, the answer (or the failure) handed to
    /// <paramref name="then"/>. Not an async method itself: a write that completes at once (nearly all of them) goes
    /// straight on to <see cref="ReadAnswerAsync"/>, so that waiting for the answer suspends one method, not a chain of them.
    /// </summary>
    public ValueTask<TResult> ExchangeAsync<TResult>(MilterCommand command, bool expectAnswer, IAnswerContinuation<TResult> then,
        CancellationToken cancellationToken)
    {
        ValueTask flush;
        try
        {
            if (!expectAnswer && _writer.PendingLength < _writer.MaxPayload)
            {
                return HandOnNow(then, MilterAnswer.NoReply(command));
            }

            if (expectAnswer)
            {
                RefuseStrayBytes(command);
            }

            flush = FlushAsync(command, cancellationToken);
            if (flush.IsCompletedSuccessfully)
            {
                flush.GetAwaiter().GetResult();
                return expectAnswer ? ReadAnswerAsync(command, then, cancellationToken) : HandOnNow(then, MilterAnswer.NoReply(command));
            }
        }
        catch (Exception e) // whatever it is, the milter's step is lost: break
        {
            return HandOnNow(then, failure: Break(e, cancellationToken));
        }

        return FinishExchangeAsync(flush, command, expectAnswer, then, cancellationToken);
    }

    /// <summary>Writes <paramref name="command"/> (no payload, no answer) and everything pending now. False when that failed (the connection is then broken).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    public async ValueTask<bool> SendNowAsync(MilterCommand command, CancellationToken cancellationToken)
    {
        try
        {
            _writer.Begin(command);
            _writer.End();
            await FlushAsync(command, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) // whatever it is, the milter's step is lost: break
        {
            _ = Break(e, cancellationToken);
            return false;
        }
    }

    /// <summary>SMFIC_QUIT, best effort (the milter may have gone first: nothing is lost at QUIT), then closes the connection.</summary>
    public async ValueTask QuitAsync(bool sendQuit, CancellationToken cancellationToken)
    {
        try
        {
            if (sendQuit && Failure is null)
            {
                _writer.Cancel();
                _writer.Begin(MilterCommand.Quit);
                _writer.End();
                await FlushAsync(MilterCommand.Quit, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The milter went away first: nothing is lost at QUIT.
        }
        finally
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync()
    {
        _hostRegistration.Dispose();
        _timer?.Dispose();
        _edits.Dispose();
        _reader.Dispose();
        _writer.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary><see cref="ExchangeAsync"/> whose write did not complete at once: waits for it, then reads the answer.</summary>
    private async ValueTask<TResult> FinishExchangeAsync<TResult>(ValueTask flush, MilterCommand command, bool expectAnswer,
        IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (Exception e) // whatever it is, the milter's step is lost: break
        {
            return then.Failed(Break(e, cancellationToken));
        }

        return expectAnswer ? await ReadAnswerAsync(command, then, cancellationToken).ConfigureAwait(false) : then.Answered(MilterAnswer.NoReply(command));
    }

    /// <summary>
    /// Reads the answer to one event: any number of SMFIR_PROGRESS and SMFIR_QUARANTINE (Postfix accepts quarantine
    /// at any stage) and, in answer to SMFIC_BODYEOB, the modifications; then one decision, handed to
    /// <paramref name="then"/> here, outside the part that breaks the connection on any failure. Each packet is read
    /// here, with the reader's steps (<see cref="FrameReader.ReadAsync"/> composes the same ones): the answer's wait
    /// suspends this method alone.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // no allocation per call in steady state
    private async ValueTask<TResult> ReadAnswerAsync<TResult>(MilterCommand command, IAnswerContinuation<TResult> then, CancellationToken cancellationToken)
    {
        MilterAnswer answer;
        try
        {
            var stage = MilterNames.StageOf(command);
            var step = MilterNames.ReplyStage(command);
            _edits.Reset();
            string? quarantine = null;
            for (var count = 1; ; count++)
            {
                if (count > _settings.MaxRepliesPerEvent)
                {
                    throw new MilterProtocolException(MilterFailureKind.LimitExceeded, stage, step,
                        $"more than {_settings.MaxRepliesPerEvent} packets in answer to one event");
                }

                var token = BeginRead(stage, step, cancellationToken);
                Frame frame;
                try
                {
                    while (!_reader.TryTake(stage, step, out frame))
                    {
                        _reader.Received(_settings.BlockingIo ? _reader.Receive() : await _reader.ReceiveAsync(token).ConfigureAwait(false), stage, step);
                    }
                }
                catch (Exception e) when (ReadFailure(e, stage, step, cancellationToken) is { } failure)
                {
                    throw failure;
                }
                finally
                {
                    Disarm();
                }

                LogReceived(frame);
                var reply = ReplyDecoder.Decode(frame, command, _options!, _settings.MaxReplyText);
                if (reply.Quirk is { } quirk)
                {
                    Log.MilterQuirk(_logger, Endpoint, step, quirk);
                }

                if (reply.Kind == ReplyKind.Decision)
                {
                    RefuseMoreAfterAnswer(stage, step, atEndOfMessage: command == MilterCommand.EndOfBody);
                    answer = new MilterAnswer(reply.Response, quarantine, _edits.Build(), command, frame.Code);
                    break;
                }

                switch (reply.Kind)
                {
                    case ReplyKind.Quarantine:
                        quarantine = reply.Text;
                        break;
                    case ReplyKind.Modification:
                        _edits.Add(reply.Edit!);
                        break;
                    case ReplyKind.BodyChunk:
                        _edits.AddBody(reply.Body.Span);
                        break;
                }

                MoreToCome();
            }
        }
        catch (Exception e) // whatever it is, the milter's step is lost: break
        {
            return then.Failed(Break(e, cancellationToken));
        }

        return then.Answered(answer);
    }

    /// <summary>
    /// The exchange's end handed to <paramref name="then"/> at once, outside an async method: <paramref name="answer"/>,
    /// or <paramref name="failure"/> when there is one; what the continuation throws, as a failed task.
    /// </summary>
    private static ValueTask<TResult> HandOnNow<TResult>(IAnswerContinuation<TResult> then, MilterAnswer answer = default, Exception? failure = null)
    {
        try
        {
            return new ValueTask<TResult>(failure is null ? then.Answered(answer) : then.Failed(failure));
        }
        catch (Exception e)
        {
            return ValueTask.FromException<TResult>(e);
        }
    }

    /// <summary>
    /// A packet was read that more will follow: acknowledge it now unless the rest is already here, so that the
    /// milter's Nagle does not hold its next packet for our delayed ACK.
    /// </summary>
    private void MoreToCome()
    {
        if (_reader.BufferedCount == 0)
        {
            _control?.AcknowledgeNow();
        }
    }

    /// <summary>
    /// A milter gives one final answer per event; bytes already here behind it are a second answer (to a no-reply
    /// command, say) or garbage, and reading on would pair every later reply with the wrong command. At the end of
    /// a message the socket is asked too: nothing may follow the final answer.
    /// </summary>
    private void RefuseMoreAfterAnswer(FilterStage stage, string step, bool atEndOfMessage)
    {
        var more = _reader.BufferedCount + (atEndOfMessage ? _control?.AvailableBytes ?? 0 : 0);
        if (more > 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, stage, step,
                $"the milter sent {more} more bytes after its answer (a second answer, or garbage)");
        }
    }

    /// <summary>
    /// Before a command that expects an answer is sent, nothing may be waiting from the milter: bytes that arrived
    /// unasked are a reply to a command that takes none (a milter that ignores its NR_* steps) or garbage, and
    /// reading on would pair every later reply with the wrong command. Checked before the write, so that the answer
    /// to this command cannot be mistaken for them. (A stray reply still in flight when the next command is sent
    /// cannot be told from its answer by any client: see docs/misbehaving-milters.md.)
    /// </summary>
    private void RefuseStrayBytes(MilterCommand command)
    {
        var stray = _reader.BufferedCount + (_control?.AvailableBytes ?? 0);
        if (stray > 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Unexpected, MilterNames.StageOf(command), MilterNames.ReplyStage(command),
                $"the milter sent {stray} bytes nobody asked for (a reply to a command that takes none?)");
        }
    }

    /// <summary>
    /// Writes everything pending in one write, under the stage's timeout (or what is left of the budget). Asynchronously
    /// the write is tried before its wait is armed: the socket takes nearly every write at once, and a write that did
    /// not wait needs no bound (arming and disarming one is three clock reads and a lock, per command).
    /// </summary>
    private ValueTask FlushAsync(MilterCommand command, CancellationToken cancellationToken)
    {
        _stage = MilterNames.StageOf(command);
        _step = MilterNames.Name(command);
        if (_writer.PendingLength == 0)
        {
            return ValueTask.CompletedTask;
        }

        if (_settings.LogTraffic && _logger.IsEnabled(LogLevel.Debug))
        {
            foreach (var packet in PacketFormatter.DescribeWritten(_writer.Pending.ToArray()))
            {
                Log.PacketSent(_logger, Endpoint, packet);
            }
        }

        if (_settings.BlockingIo)
        {
            return WriteBoundedAsync(begun: null, cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested(); // as an armed wait would: nothing more goes out once the host cancelled
        var write = _writer.FlushAsync(_stream, blocking: false, _timer!.NextToken());
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            return ValueTask.CompletedTask;
        }

        return WriteBoundedAsync(write, cancellationToken);
    }

    /// <summary>
    /// The write under its bound: <paramref name="begun"/>, an asynchronous write that did not complete at once, or
    /// (null) a blocking write, made here once the socket's timeouts are set.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))] // no allocation per call in steady state
    private async ValueTask WriteBoundedAsync(ValueTask? begun, CancellationToken cancellationToken)
    {
        var token = Arm(cancellationToken);
        try
        {
            if (begun.HasValue)
            {
                await begun.Value.ConfigureAwait(false);
            }
            else
            {
                await _writer.FlushAsync(_stream, _settings.BlockingIo, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (IsTimeout(e, cancellationToken))
        {
            throw new MilterProtocolException(MilterFailureKind.Timeout, _stage, _step, $"can't write: {Budget.DescribeTimeout()}", e);
        }
        catch (IOException e)
        {
            throw new MilterProtocolException(MilterFailureKind.Network, _stage, _step, $"can't write: {e.InnerException?.Message ?? e.Message}", e);
        }
        finally
        {
            Disarm();
        }
    }

    /// <summary>One packet, for OPTNEG (answers to events are read by <see cref="ReadAnswerAsync"/>).</summary>
    private async ValueTask<Frame> ReadFrameAsync(FilterStage stage, string step, CancellationToken cancellationToken)
    {
        var token = BeginRead(stage, step, cancellationToken);
        Frame frame;
        try
        {
            frame = await _reader.ReadAsync(stage, step, _settings.BlockingIo, token, _bound).ConfigureAwait(false);
        }
        catch (Exception e) when (ReadFailure(e, stage, step, cancellationToken) is { } failure)
        {
            throw failure;
        }
        finally
        {
            Disarm();
        }

        LogReceived(frame);
        return frame;
    }

    /// <summary>Arms the wait for one packet answering <paramref name="step"/>; a failure while waiting names it ("SMFIC_MAIL reply").</summary>
    private CancellationToken BeginRead(FilterStage stage, string step, CancellationToken cancellationToken)
    {
        (_stage, _step) = (stage, step);
        var token = Arm(cancellationToken);
        _reader.Begin(_settings.BlockingIo, _bound);
        return token;
    }

    /// <summary>
    /// What a failed read means: the wait's bound expired (a timer, a socket timeout, or the packet not whole in time),
    /// or the network failed; null for a failure that says so itself (a malformed packet, the milter closing).
    /// </summary>
    private Exception? ReadFailure(Exception e, FilterStage stage, string step, CancellationToken hostToken) => e switch
    {
        _ when IsTimeout(e, hostToken) => new MilterProtocolException(MilterFailureKind.Timeout, stage, step, $"can't read packet: {Budget.DescribeTimeout()}", e),
        IOException io and not MilterProtocolException => _reader.ReadFailed(io, stage, step),
        _ => null,
    };

    private void LogReceived(Frame frame)
    {
        if (_settings.LogTraffic && _logger.IsEnabled(LogLevel.Debug))
        {
            Log.PacketReceived(_logger, Endpoint, PacketFormatter.Describe(frame.Code, frame.Payload.Span));
        }
    }

    /// <summary>The stages of the message content, whose waits CONTENT_TIMEOUT bounds (Postfix's milter8_message switches to its content timeout for them).</summary>
    private static bool IsContent(FilterStage stage) => stage is FilterStage.Header or FilterStage.EndOfHeaders or FilterStage.Body or FilterStage.EndOfMessage;

    /// <summary>A timer (async) or socket timeout (blocking) that expired, rather than the host cancelling.</summary>
    private static bool IsTimeout(Exception e, CancellationToken hostToken) =>
        e is TimeoutException || (e is OperationCanceledException && !hostToken.IsCancellationRequested)
        || (e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock } });

    /// <summary>
    /// Arms the bound of one wait. Async: the connection's <see cref="WaitTimer"/> (a host cancellation cancels it).
    /// Blocking: the socket's own timeouts bound the call; a host cancellation closes the stream.
    /// </summary>
    private CancellationToken Arm(CancellationToken hostToken)
    {
        var bound = _bound = Budget.BeginWait(IsContent(_stage));
        if (_settings.BlockingIo)
        {
            if (Budget.BindsCurrentWait && bound <= TimeSpan.Zero)
            {
                throw new MilterProtocolException(MilterFailureKind.Timeout, _stage, _step, $"can't wait: {Budget.DescribeTimeout()}");
            }

            _control?.SetBlockingTimeout(bound);
            if (hostToken.CanBeCanceled)
            {
                _hostRegistration = hostToken.UnsafeRegister(static s => ((Stream)s!).Dispose(), _stream);
            }

            return CancellationToken.None;
        }

        var token = _timer!.Start(bound);
        if (hostToken.CanBeCanceled)
        {
            _hostRegistration = hostToken.UnsafeRegister(static s => ((WaitTimer)s!).Cancel(), _timer);
        }

        return token;
    }

    private void Disarm()
    {
        _hostRegistration.Dispose();
        _hostRegistration = default;
        _timer?.Stop();
        Budget.EndWait();
    }

    /// <summary>
    /// Breaks the connection for good: closes the stream without sending anything more, and remembers the failure
    /// for every later call. A cancellation by the host is rethrown as such, but the connection is broken all the same.
    /// </summary>
    private Exception Break(Exception e, CancellationToken hostToken)
    {
        // In blocking mode a host cancellation closes the stream, so it surfaces as a failed read.
        var cancelledByHost = hostToken.IsCancellationRequested && e is OperationCanceledException or IOException or ObjectDisposedException;
        if (Failure is null)
        {
            Failure = e switch
            {
                _ when cancelledByHost => new MilterProtocolException(MilterFailureKind.Cancelled, _stage, _step, "cancelled by the host", e),
                MilterProtocolException p => p,
                IOException or SocketException or ObjectDisposedException or OperationCanceledException =>
                    new MilterProtocolException(MilterFailureKind.Network, _stage, _step, e.Message, e),
                _ => new MilterProtocolException(MilterFailureKind.Internal, _stage, _step, $"{e.GetType().Name}: {e.Message}", e),
            };
            _writer.Clear();
            _stream.Dispose();
        }

        _edits.Reset(); // the answer will never end: a replacement body begun goes, with its file

        if (cancelledByHost)
        {
            return new OperationCanceledException("The host cancelled the milter operation.", e, hostToken);
        }

        return Failure;
    }
}
