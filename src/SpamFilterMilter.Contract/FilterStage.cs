namespace SpamFilterMilter.Contract;

/// <summary>
/// A stage of an SMTP session as a filter sees it: where a filter decided, or where it failed. The one
/// vocabulary the plug-in, the host, the tools, the logs and the metrics use (<see cref="FilterStageNames.ToName"/>
/// gives the short name each of them writes).
/// </summary>
public enum FilterStage
{
    /// <summary>The SMTP client connected. A failure here may also be reaching the filter (DNS, TCP, SOCKS) or negotiating with it.</summary>
    Connect,

    /// <summary>HELO or EHLO.</summary>
    Helo,

    /// <summary>MAIL FROM.</summary>
    Mail,

    /// <summary>RCPT TO (accepted or, for filters that asked to see them, refused by the host).</summary>
    Rcpt,

    /// <summary>The DATA command.</summary>
    Data,

    /// <summary>A header field.</summary>
    Header,

    /// <summary>The end of the header section.</summary>
    EndOfHeaders,

    /// <summary>A piece of the body.</summary>
    Body,

    /// <summary>The end of the message: the filter's edits and final verdict.</summary>
    EndOfMessage,

    /// <summary>An SMTP command the host does not know.</summary>
    Unknown,

    /// <summary>The session ended (QUIT, or the connection parked for reuse).</summary>
    Close,
}

/// <summary>The short names of <see cref="FilterStage"/>.</summary>
public static class FilterStageNames
{
    private static readonly string[] Names = ["connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom", "unknown", "close"];

    /// <summary>
    /// The short name (<c>connect</c>, <c>helo</c>, <c>mail</c>, <c>rcpt</c>, <c>data</c>, <c>header</c>, <c>eoh</c>,
    /// <c>body</c>, <c>eom</c>, <c>unknown</c>, <c>close</c>), as logs, metrics and tools write it. Allocates nothing.
    /// </summary>
    public static string ToName(this FilterStage stage) =>
        (uint)stage < (uint)Names.Length ? Names[(int)stage] : stage.ToString();

    /// <summary>The stage with the short name <paramref name="name"/> (case-insensitive); false when there is none.</summary>
    public static bool TryParse(string name, out FilterStage stage)
    {
        var index = Array.FindIndex(Names, n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
        stage = (FilterStage)Math.Max(index, 0);
        return index >= 0;
    }
}
