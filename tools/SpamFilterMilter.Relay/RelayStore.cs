using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.Relay;

/// <summary>
/// Where the SmtpServer integration hands each message: it runs the option.dat slots on it (the host library, exactly
/// as any host does: opt-in, verdicts, actions), answers with <see cref="RelayOutcome"/>, and hands what is accepted
/// on before the client gets its 250: to the next hop, or to the maildir; a held message to the quarantine maildir.
/// </summary>
internal sealed class RelayStore(SpamFilterHost host, RelayOptions options, NextHop? nextHop, Maildir? maildir, Maildir quarantine, ILogger logger)
    : IFilteredMessageStore
{
    public async Task<SmtpReply?> SaveAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        var envelope = message.Filtered.Envelope;
        var result = await host.FilterAsync(new HostMessage
        {
            Message = message.Filtered.Message,
            HiddenTraceHeader = message.TraceField,
            Envelope = envelope,
            SourceChannel = options.SourceChannel,
            DestinationChannels = options.DestinationChannel is { } channel
                ? envelope.Recipients.Select(r => MailPath.Bare(r.Address)).Distinct(StringComparer.OrdinalIgnoreCase).ToDictionary(r => r, _ => channel, StringComparer.OrdinalIgnoreCase)
                : null,
            Client = message.Client,
            HeloName = message.HeloName,
            // The milters get the id the relay logs, answers in its 250 and writes in its Received field, as Postfix
            // gives them its queue id: without it the plug-in would make one of its own that matches nothing here. And
            // the session's TLS macros, as Postfix gives them (the relay offers no AUTH, so there are none of those).
            Macros = new Dictionary<string, string>(message.Macros) { [HostMacros.QueueId] = message.QueueId },
        }, cancellationToken).ConfigureAwait(false);
        foreach (var line in result.Log)
        {
            RelayLog.HostLine(logger, message.QueueId, LogText.Quote(line));
        }

        var outcome = RelayOutcome.Of(result);
        if (outcome.Refusal is { } refusal)
        {
            RelayLog.Refused(logger, message.QueueId, LogText.Quote(envelope.MailFrom), envelope.Recipients.Count, LogText.Quote(refusal.ToString()));
            return refusal;
        }

        foreach (var lost in outcome.Lost)
        {
            RelayLog.RecipientsLost(logger, message.QueueId, LogText.Quote(string.Join(", ", lost.Recipients)), LogText.Quote(lost.Reply?.ToString() ?? lost.Disposition.ToString()));
        }

        foreach (var delivery in outcome.Accepted)
        {
            if (await HandOnAsync(message.QueueId, delivery, cancellationToken).ConfigureAwait(false) is { } failure)
            {
                return failure;
            }
        }

        return new SmtpReply(250, "2.0.0", "Ok: " + message.QueueId);
    }

    /// <summary>One group's message to where it goes; null when it got there, else the reply for the client.</summary>
    private async Task<SmtpReply?> HandOnAsync(string queueId, DeliveryResult delivery, CancellationToken cancellationToken)
    {
        var recipients = LogText.Quote(string.Join(", ", delivery.Envelope.Recipients.Select(r => MailPath.Bare(r.Address))));
        switch (delivery.Disposition)
        {
            case Disposition.Discard:
                RelayLog.Handled(logger, queueId, recipients, "discarded");
                return null;
            case Disposition.Quarantine:
                var held = quarantine.Deliver(delivery.Envelope, delivery.Message);
                RelayLog.Handled(logger, queueId, recipients, $"held in {held} ({LogText.Quote(delivery.QuarantineReason)})");
                return null;
        }

        if (delivery.Envelope.Recipients.Count == 0 && delivery.Redirects.Count == 0)
        {
            RelayLog.Handled(logger, queueId, recipients, "no recipient left");
            return null;
        }

        if (nextHop is not null)
        {
            // A next hop takes recipients, not folders: a message filed into a folder goes to the recipients.
            if ((delivery.Keep || delivery.Folders.Count > 0) && delivery.Envelope.Recipients.Count > 0
                && await nextHop.DeliverAsync(queueId, delivery.Envelope, delivery.Message, cancellationToken).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            if (delivery.Redirects.Count > 0)
            {
                var redirected = delivery.Envelope with { Recipients = [.. delivery.Redirects.Select(r => new EnvelopeRecipient(r))] };
                if (await nextHop.DeliverAsync(queueId, redirected, delivery.Message, cancellationToken).ConfigureAwait(false) is { } redirectRefused)
                {
                    return redirectRefused;
                }
            }

            RelayLog.Handled(logger, queueId, recipients, $"relayed to {nextHop}");
            return null;
        }

        // A maildir has folders but cannot send: a redirected message stays in the inbox.
        var places = new List<string>();
        if (delivery.Keep || delivery.Redirects.Count > 0)
        {
            places.Add(maildir!.Deliver(delivery.Envelope, delivery.Message));
        }

        foreach (var folder in delivery.Folders)
        {
            places.Add(maildir!.Deliver(delivery.Envelope, delivery.Message, folder));
        }

        RelayLog.Handled(logger, queueId, recipients, "stored in " + string.Join(", ", places));
        return null;
    }
}
