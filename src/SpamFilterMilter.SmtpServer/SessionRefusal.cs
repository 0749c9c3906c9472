namespace SpamFilterMilter.SmtpServer;

/// <summary>Why a new session is greeted with 421 and closed, its filter never asked.</summary>
internal enum SessionRefusal
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>The server drains before a stop.</summary>
    Draining,

    /// <summary>Its client has more sessions open than <see cref="SmtpServerFilteringOptions.MaxConnectionsPerClient"/>.</summary>
    TooManyConnections,
}
