using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// The envelope of a message: sender and recipients, each with its ESMTP parameters (<see cref="EsmtpParameters"/>:
/// one per entry, never null). Equal envelopes have the same sender, the same MAIL parameters and the same recipients
/// in the same order.
/// </summary>
/// <param name="MailFrom">The reverse-path, without angle brackets ("" for the null sender).</param>
/// <param name="MailParameters">ESMTP parameters of MAIL FROM, one per entry (<c>BODY=8BITMIME</c>, <c>RET=HDRS</c>); null for none.</param>
/// <param name="Recipients">The recipients in order.</param>
public sealed record Envelope(string MailFrom, IReadOnlyList<string>? MailParameters, IReadOnlyList<EnvelopeRecipient> Recipients)
{
    /// <summary>ESMTP parameters of MAIL FROM, one per entry; empty (never null) for none.</summary>
    public IReadOnlyList<string> MailParameters { get; init; } = MailParameters ?? [];

    /// <inheritdoc/>
    public bool Equals(Envelope? other) =>
        other is not null && MailFrom == other.MailFrom && EsmtpParameters.Equal(MailParameters, other.MailParameters)
        && Recipients.SequenceEqual(other.Recipients);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(MailFrom, EsmtpParameters.HashOf(MailParameters), Recipients.Count);

    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("MailFrom = ").Append(MailFrom).Append(", MailParameters = [").AppendJoin(", ", MailParameters)
            .Append("], Recipients = [").AppendJoin(", ", Recipients).Append(']');
        return true;
    }
}
