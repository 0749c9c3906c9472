using System.Text;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// What became of a message at the MTA: delivered (with what reached the next hop), held, dropped, or bounced (the next
/// hop would not take it: Postfix returned it to its sender, our next-hop client failed with <c>NextHopException</c>).
/// </summary>
internal enum Fate
{
    Delivered,
    Held,
    Dropped,
    Bounced,
}

/// <summary>One message's fate, and for a delivered one the envelope and message the next hop received.</summary>
internal sealed record Delivery(Fate Fate, string MailArgs = "", IReadOnlyList<string>? RcptArgs = null, byte[]? Message = null, string? Dkim = null)
{
    public override string ToString()
    {
        if (Fate != Fate.Delivered)
        {
            return Fate.ToString().ToLowerInvariant();
        }

        var text = new StringBuilder("delivered").Append(Dkim is null ? string.Empty : $" (DKIM signature: {Dkim})").Append("\n  MAIL FROM:").Append(MailArgs).Append('\n');
        foreach (var rcpt in RcptArgs ?? [])
        {
            text.Append("  RCPT TO:").Append(rcpt).Append('\n');
        }

        return text.Append(Encoding.Latin1.GetString(Message ?? [])).ToString();
    }
}

/// <summary>
/// One dialogue played through one MTA with its milter: each command's outcome as the comparison sees it, and each
/// accepted message's fate. Outcomes are normalised where the MTAs may word their own replies differently: a reply
/// below 400 is its code alone; a refusal is code and text, which come from the milter or from the rules the two
/// MTAs must share.
/// </summary>
internal sealed record MtaRun(IReadOnlyList<string> Outcomes, IReadOnlyList<Delivery> Deliveries)
{
    public static string Outcome(SmtpExchange exchange) =>
        exchange.Code < 400 ? $"{exchange.Command} -> {exchange.Code}" : $"{exchange.Command} -> {exchange.Code} {string.Join(" / ", exchange.Lines)}";

    public override string ToString() => string.Join('\n', Outcomes) + "\n" + string.Join('\n', Deliveries);
}
