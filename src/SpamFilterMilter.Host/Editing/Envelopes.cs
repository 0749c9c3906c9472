using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>An envelope taken from a message's own From, To and Cc fields, for tools that are given only a message.</summary>
public static class Envelopes
{
    /// <summary>
    /// The sender is <paramref name="from"/> if given, else the From field's first address (else the
    /// null sender); the recipients are <paramref name="to"/> if any, else the To and Cc fields' addresses.
    /// </summary>
    public static Envelope FromMessage(ReadOnlySpan<byte> message, string? from, IReadOnlyList<string> to)
    {
        var fields = MessageEditor.ReadFields(message);
        var sender = from ?? fields.Where(f => f.Name.Equals("From", StringComparison.OrdinalIgnoreCase))
            .SelectMany(f => Addresses(f.Value)).FirstOrDefault() ?? string.Empty;
        var recipients = to.Count > 0
            ? to
            : fields.Where(f => f.Name.Equals("To", StringComparison.OrdinalIgnoreCase) || f.Name.Equals("Cc", StringComparison.OrdinalIgnoreCase))
                .SelectMany(f => Addresses(f.Value)).ToList();
        return new Envelope(MailPath.Bare(sender), null, recipients.Select(r => new EnvelopeRecipient(MailPath.Bare(r))).ToArray());
    }

    /// <summary>The addresses of an address-list field, as the Sieve <c>address</c> test reads them, that have an '@'.</summary>
    private static IEnumerable<string> Addresses(RawText value) =>
        HeaderValue.Addresses(value).Where(a => a.Contains('@', StringComparison.Ordinal));
}
