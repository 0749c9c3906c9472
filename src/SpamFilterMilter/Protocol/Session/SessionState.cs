using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>Where a <see cref="MilterSession"/> is in the SMTP session.</summary>
internal enum SessionState
{
    /// <summary>Nothing sent yet.</summary>
    New,

    /// <summary>OPTNEG done, waiting for CONNECT.</summary>
    Negotiated,

    /// <summary>CONNECT done: HELO, MAIL, UNKNOWN allowed.</summary>
    Connected,

    /// <summary>MAIL sent: RCPT, DATA.</summary>
    Envelope,

    /// <summary>DATA sent: HEADER, EOH.</summary>
    Headers,

    /// <summary>EOH sent: BODY, EOM.</summary>
    Body,

    /// <summary>QUIT sent (or the connection parked).</summary>
    Closed,
}

/// <summary>The one gate every event of the session passes: a broken session throws its failure, a call out of order is a caller bug.</summary>
internal static class SessionStates
{
    public static void Gate(SessionState state, MilterProtocolException? failure, SessionState expected, string what, params ReadOnlySpan<SessionState> allowed)
    {
        if (failure is not null)
        {
            throw failure;
        }

        foreach (var current in allowed)
        {
            if (state == current)
            {
                return;
            }
        }

        throw new InvalidOperationException(state switch
        {
            SessionState.Closed => $"The milter session is closed; {what} cannot be sent.",
            SessionState.New or SessionState.Negotiated => $"The milter session must be connected (ConnectAsync) before {what}.",
            _ => $"{char.ToUpperInvariant(what[0])}{what[1..]} cannot come now: the session is at {Describe(state)}, and {what} belongs {Describe(expected)}.",
        });
    }

    private static string Describe(SessionState state) => state switch
    {
        SessionState.New => "the start",
        SessionState.Negotiated => "after negotiation",
        SessionState.Connected => "between transactions (after connect or the end of a message)",
        SessionState.Envelope => "in the envelope (after MAIL)",
        SessionState.Headers => "in the header section (after DATA)",
        SessionState.Body => "in the body (after the end of headers)",
        _ => state.ToString(),
    };
}
