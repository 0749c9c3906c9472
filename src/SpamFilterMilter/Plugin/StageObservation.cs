using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Plugin;

/// <summary>One stage of a whole-message filtering, as played.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="Subject">The HELO name, the sender, the recipient or the header name; null for the other stages.</param>
/// <param name="Decision">What the milter decided at this stage.</param>
/// <param name="Elapsed">How long the stage took.</param>
/// <param name="Bytes">The body chunk's length (body only).</param>
public readonly record struct StageObservation(FilterStage Stage, string? Subject, StageDecision Decision, TimeSpan Elapsed, int Bytes = 0);
