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
    public static async ValueTask<FilterVerdict> FilterAsync(MilterPluginCore core, MessageSubmission message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("A message needs at least one recipient.", nameof(message));
        }

        await using var session = new MilterFilterSession(core);
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
        var decision = await session.ConnectAsync(message.Client ?? new ClientInfo(), cancellationToken).ConfigureAwait(false);
        if (Ended(session, decision, "connect", recipients) is { } atConnect)
        {
            return atConnect;
        }

        if (message.HeloName is { } helo)
        {
            decision = await session.HeloAsync(helo, cancellationToken).ConfigureAwait(false);
            if (Ended(session, decision, "helo", recipients) is { } atHelo)
            {
                return atHelo;
            }
        }

        decision = await session.MailAsync(message.MailFrom, message.MailParameters, cancellationToken).ConfigureAwait(false);
        if (Ended(session, decision, "mail", recipients) is { } atMail)
        {
            return atMail;
        }

        foreach (var recipient in message.Recipients)
        {
            decision = await session.RcptAsync(recipient.Address, recipient.Parameters, cancellationToken).ConfigureAwait(false);
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

        decision = await session.DataAsync(cancellationToken).ConfigureAwait(false);
        if (Ended(session, decision, "data", recipients) is { } atData)
        {
            return atData;
        }

        using var reader = new MessageReader(message.Message);
        foreach (var header in await reader.ReadHeadersAsync(cancellationToken).ConfigureAwait(false))
        {
            decision = await session.HeaderAsync(header.Name, header.Value, cancellationToken).ConfigureAwait(false);
            if (Ended(session, decision, "header", recipients) is { } atHeader)
            {
                return atHeader;
            }
        }

        decision = await session.EndOfHeadersAsync(cancellationToken).ConfigureAwait(false);
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

            decision = await session.BodyAsync(chunk, cancellationToken).ConfigureAwait(false);
            if (Ended(session, decision, "body", recipients) is { } atBody)
            {
                return atBody;
            }
        }

        return await session.EndOfMessageAsync(recipients, cancellationToken).ConfigureAwait(false);
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
