using System.Globalization;
using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>SMTP replies given as text to ereject, tempfail and rejectrecipient.</summary>
internal static partial class ReplyText
{
    /// <summary>
    /// Reads <paramref name="text"/> as a complete 4xx/5xx SMTP reply, one or more lines (CRLF or LF), every
    /// line with the same code, <c>-</c> after it on all but the last; an RFC 3463 enhanced code of the same
    /// class is taken apart. Returns null when the text is not such a reply.
    /// </summary>
    public static SmtpReply? TryParse(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        var code = 0;
        var texts = new string[lines.Length];
        var enhanced = new string?[lines.Length];
        for (var i = 0; i < lines.Length; i++)
        {
            var match = ReplyLine().Match(lines[i]);
            var last = i == lines.Length - 1;
            if (!match.Success || lines[i].Contains('\r', StringComparison.Ordinal))
            {
                return null;
            }

            var lineCode = int.Parse(match.Groups["code"].Value, CultureInfo.InvariantCulture);
            var separator = match.Groups["separator"].Value;
            if ((i > 0 && lineCode != code) || (last ? separator == "-" : separator != "-"))
            {
                return null;
            }

            code = lineCode;
            var rest = match.Groups["text"].Value;
            var enhancedMatch = EnhancedCode().Match(rest);
            if (enhancedMatch.Success && enhancedMatch.Groups["class"].Value[0] == match.Groups["code"].Value[0])
            {
                enhanced[i] = enhancedMatch.Groups["enhanced"].Value;
                rest = rest[enhancedMatch.Length..];
            }

            texts[i] = rest;
        }

        var shared = enhanced[0];
        if (shared is not null && enhanced.All(e => e == shared))
        {
            return new SmtpReply(code, shared, texts);
        }

        return new SmtpReply(code, null, texts.Select((t, i) => enhanced[i] is { } own ? (t.Length == 0 ? own : own + " " + t) : t).ToArray());
    }

    /// <summary>The reply for <paramref name="text"/>: itself when it is a 4xx/5xx reply, else <paramref name="code"/> and <paramref name="enhancedCode"/> with the text.</summary>
    public static SmtpReply OrDefault(string text, int code, string enhancedCode) =>
        TryParse(text) ?? new SmtpReply(code, enhancedCode, Lines(text));

    /// <summary>The text's lines (CRLF or LF), at least one.</summary>
    public static string[] Lines(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', ' ').TrimEnd('\n').Split('\n');

    [GeneratedRegex(@"^(?<code>[45][0-9][0-9])(?<separator>[- ]|$)(?<text>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex ReplyLine();

    [GeneratedRegex(@"^(?<enhanced>(?<class>[245])\.[0-9]{1,3}\.[0-9]{1,3})( |$)", RegexOptions.CultureInvariant)]
    private static partial Regex EnhancedCode();
}
