using System.Diagnostics;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// Filters one whole message the way Messaging Server calls a spam-filter plug-in: it plays the SMTP session to the
/// milter (connect, HELO, MAIL, each RCPT, DATA, each header, end of headers, the body, end of message, QUIT)
/// through the same <see cref="FilterSessionAdapter"/> a stage-by-stage host uses, and stops as soon as the milter
/// has decided for the whole message (<see cref="FilterSessionAdapter.Verdict"/>).
/// </summary>
internal static class WholeMessageFilter
{
    /// <param name="context">The plug-in's shared state.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">The host's cancellation.</param>
    /// <param name="observe">
    /// Told of each stage as it is played (the check tool shows them); the end of the message is observed with the
    /// verdict's action and reply.
    /// </param>
    public static async ValueTask<FilterVerdict> FilterAsync(MilterClientContext context, MessageSubmission message, CancellationToken cancellationToken,
        Action<StageObservation>? observe = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("A message needs at least one recipient.", nameof(message));
        }

        await using var session = new FilterSessionAdapter(context, wholeMessage: true);
        if (message.Macros is not null)
        {
            foreach (var (name, value) in message.Macros)
            {
                session.SetMacro(name, value);
            }
        }

        if (message.OptIn is { Count: > 0 } optIn)
        {
            session.SetMacro(MacroNames.OptIn, string.Join(',', optIn));
        }

        var play = new Player(session, observe);
        if (await play.StageAsync(new(FilterStage.Connect), session.ConnectAsync(message.Client ?? new ClientInfo(), cancellationToken)).ConfigureAwait(false))
        {
            return session.Verdict!;
        }

        if (message.HeloName is { } helo && await play.StageAsync(new(FilterStage.Helo, helo), session.HeloAsync(helo, cancellationToken)).ConfigureAwait(false))
        {
            return session.Verdict!;
        }

        if (await play.StageAsync(new(FilterStage.Mail, message.MailFrom), session.MailAsync(message.MailFrom, message.MailParameters, cancellationToken)).ConfigureAwait(false))
        {
            return session.Verdict!;
        }

        foreach (var recipient in message.Recipients)
        {
            if (await play.StageAsync(new(FilterStage.Rcpt, recipient.Address), session.RcptAsync(recipient.Address, recipient.Parameters, cancellationToken)).ConfigureAwait(false))
            {
                return session.Verdict!;
            }
        }

        if (session.AllRecipientsRefused)
        {
            return await session.ConcludeAllRefusedAsync(cancellationToken).ConfigureAwait(false);
        }

        if (await play.StageAsync(new(FilterStage.Data), session.DataAsync(cancellationToken)).ConfigureAwait(false))
        {
            return session.Verdict!;
        }

        using var reader = new MessageHeaderReader(message.Message);
        IReadOnlyList<HeaderField> headers;
        try
        {
            headers = await reader.ReadFieldsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return await session.FailMessageAsync(FilterStage.Header, e).ConfigureAwait(false); // the host's stream, or a header field too long
        }

        var hidden = message.HiddenTraceHeader;
        foreach (var header in headers)
        {
            if (header == hidden)
            {
                hidden = null; // the host's own trace header, not shown to the milter (once, as Postfix hides its Received:)
                continue;
            }

            if (await play.StageAsync(new(FilterStage.Header, header.Name), session.HeaderAsync(header.Name, header.Value, cancellationToken)).ConfigureAwait(false))
            {
                return session.Verdict!;
            }
        }

        if (await play.StageAsync(new(FilterStage.EndOfHeaders), session.EndOfHeadersAsync(cancellationToken)).ConfigureAwait(false))
        {
            return session.Verdict!;
        }

        while (true)
        {
            ReadOnlyMemory<byte> chunk;
            try
            {
                chunk = await reader.ReadBodyAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                return await session.FailMessageAsync(FilterStage.Body, e).ConfigureAwait(false);
            }

            if (chunk.IsEmpty)
            {
                break;
            }

            if (await play.StageAsync(new(FilterStage.Body, bytes: chunk.Length), session.BodyAsync(chunk, cancellationToken)).ConfigureAwait(false))
            {
                return session.Verdict!;
            }
        }

        var end = new StageStart(FilterStage.EndOfMessage);
        var verdict = await session.EndOfMessageAsync(cancellationToken).ConfigureAwait(false);
        observe?.Invoke(end.Observed(new StageDecision { Stage = FilterStage.EndOfMessage, Action = verdict.Action, Reply = verdict.Reply, Failure = verdict.Failure }));
        return verdict;
    }

    /// <summary>Plays one stage at a time: tells the observer, and says whether the message is decided.</summary>
    private readonly struct Player(FilterSessionAdapter session, Action<StageObservation>? observe)
    {
        /// <summary>
        /// Awaits <paramref name="call"/>; true when the milter has decided the message (or failed). The stage is
        /// written first in the call, so its clock starts before the call does (arguments are evaluated in order).
        /// </summary>
        public async ValueTask<bool> StageAsync(StageStart stage, ValueTask<StageDecision> call)
        {
            var decision = await call.ConfigureAwait(false);
            observe?.Invoke(stage.Observed(decision));
            return session.Verdict is not null;
        }
    }

    /// <summary>A stage being played, and when it started.</summary>
    private readonly struct StageStart(FilterStage stage, string? subject = null, int bytes = 0)
    {
        private readonly long _started = Stopwatch.GetTimestamp();

        public StageObservation Observed(StageDecision decision) =>
            new(stage, subject, decision, Stopwatch.GetElapsedTime(_started), bytes);
    }
}
