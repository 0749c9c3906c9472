namespace SpamFilterMilter.Host.Selection;

/// <summary>Which recipients of a message copy one slot filters, grouped by their opt-in values, and why.</summary>
/// <param name="Groups">The selected recipients, one group per set of opt-in values (compared case-insensitively), in envelope order.</param>
/// <param name="Reasons">One line per recipient or message-wide fact: why selected, or why not.</param>
internal sealed record SlotChoice(IReadOnlyList<OptInGroup> Groups, IReadOnlyList<string> Reasons);
