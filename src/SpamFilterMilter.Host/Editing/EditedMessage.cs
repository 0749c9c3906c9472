namespace SpamFilterMilter.Host.Editing;

/// <summary>A message after a verdict's edits: the bytes and the envelope.</summary>
/// <param name="Message">The edited message.</param>
/// <param name="Envelope">The edited envelope.</param>
public sealed record EditedMessage(byte[] Message, Envelope Envelope)
{
    /// <summary>
    /// What the edits did not do as the filter asked, one sentence each, for the host's log: ESMTP parameters of a
    /// sender change or an added recipient that the MTA does not honour, as Postfix does not (docs/host.md).
    /// </summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}
