using System.Diagnostics;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Policy;
using SpamFilterMilter.Protocol;

namespace SpamFilterMilter.Plugin;

/// <summary>
/// Filters one whole message the way Messaging Server calls a spam-filter plug-in: it plays the SMTP
/// session to the milter (connect, HELO, MAIL, each RCPT, DATA, each header, end of headers, the
/// body, end of message, QUIT) through the same <see cref="MilterFilterSession"/> a stage-by-stage
/// host uses, and stops as soon as the milter has decided for the whole message.
/// </summary>
internal static class WholeMessageFilter
{
    /// <param name="observe">
    /// Told of each stage as it is played (the check tool shows them); the end of the message is
    /// observed as "eom" with the verdict's action and reply.
    /// </param>
    public static async ValueTask<FilterVerdict> FilterAsync(MilterPluginCore core, MessageSubmission message, CancellationToken cancellationToken,
        Action<StageObservation>? observe = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("A message needs at least one recipient.", nameof(message));
        }

        await using var session = new MilterFilterSession(core) { ConcludedByCaller = true };
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

        var recipients = new List<RecipientDecision>(message.Recipients.Count);
        var started = Stopwatch.GetTimestamp();
        var decision = await session.ConnectAsync(message.Client ?? new ClientInfo(), cancellationToken).ConfigureAwait(false);
        observe?.Invoke(new("connect", null, decision, Stopwatch.GetElapsedTime(started)));
        if (Ended(session, decision, "connect", recipients) is { } atConnect)
        {
            return atConnect;
        }

        if (message.HeloName is { } helo)
        {
            started = Stopwatch.GetTimestamp();
            decision = await session.HeloAsync(helo, cancellationToken).ConfigureAwait(false);
            observe?.Invoke(new("helo", helo, decision, Stopwatch.GetElapsedTime(started)));
            if (Ended(session, decision, "helo", recipients) is { } atHelo)
            {
                return atHelo;
            }
        }

        started = Stopwatch.GetTimestamp();
        decision = await session.MailAsync(message.MailFrom, message.MailParameters, cancellationToken).ConfigureAwait(false);
        observe?.Invoke(new("mail", message.MailFrom, decision, Stopwatch.GetElapsedTime(started)));
        if (Ended(session, decision, "mail", recipients) is { } atMail)
        {
            return atMail;
        }

        foreach (var recipient in message.Recipients)
        {
            started = Stopwatch.GetTimestamp();
            decision = await session.RcptAsync(recipient.Address, recipient.Parameters, cancellationToken).ConfigureAwait(false);
            observe?.Invoke(new("rcpt", recipient.Address, decision, Stopwatch.GetElapsedTime(started)));
            if (decision.Failure is null && decision.Action is FilterAction.Reject or FilterAction.TempFail)
            {
                recipients.Add(new RecipientDecision(recipient.Address, decision.Action, decision.Reply));
                continue;
            }

            recipients.Add(new RecipientDecision(recipient.Address, decision.Action == FilterAction.Accept ? FilterAction.Accept : FilterAction.Continue, null));
            if (Ended(session, decision, "rcpt", recipients) is { } atRcpt)
            {
                return atRcpt;
            }
        }

        if (recipients.All(r => r.Action is FilterAction.Reject or FilterAction.TempFail))
        {
            // Every recipient refused: the message goes nowhere. A temporary refusal wins so the sender retries.
            var deciding = recipients.FirstOrDefault(r => r.Action == FilterAction.TempFail) ?? recipients[^1];
            await session.AbortAsync(cancellationToken).ConfigureAwait(false);
            return session.Conclude(new MessageOutcome { Action = deciding.Action, Reply = deciding.Reply, Recipients = recipients, DecidedAt = "rcpt" });
        }

        started = Stopwatch.GetTimestamp();
        decision = await session.DataAsync(cancellationToken).ConfigureAwait(false);
        observe?.Invoke(new("data", null, decision, Stopwatch.GetElapsedTime(started)));
        if (Ended(session, decision, "data", recipients) is { } atData)
        {
            return atData;
        }

        using var reader = new MessageReader(message.Message);
        foreach (var header in await reader.ReadHeadersAsync(cancellationToken).ConfigureAwait(false))
        {
            started = Stopwatch.GetTimestamp();
            decision = await session.HeaderAsync(header.Name, header.Value, cancellationToken).ConfigureAwait(false);
            observe?.Invoke(new("header", header.Name, decision, Stopwatch.GetElapsedTime(started)));
            if (Ended(session, decision, "header", recipients) is { } atHeader)
            {
                return atHeader;
            }
        }

        started = Stopwatch.GetTimestamp();
        decision = await session.EndOfHeadersAsync(cancellationToken).ConfigureAwait(false);
        observe?.Invoke(new("eoh", null, decision, Stopwatch.GetElapsedTime(started)));
        if (Ended(session, decision, "eoh", recipients) is { } atEndOfHeaders)
        {
            return atEndOfHeaders;
        }

        while (true)
        {
            var chunk = await reader.ReadBodyAsync(cancellationToken).ConfigureAwait(false);
            if (chunk.IsEmpty)
            {
                break;
            }

            started = Stopwatch.GetTimestamp();
            decision = await session.BodyAsync(chunk, cancellationToken).ConfigureAwait(false);
            observe?.Invoke(new("body", null, decision, Stopwatch.GetElapsedTime(started), chunk.Length));
            if (Ended(session, decision, "body", recipients) is { } atBody)
            {
                return atBody;
            }
        }

        started = Stopwatch.GetTimestamp();
        var verdict = await session.EndOfMessageAsync(recipients, cancellationToken).ConfigureAwait(false);
        observe?.Invoke(new("eom", null, new StageDecision { Action = verdict.Action, Reply = verdict.Reply, Failure = verdict.Failure },
            Stopwatch.GetElapsedTime(started)));
        return verdict;
    }

    /// <summary>
    /// The verdict when <paramref name="decision"/> settles the whole message (or the milter failed);
    /// null to go on. Reject and tempfail at RCPT concern one recipient and are handled by the caller.
    /// </summary>
    private static FilterVerdict? Ended(MilterFilterSession session, StageDecision decision, string stage, List<RecipientDecision> recipients)
    {
        if (decision.Failure is not null)
        {
            return session.Conclude(new MessageOutcome());
        }

        if (decision.Action == FilterAction.Continue)
        {
            return null;
        }

        return session.Conclude(new MessageOutcome
        {
            Action = decision.Action,
            Reply = decision.Reply,
            QuarantineReason = decision.QuarantineReason,
            Recipients = recipients,
            DecidedAt = stage,
        });
    }
}

/// <summary>One stage of a whole-message filtering, as played.</summary>
/// <param name="Stage">connect, helo, mail, rcpt, data, header, eoh, body or eom.</param>
/// <param name="Subject">The HELO name, the sender, the recipient or the header name; null for the other stages.</param>
/// <param name="Decision">What the milter decided at this stage.</param>
/// <param name="Elapsed">How long the stage took.</param>
/// <param name="Bytes">The body chunk's length (body only).</param>
internal readonly record struct StageObservation(string Stage, string? Subject, StageDecision Decision, TimeSpan Elapsed, int Bytes = 0);
