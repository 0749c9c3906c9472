using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// What an SMTP server answers to one command once its filters have spoken: its own positive reply, or the refusal
/// given here; and whether it must close the session after answering.
/// </summary>
public sealed record SmtpAnswer
{
    private SmtpAnswer(SmtpReply? refusal, bool closesSession)
    {
        Refusal = refusal;
        ClosesSession = closesSession;
    }

    /// <summary>The server gives its own positive reply (250, 354, its greeting).</summary>
    public static SmtpAnswer Proceed { get; } = new(null, closesSession: false);

    /// <summary>The reply that refuses the command; null when the server proceeds.</summary>
    public SmtpReply? Refusal { get; }

    /// <summary>True when the server closes the session after answering (a 421 reply, SMFIR_SHUTDOWN).</summary>
    public bool ClosesSession { get; }

    /// <summary>True when the command is refused.</summary>
    public bool IsRefused => Refusal is not null;

    /// <summary>Refuses the command with <paramref name="reply"/>; a 421 reply also closes the session.</summary>
    public static SmtpAnswer Refuse(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new SmtpAnswer(reply, reply.Code == 421);
    }

    /// <summary>The reply as the server writes it ("250 Ok" style when it proceeds).</summary>
    public override string ToString() => Refusal?.ToString() ?? "proceed";
}
