using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Running;

/// <summary>What the host decided for a message: one result per recipient group, every slot run, and a readable log.</summary>
public sealed class HostResult
{
    /// <summary>One result per group of recipients that ended differently (usually one).</summary>
    public required IReadOnlyList<DeliveryResult> Deliveries { get; init; }

    /// <summary>Every slot run, in order.</summary>
    public required IReadOnlyList<SlotRun> Runs { get; init; }

    /// <summary>What each slot did and why it was selected or not, one line each.</summary>
    public required IReadOnlyList<string> Log { get; init; }

    /// <summary>
    /// The result that applies to <paramref name="recipient"/>: an original envelope recipient, or one a slot
    /// added (found in the edited envelopes).
    /// </summary>
    public DeliveryResult For(string recipient) =>
        Deliveries.FirstOrDefault(d => d.Recipients.Any(r => MailPath.Same(r, recipient)))
        ?? Deliveries.FirstOrDefault(d => d.Envelope.Recipients.Any(r => MailPath.Same(r.Address, recipient)))
        ?? throw new ArgumentException("Not a recipient of this message.", nameof(recipient));
}
