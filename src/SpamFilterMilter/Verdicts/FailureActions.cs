using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Verdicts;

/// <summary>The action and reply each <see cref="FailureAction"/> stands for.</summary>
internal static class FailureActions
{
    /// <summary>The reply for FAILURE_ACTION=reject (Postfix's wording for a milter it cannot use).</summary>
    public static SmtpReply RejectReply { get; } = new(550, "5.7.1", "Service unavailable");

    /// <summary>
    /// The reply for FAILURE_ACTION=shutdown: Postfix's for <c>milter_default_action = shutdown</c> after a
    /// communication error (milter8.c, milter8_comm_error). A 421 closes the SMTP session wherever it is given
    /// (<see cref="StageDecision.ClosesSession"/>).
    /// </summary>
    public static SmtpReply ShutdownReply { get; } = new(421, "4.7.1", "Service unavailable - try again later");

    /// <summary>The action and reply <paramref name="policy"/> stands for.</summary>
    public static (FilterAction Action, SmtpReply? Reply) Resolve(FailureAction policy) => policy switch
    {
        FailureAction.Accept => (FilterAction.Accept, null),
        FailureAction.Reject => (FilterAction.Reject, RejectReply),
        FailureAction.Shutdown => (FilterAction.TempFail, ShutdownReply),
        _ => (FilterAction.TempFail, SmtpReply.DefaultTempFail),
    };

    /// <summary>The policy as FAILURE_ACTION writes it (<c>shutdown</c>), for log lines.</summary>
    public static string Name(FailureAction policy) => policy switch
    {
        FailureAction.Accept => "accept",
        FailureAction.Reject => "reject",
        FailureAction.Shutdown => "shutdown",
        _ => "tempfail",
    };
}
