using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// The result for one group of recipients. Every recipient of a message is in exactly one group; there is
/// more than one group when slots selected some recipients and not others, or the same slot with other
/// opt-in values (each group then went through different slots and may end differently), and each recipient
/// a slot refused (<c>rejectrecipient</c>) has a result of its own, a refusal with its reply.
/// </summary>
public sealed class DeliveryResult
{
    /// <summary>The original envelope recipients (bare addresses) this result is for (none for a group a slot's addrecipient made).</summary>
    public required IReadOnlyList<string> Recipients { get; init; }

    /// <summary>What becomes of the message.</summary>
    public required Disposition Disposition { get; init; }

    /// <summary>The SMTP reply for <see cref="Disposition.Reject"/> and <see cref="Disposition.TempFail"/>.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>For <see cref="Disposition.Quarantine"/>: the first quarantine reason given.</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>The message as edited by every slot that ran (tags applied); the original when refused or discarded.</summary>
    public required byte[] Message { get; init; }

    /// <summary>
    /// The envelope as edited (added, removed and refused recipients, changed sender); when refused or
    /// discarded, the original envelope with this group's recipients.
    /// </summary>
    public required Envelope Envelope { get; init; }

    /// <summary>True when the message goes to the inbox (no slot cancelled the implicit keep, or one kept explicitly).</summary>
    public bool Keep { get; init; }

    /// <summary><c>fileinto</c> folders of every slot, in order.</summary>
    public IReadOnlyList<string> Folders { get; init; } = [];

    /// <summary><c>redirect</c> addresses of every slot, in order.</summary>
    public IReadOnlyList<string> Redirects { get; init; } = [];

    /// <summary><c>addtag</c> tags of every slot, in order, as prefixed to the Subject.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>
    /// Recipients a slot refused (<c>rejectrecipient</c>) in this group, each with its reply. An original
    /// recipient refused also has a result of its own (<see cref="Disposition.Reject"/> or
    /// <see cref="Disposition.TempFail"/>), which <see cref="HostResult.For"/> finds.
    /// </summary>
    public IReadOnlyList<RefusedRecipient> RefusedRecipients { get; init; } = [];

    /// <summary>The slots that ran for this group, in order.</summary>
    public IReadOnlyList<int> Slots { get; init; } = [];
}
