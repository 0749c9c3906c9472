using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>The envelope of a message: sender and recipients, each with its ESMTP parameters.</summary>
/// <param name="MailFrom">The reverse-path, without angle brackets ("" for the null sender).</param>
/// <param name="MailParameters">ESMTP parameters of MAIL FROM, space separated, or null.</param>
/// <param name="Recipients">The recipients in order.</param>
public sealed record Envelope(string MailFrom, string? MailParameters, IReadOnlyList<EnvelopeRecipient> Recipients);
