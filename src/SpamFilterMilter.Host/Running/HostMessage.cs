using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>A message as the MTA hands it to the host: bytes, envelope, and the channels it comes from and goes to.</summary>
public sealed class HostMessage
{
    /// <summary>The raw RFC 5322 message (CRLF or LF line ends).</summary>
    public required ReadOnlyMemory<byte> Message { get; init; }

    /// <summary>The envelope: sender and recipients with their ESMTP parameters.</summary>
    public required Envelope Envelope { get; init; }

    /// <summary>The channel the message came in on (selects with <c>sourcespamfilterXoptin</c>), or null.</summary>
    public string? SourceChannel { get; init; }

    /// <summary>
    /// The channel each recipient is routed to (selects with <c>destinationspamfilterXoptin</c>), by address
    /// (compared without angle brackets, case-insensitively). A recipient not listed has no channel.
    /// </summary>
    public IReadOnlyDictionary<string, string>? DestinationChannels { get; init; }

    /// <summary>The SMTP client, passed to the plug-ins; null for a message that did not come over SMTP.</summary>
    public ClientInfo? Client { get; init; }

    /// <summary>The HELO/EHLO name, passed to the plug-ins.</summary>
    public string? HeloName { get; init; }

    /// <summary>Macros for the plug-ins (<c>j</c>, <c>{daemon_name}</c>, ...).</summary>
    public IReadOnlyDictionary<string, string>? Macros { get; init; }

    /// <summary>The destination channel of <paramref name="address"/>, or null.</summary>
    internal string? DestinationChannel(string address)
    {
        if (DestinationChannels is null)
        {
            return null;
        }

        foreach (var (recipient, channel) in DestinationChannels)
        {
            if (MailAddress.Same(recipient, address))
            {
                return channel;
            }
        }

        return null;
    }
}

/// <summary>What becomes of a message (or of one group of its recipients).</summary>
public enum Disposition
{
    /// <summary>Deliver the edited message: to the inbox when <see cref="DeliveryResult.Keep"/>, to the folders and the redirect addresses.</summary>
    Deliver,

    /// <summary>Hold the edited message (<see cref="DeliveryResult.QuarantineReason"/> says why).</summary>
    Quarantine,

    /// <summary>Accept and drop silently.</summary>
    Discard,

    /// <summary>Refuse with the 5xx <see cref="DeliveryResult.Reply"/>.</summary>
    Reject,

    /// <summary>Refuse with the 4xx <see cref="DeliveryResult.Reply"/>: the sender retries.</summary>
    TempFail,
}

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

/// <summary>What one slot did for one group of recipients.</summary>
public sealed class SlotRun
{
    /// <summary>The slot number X.</summary>
    public required int Slot { get; init; }

    /// <summary>The recipients it ran for (bare addresses).</summary>
    public required IReadOnlyList<string> Recipients { get; init; }

    /// <summary>The opt-in values passed to the plug-in.</summary>
    public required IReadOnlyList<string> OptIn { get; init; }

    /// <summary>The plug-in's verdict (a synthesized failure verdict when the plug-in could not be used).</summary>
    public required FilterVerdict Verdict { get; init; }

    /// <summary>The option whose action ran (e.g. <c>spamfilter1_string_action</c>), <c>failure verdict</c>, or null when none ran.</summary>
    public string? ActionSource { get; init; }

    /// <summary>The Sieve script that ran ($U substituted), or null.</summary>
    public string? Script { get; init; }

    /// <summary>What the script did, when it ran without error.</summary>
    public SieveOutcome? Outcome { get; init; }

    /// <summary>Why the plug-in or its action failed, or null.</summary>
    public string? Failure { get; init; }

    /// <summary>One line: what this run meant for the message.</summary>
    public required string Effect { get; init; }
}

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
        Deliveries.FirstOrDefault(d => d.Recipients.Any(r => MailAddress.Same(r, recipient)))
        ?? Deliveries.FirstOrDefault(d => d.Envelope.Recipients.Any(r => MailAddress.Same(r.Address, recipient)))
        ?? throw new ArgumentException("Not a recipient of this message.", nameof(recipient));
}
