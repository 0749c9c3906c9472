using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>What running a script did: the edited message and envelope, and the actions it took.</summary>
public sealed class SieveOutcome
{
    /// <summary>The disposition (the refusal reply is in <see cref="Reply"/>).</summary>
    public SieveDisposition Disposition { get; init; }

    /// <summary>The SMTP reply for <see cref="SieveDisposition.Reject"/> and <see cref="SieveDisposition.TempFail"/>.</summary>
    public SmtpReply? Reply { get; init; }

    /// <summary>The message after the script's edits (unchanged by a refusal: a refused message is not delivered).</summary>
    public required byte[] Message { get; init; }

    /// <summary>The envelope after the script's edits (refused recipients removed).</summary>
    public required Envelope Envelope { get; init; }

    /// <summary>The edits, as <see cref="MessageEditor"/> applied them, in order.</summary>
    public IReadOnlyList<MessageEdit> Edits { get; init; } = [];

    /// <summary>True when the message goes to the inbox: an explicit <c>keep</c>, or the implicit keep nothing cancelled.</summary>
    public bool Keep { get; init; }

    /// <summary>True when the script ran an explicit <c>keep</c>.</summary>
    public bool ExplicitKeep { get; init; }

    /// <summary><c>fileinto</c> folders, in order, without repeats.</summary>
    public IReadOnlyList<string> Folders { get; init; } = [];

    /// <summary><c>redirect</c> addresses, in order, without repeats.</summary>
    public IReadOnlyList<string> Redirects { get; init; } = [];

    /// <summary><c>addtag</c> tags, in order; the host prefixes them to the Subject once every slot has run.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The <c>quarantine</c> reason (the first, when several were given), or null.</summary>
    public string? QuarantineReason { get; init; }

    /// <summary>Recipients refused with <c>rejectrecipient</c>.</summary>
    public IReadOnlyList<RefusedRecipient> RefusedRecipients { get; init; } = [];

    /// <summary>One line per action taken, for the host's log (e.g. <c>fileinto "Junk"</c>).</summary>
    public IReadOnlyList<string> Actions { get; init; } = [];
}
