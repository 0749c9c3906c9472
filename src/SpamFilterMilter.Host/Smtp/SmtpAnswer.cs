using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// What an SMTP server answers to one command once its filters have spoken: its own positive reply, or the reply
/// given here (a refusal, or a store's own 250 with its queue id); and whether it must close the session after
/// answering.
/// </summary>
public sealed record SmtpAnswer
{
    private SmtpAnswer(SmtpReply? reply, bool closesSession)
    {
        Reply = reply;
        ClosesSession = closesSession;
    }

    /// <summary>The server gives its own positive reply (250, 354, its greeting).</summary>
    public static SmtpAnswer Proceed { get; } = new(null, closesSession: false);

    /// <summary>The reply the server writes in place of its own; null when it gives its own.</summary>
    public SmtpReply? Reply { get; }

    /// <summary>The reply that refuses the command (4xx or 5xx); null when the command goes on.</summary>
    public SmtpReply? Refusal => Reply is { Code: >= 400 } ? Reply : null;

    /// <summary>True when the server closes the session after answering (a 421 reply, SMFIR_SHUTDOWN).</summary>
    public bool ClosesSession { get; }

    /// <summary>True when the command is refused.</summary>
    public bool IsRefused => Refusal is not null;

    /// <summary>Refuses the command with <paramref name="reply"/> (4xx or 5xx); a 421 reply also closes the session.</summary>
    public static SmtpAnswer Refuse(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        ArgumentOutOfRangeException.ThrowIfLessThan(reply.Code, 400, nameof(reply));
        return ReplyWith(reply);
    }

    /// <summary>
    /// Answers with <paramref name="reply"/> in place of the server's own, whatever its code: a message store's
    /// "250 2.0.0 Ok: queued as ..." as well as a refusal; a 421 reply also closes the session.
    /// </summary>
    public static SmtpAnswer ReplyWith(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new SmtpAnswer(reply, reply.Code == 421);
    }

    /// <summary>The reply as the server writes it ("proceed" when it gives its own).</summary>
    public override string ToString() => Reply?.ToString() ?? "proceed";
}
