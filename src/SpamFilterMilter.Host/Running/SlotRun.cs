using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>What one slot did for one group of recipients.</summary>
public sealed class SlotRun
{
    /// <summary>The slot number X.</summary>
    public required int Slot { get; init; }

    /// <summary>The recipients it ran for (bare addresses).</summary>
    public required IReadOnlyList<string> Recipients { get; init; }

    /// <summary>The opt-in values passed to the plug-in.</summary>
    public required IReadOnlyList<string> OptIn { get; init; }

    /// <summary>
    /// The plug-in's verdict (a synthesized failure verdict when the plug-in could not be used). Its replacement bodies
    /// were disposed once the slot had run (the delivered message holds what they gave): one kept in a temporary file
    /// can no longer be read.
    /// </summary>
    public required FilterVerdict Verdict { get; init; }

    /// <summary>The option whose action ran (e.g. <c>spamfilter1_string_action</c>), <c>failure verdict</c>, or null when none ran.</summary>
    public string? ActionSource { get; init; }

    /// <summary>The Sieve script that ran ($U substituted), or null.</summary>
    public string? Script { get; init; }

    /// <summary>What the script did, when it ran without error (a <c>replacebody :verdict</c> edit holds the verdict's disposed body).</summary>
    public SieveOutcome? Outcome { get; init; }

    /// <summary>Why the plug-in or its action failed, or null.</summary>
    public string? Failure { get; init; }

    /// <summary>One line: what this run meant for the message.</summary>
    public required string Effect { get; init; }
}
