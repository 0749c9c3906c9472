namespace SpamFilterMilter.Contract;

/// <summary>What a filter's decision applies to.</summary>
public enum DecisionScope
{
    /// <summary>Nothing: the filter wants to see more (<see cref="FilterAction.Continue"/>).</summary>
    None,

    /// <summary>This command only: a refused recipient at RCPT, the reply to an unknown command.</summary>
    Command,

    /// <summary>The current message: the filter has decided it (nothing more of the message is sent to the filter).</summary>
    Message,

    /// <summary>
    /// The rest of the SMTP session: a decision at connect or HELO, a 421 reply (which also closes the session), or a
    /// filter failure (every later call answers with the failure action).
    /// </summary>
    Session,
}

/// <summary>
/// The one rule, shared by the plug-in (which stops sending what is decided) and the host (which acts on the
/// decision), for what a decision applies to. It is Postfix's and sendmail's: a decision at connect or HELO holds
/// for the connection; at RCPT, reject and tempfail refuse that recipient while accept and discard settle the
/// message; from MAIL on, any decision but continue settles the message; a 421 reply closes the session wherever
/// it comes.
/// </summary>
public static class DecisionRules
{
    /// <summary>What <paramref name="action"/> (with <paramref name="reply"/>) decided at <paramref name="stage"/> applies to.</summary>
    public static DecisionScope ScopeOf(FilterStage stage, FilterAction action, SmtpReply? reply)
    {
        if (reply is { Code: 421 })
        {
            return DecisionScope.Session;
        }

        if (action == FilterAction.Continue)
        {
            return DecisionScope.None;
        }

        return stage switch
        {
            FilterStage.Connect or FilterStage.Helo => DecisionScope.Session,
            FilterStage.Rcpt => action is FilterAction.Reject or FilterAction.TempFail ? DecisionScope.Command : DecisionScope.Message,
            FilterStage.Unknown => DecisionScope.Command,
            _ => DecisionScope.Message,
        };
    }
}
