namespace SpamFilterMilter.Contract;

/// <summary>What a filter decided at one stage, or for the message as a whole.</summary>
public enum FilterAction
{
    /// <summary>Go on: send the next stage. At the end of the message, same as <see cref="Accept"/>.</summary>
    Continue,

    /// <summary>Accept without further filtering: the rest of the connection (at connect or HELO) or of the message.</summary>
    Accept,

    /// <summary>Refuse permanently with a 5xx reply: the connection (connect, HELO), the recipient (RCPT) or the message.</summary>
    Reject,

    /// <summary>Refuse temporarily with a 4xx reply, with the same scope as <see cref="Reject"/>.</summary>
    TempFail,

    /// <summary>Accept the message, then silently drop it.</summary>
    Discard,
}

/// <summary>The kinds of verdict a Messaging Server spam-filter plug-in returns.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name",
    Justification = "Null and String are Messaging Server's own names for these verdicts (spamfilterX_null_action, spamfilterX_string_action).")]
public enum VerdictKind
{
    /// <summary>Nothing to do: deliver normally. No action runs.</summary>
    Default,

    /// <summary>A null verdict: the host runs <c>spamfilterX_null_action</c>.</summary>
    Null,

    /// <summary>A string verdict (<see cref="FilterVerdict.Text"/>): matched against <c>spamfilterX_verdict_M</c>, else <c>spamfilterX_string_action</c> with <c>$U</c> = the string.</summary>
    String,

    /// <summary>
    /// The filter could not be used (unreachable, timed out, broke the protocol). <see cref="FilterVerdict.Failure"/>
    /// says why; <see cref="FilterVerdict.Action"/> and <see cref="FilterVerdict.Text"/> carry the plug-in's
    /// configured failure action; the host's <c>spamfilterX_optional</c> decides whether to apply it.
    /// </summary>
    Failure,
}

/// <summary>A complete SMTP reply: code, optional enhanced status code, text; possibly several lines.</summary>
public sealed record SmtpReply
{
    /// <summary>Creates a one-line reply.</summary>
    public SmtpReply(int code, string? enhancedCode, string text) : this(code, enhancedCode, [text]) { }

    /// <summary>Creates a reply of one or more lines sharing one code and enhanced code.</summary>
    public SmtpReply(int code, string? enhancedCode, IReadOnlyList<string> lines)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(code, 200);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(code, 599);
        if (lines.Count == 0)
        {
            throw new ArgumentException("A reply has at least one line.", nameof(lines));
        }

        Code = code;
        EnhancedCode = enhancedCode;
        Lines = lines;
    }

    /// <summary>The three-digit reply code (e.g. 550).</summary>
    public int Code { get; }

    /// <summary>The enhanced status code (RFC 3463, e.g. <c>5.7.1</c>), or null.</summary>
    public string? EnhancedCode { get; }

    /// <summary>The text of each line, without code and enhanced code.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>True for 4xx replies.</summary>
    public bool IsTransient => Code is >= 400 and < 500;

    /// <summary>Replies are equal when code, enhanced code and every line are.</summary>
    public bool Equals(SmtpReply? other) =>
        other is not null && Code == other.Code && EnhancedCode == other.EnhancedCode && Lines.SequenceEqual(other.Lines);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Code, EnhancedCode, Lines.Count > 0 ? Lines[0] : null);

    /// <summary>The reply as it goes on the wire, lines joined by CRLF (no final CRLF).</summary>
    public override string ToString()
    {
        var prefix = EnhancedCode is null ? string.Empty : EnhancedCode + " ";
        var parts = new string[Lines.Count];
        for (var i = 0; i < Lines.Count; i++)
        {
            var separator = i == Lines.Count - 1 ? ' ' : '-';
            parts[i] = Lines[i].Length == 0 && EnhancedCode is null
                ? $"{Code}{(separator == '-' ? "-" : string.Empty)}"
                : $"{Code}{separator}{prefix}{Lines[i]}";
        }

        return string.Join("\r\n", parts);
    }
}

/// <summary>Why a filter could not be used.</summary>
/// <param name="Endpoint">The filter endpoint, e.g. <c>milter 127.0.0.1:8890</c>.</param>
/// <param name="Stage">The protocol stage that failed, e.g. <c>SMFIC_BODYEOB</c> or <c>connect</c>.</param>
/// <param name="Cause">What went wrong, in one sentence.</param>
public sealed record FilterFailure(string Endpoint, string Stage, string Cause)
{
    /// <inheritdoc />
    public override string ToString() => $"{Endpoint}: {Stage}: {Cause}";
}

/// <summary>The filter's decision for one stage of a session.</summary>
public sealed record StageDecision
{
    /// <summary>Continue, with nothing else to say.</summary>
    public static StageDecision Continue { get; } = new() { Action = FilterAction.Continue };

    /// <summary>What to do.</summary>
    public FilterAction Action { get; init; }

    /// <summary>For <see cref="FilterAction.Reject"/> and <see cref="FilterAction.TempFail"/>: the SMTP reply to give. A <c>421</c> reply means: close the SMTP session.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>When the filter failed, why; <see cref="Action"/> is then the configured failure action.</summary>
    public FilterFailure? Failure { get; init; }

    /// <summary>A quarantine request made before the end of the message (Postfix allows it at any stage).</summary>
    public string? QuarantineReason { get; init; }
}

/// <summary>What happened to one envelope recipient.</summary>
/// <param name="Address">The recipient as given.</param>
/// <param name="Action">The filter's decision at RCPT.</param>
/// <param name="Reply">The reply for a rejected or tempfailed recipient.</param>
public sealed record RecipientDecision(string Address, FilterAction Action, SmtpReply? Reply);

/// <summary>
/// The end result for one message. <see cref="Kind"/> and <see cref="Text"/> are the Messaging Server
/// verdict; the other properties carry the same facts in structured form.
/// </summary>
public sealed record FilterVerdict
{
    /// <summary>The Messaging Server verdict kind.</summary>
    public VerdictKind Kind { get; init; }

    /// <summary>The string verdict: the action string (a Sieve scriptlet). Null for <see cref="VerdictKind.Default"/>.</summary>
    public string? Text { get; init; }

    /// <summary>The disposition: <see cref="FilterAction.Accept"/> (deliver, after the edits), reject, tempfail or discard.</summary>
    public FilterAction Action { get; init; } = FilterAction.Accept;

    /// <summary>The SMTP reply for reject and tempfail.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>The edits to apply, in the order the filter asked for them.</summary>
    public IReadOnlyList<MessageEdit> Edits { get; init; } = [];

    /// <summary>Set when the filter asked to quarantine (hold) the message.</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>Per-recipient decisions made at RCPT (whole-message filtering only).</summary>
    public IReadOnlyList<RecipientDecision> Recipients { get; init; } = [];

    /// <summary>The stage at which the filter decided (e.g. <c>eom</c>, <c>rcpt</c>).</summary>
    public string? DecidedAt { get; init; }

    /// <summary>For <see cref="VerdictKind.Failure"/>: why the filter could not be used.</summary>
    public FilterFailure? Failure { get; init; }

    /// <summary>The verdict that means "nothing to do".</summary>
    public static FilterVerdict Default { get; } = new() { Kind = VerdictKind.Default };
}
