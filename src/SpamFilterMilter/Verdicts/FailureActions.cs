using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Verdicts;

/// <summary>The action and reply each <see cref="FailureAction"/> stands for.</summary>
internal static class FailureActions
{
    /// <summary>The reply for FAILURE_ACTION=reject (Postfix's wording for a milter it cannot use).</summary>
    public static SmtpReply RejectReply { get; } = new(550, "5.7.1", "Service unavailable");

    /// <summary>The action and reply <paramref name="policy"/> stands for.</summary>
    public static (FilterAction Action, SmtpReply? Reply) Resolve(FailureAction policy) => policy switch
    {
        FailureAction.Accept => (FilterAction.Accept, null),
        FailureAction.Reject => (FilterAction.Reject, RejectReply),
        _ => (FilterAction.TempFail, SmtpReply.DefaultTempFail),
    };
}
