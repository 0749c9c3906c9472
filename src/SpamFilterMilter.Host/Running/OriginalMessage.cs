using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Running;

/// <summary>The message as the MTA handed it: what a refused or discarded copy carries.</summary>
internal sealed record OriginalMessage(byte[] Message, Envelope Envelope)
{
    /// <summary>The original envelope with only <paramref name="recipients"/> (original recipients, bare).</summary>
    public Envelope For(IReadOnlyList<string> recipients) =>
        Envelope with { Recipients = Envelope.Recipients.Where(r => recipients.Any(x => MailPath.Same(x, r.Address))).ToArray() };
}
