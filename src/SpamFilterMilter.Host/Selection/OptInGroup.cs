using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Selection;

/// <summary>Recipients a slot runs for together: every one of them has exactly these opt-in values.</summary>
/// <param name="Recipients">The recipients (as in the envelope), in envelope order.</param>
/// <param name="OptIn">Their opt-in values, without repeats, in order of first appearance.</param>
internal sealed record OptInGroup(IReadOnlyList<EnvelopeRecipient> Recipients, IReadOnlyList<string> OptIn);
