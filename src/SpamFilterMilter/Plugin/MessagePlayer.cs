using System.Diagnostics;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// Plays stages through a <see cref="FilterSessionAdapter"/> and tells the observer of each (the check tool shows
/// them); <see cref="ContentAsync"/> plays a message's content, the one place a message stream is read. Whole-message
/// filtering (<see cref="WholeMessageFilter"/>) and a host's <see cref="IFilterSession.MessageAsync"/> both play
/// through it, so the content a milter sees is the same either way.
/// </summary>
internal readonly struct MessagePlayer(FilterSessionAdapter session, Action<StageObservation>? observe)
{
    /// <summary>
    /// Tells the observer how <paramref name="stage"/> was decided; true when the milter has decided the message (or
    /// failed). Callers write the stage first and await the call in the second argument, so that the stage's clock
    /// starts before the call does (arguments are evaluated in order) and the call's wait suspends only the caller.
    /// </summary>
    public bool Decided(StageStart stage, StageDecision decision)
    {
        observe?.Invoke(stage.Observed(decision));
        return session.Verdict is not null;
    }

    /// <summary>
    /// After an accepted DATA: reads <paramref name="message"/> (header fields with the Contract's
    /// <see cref="MessageHeaderReader"/>, then the body) and plays each header field, the end of the headers, the body
    /// and the end of the message, and returns the verdict. A verdict reached before the end (a decision, a failure)
    /// stops the reading there: the rest of the stream is left unread. A stream that cannot be read (or a header field
    /// over 1 MiB) fails the message as the milter's failure would.
    /// </summary>
    /// <param name="message">The content after DATA, CRLF or LF.</param>
    /// <param name="hiddenTraceHeader">
    /// The host's own trace header, exactly as it stands in the message: the first field equal to it is not shown to
    /// the milter, as Postfix does not show its own Received:.
    /// </param>
    /// <param name="cancellationToken">The host's cancellation.</param>
    public async ValueTask<FilterVerdict> ContentAsync(Stream message, HeaderField? hiddenTraceHeader, CancellationToken cancellationToken)
    {
        if (session.Verdict is { } decided)
        {
            return decided; // decided at MAIL, RCPT or DATA: nothing of the content is read
        }

        using var reader = new MessageHeaderReader(message);
        var hidden = hiddenTraceHeader;
        while (true)
        {
            HeaderField? field;
            try
            {
                field = await reader.ReadFieldAsync(cancellationToken).ConfigureAwait(false); // one at a time: a decision stops the reading there
            }
            catch (Exception e) when (!(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                return await session.FailMessageAsync(FilterStage.Header, e).ConfigureAwait(false); // the host's stream, or a header field too long
            }

            if (field is not { } header)
            {
                break;
            }

            if (header == hidden)
            {
                hidden = null; // shown once to nobody: only the first equal field is the host's
                continue;
            }

            // A field with blanks before its colon is cut as Postfix keeps it here, where they are known (Postfix's pieces of
            // the line count them); the session's own cut, which does not know them, then keeps what is left as it is. Any
            // other field the session cuts alike: not scanned twice on every message's way.
            var value = reader.BlanksBeforeColon > 0 ? HeaderSyntax.CutLikePostfix(header.Name, header.Value, reader.BlanksBeforeColon) : header.Value;
            if (Decided(new(FilterStage.Header, header.Name), await session.HeaderAsync(header.Name, value, cancellationToken).ConfigureAwait(false)))
            {
                return session.Verdict!;
            }
        }

        if (Decided(new(FilterStage.EndOfHeaders), await session.EndOfHeadersAsync(cancellationToken).ConfigureAwait(false)))
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

            if (Decided(new(FilterStage.Body, bytes: chunk.Length), await session.BodyAsync(chunk, cancellationToken).ConfigureAwait(false)))
            {
                return session.Verdict!;
            }
        }

        var end = new StageStart(FilterStage.EndOfMessage);
        var verdict = await session.EndOfMessageAsync(cancellationToken).ConfigureAwait(false);
        observe?.Invoke(end.Observed(new StageDecision { Stage = FilterStage.EndOfMessage, Action = verdict.Action, Reply = verdict.Reply, Failure = verdict.Failure }));
        return verdict;
    }
}

/// <summary>A stage being played, and when it started.</summary>
internal readonly struct StageStart(FilterStage stage, string? subject = null, int bytes = 0)
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public StageObservation Observed(StageDecision decision) =>
        new(stage, subject, decision, Stopwatch.GetElapsedTime(_started), bytes);
}
