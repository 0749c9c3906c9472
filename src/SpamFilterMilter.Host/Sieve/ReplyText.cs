using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>SMTP replies given as text to ereject, tempfail and rejectrecipient.</summary>
internal static class ReplyText
{
    /// <summary>
    /// <paramref name="text"/> as a complete 4xx/5xx SMTP reply, read with the Contract's one parser as text a person
    /// wrote (<see cref="SmtpReplySyntax.Text"/>: CRLF or LF lines); null when it is not such a reply.
    /// </summary>
    public static SmtpReply? TryParse(string text) =>
        SmtpReply.TryParse(text, SmtpReplySyntax.Text, out var reply, out _) ? reply : null;

    /// <summary>The reply for <paramref name="text"/>: itself when it is a 4xx/5xx reply, else <paramref name="code"/> and <paramref name="enhancedCode"/> with the text.</summary>
    public static SmtpReply OrDefault(string text, int code, string enhancedCode) =>
        TryParse(text) ?? new SmtpReply(code, enhancedCode, Lines(text));

    /// <summary>The text's lines (CRLF or LF), at least one.</summary>
    public static string[] Lines(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', ' ').TrimEnd('\n').Split('\n');
}
