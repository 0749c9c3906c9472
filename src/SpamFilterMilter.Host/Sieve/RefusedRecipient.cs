using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>A recipient the script refused (<c>rejectrecipient</c>), with the reply for it.</summary>
public sealed record RefusedRecipient(string Address, SmtpReply Reply);
