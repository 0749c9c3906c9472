using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// The decisions that outlive the event that produced them, kept by the rule every MTA follows
/// (<see cref="DecisionRules.ScopeOf"/>): one for the rest of the connection, one for the current message, the
/// events the milter asked to skip, and a quarantine request.
/// </summary>
internal sealed class SessionDecisions
{
    private MilterResponse? _connection;
    private MilterResponse? _message;

    /// <summary>The decision that holds now, for the connection or the message; null while the milter wants to see more.</summary>
    public MilterResponse? Decided => _connection ?? _message;

    /// <summary>The decision that holds for the rest of the connection, or null.</summary>
    public MilterResponse? ForConnection => _connection;

    /// <summary>Where the decision that holds was made (the end of the message when none was made before).</summary>
    public FilterStage DecidedAt { get; private set; } = FilterStage.EndOfMessage;

    /// <summary>A quarantine reason the milter gave during the current message, at any stage.</summary>
    public string? QuarantineReason { get; private set; }

    /// <summary>The milter answered SMFIR_SKIP to a recipient: no more are sent this message.</summary>
    public bool SkipRecipients { get; private set; }

    /// <summary>The milter answered SMFIR_SKIP to a header: no more are sent this message.</summary>
    public bool SkipHeaders { get; private set; }

    /// <summary>The milter answered SMFIR_SKIP to a body packet: no more are sent this message.</summary>
    public bool SkipBody { get; private set; }

    /// <summary>A new message: what was decided for the last one is forgotten (what holds for the connection is not).</summary>
    public void StartMessage()
    {
        _message = null;
        QuarantineReason = null;
        SkipRecipients = SkipHeaders = SkipBody = false;
        if (_connection is null)
        {
            DecidedAt = FilterStage.EndOfMessage;
        }
    }

    /// <summary>The message ended (or was abandoned).</summary>
    public void EndMessage() => _message = null;

    /// <summary>Remembers a quarantine request (the last one given wins).</summary>
    public void Quarantine(string? reason)
    {
        if (reason is not null)
        {
            QuarantineReason = reason;
        }
    }

    /// <summary>
    /// Applies the milter's <paramref name="response"/> at <paramref name="stage"/>: SKIP becomes CONTINUE with the
    /// event kind skipped from now on; a decision for the message or the connection is kept. Returns the response as
    /// the caller should see it.
    /// </summary>
    public MilterResponse Apply(FilterStage stage, MilterResponse response)
    {
        if (response.Skip)
        {
            switch (stage)
            {
                case FilterStage.Rcpt:
                    SkipRecipients = true;
                    break;
                case FilterStage.Header:
                    SkipHeaders = true;
                    break;
                case FilterStage.Body:
                    SkipBody = true;
                    break;
            }

            return MilterResponse.Continue;
        }

        switch (DecisionRules.ScopeOf(stage, response.Action, response.Reply))
        {
            case DecisionScope.Session when _connection is null:
                _connection = response;
                DecidedAt = stage;
                break;
            case DecisionScope.Message:
                _message = response;
                DecidedAt = stage;
                break;
        }

        return response;
    }
}
