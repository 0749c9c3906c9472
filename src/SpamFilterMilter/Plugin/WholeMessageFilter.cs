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

        var play = new MessagePlayer(session, observe);
        if (play.Decided(new(FilterStage.Connect), await session.ConnectAsync(message.Client ?? new ClientInfo(), cancellationToken).ConfigureAwait(false)))
        {
            return session.Verdict!;
        }

        if (message.HeloName is { } helo && play.Decided(new(FilterStage.Helo, helo), await session.HeloAsync(helo, cancellationToken).ConfigureAwait(false)))
        {
            return session.Verdict!;
        }

        if (play.Decided(new(FilterStage.Mail, message.MailFrom), await session.MailAsync(message.MailFrom, message.MailParameters, cancellationToken).ConfigureAwait(false)))
        {
            return session.Verdict!;
        }

        foreach (var recipient in message.Recipients)
        {
            if (play.Decided(new(FilterStage.Rcpt, recipient.Address), await session.RcptAsync(recipient.Address, recipient.Parameters, cancellationToken).ConfigureAwait(false)))
            {
                return session.Verdict!;
            }
        }

        if (session.AllRecipientsRefused)
        {
            return await session.ConcludeAllRefusedAsync(cancellationToken).ConfigureAwait(false);
        }

        if (play.Decided(new(FilterStage.Data), await session.DataAsync(cancellationToken).ConfigureAwait(false)))
        {
            return session.Verdict!;
        }

        return await play.ContentAsync(message.Message, message.HiddenTraceHeader, cancellationToken).ConfigureAwait(false);
    }
}
