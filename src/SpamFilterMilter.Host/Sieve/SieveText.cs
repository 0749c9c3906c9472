using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>Header values as Sieve tests compare them (RFC 5228 §5.7, §2.7.4): unfolded, trimmed, RFC 2047 decoded.</summary>
internal static partial class HeaderText
{
    /// <summary>
    /// The value a test compares: folding line breaks removed, leading and trailing blanks removed, encoded
    /// words (RFC 2047) in UTF-8, US-ASCII or ISO-8859-1 decoded; other charsets are left as written.
    /// </summary>
    public static string TestValue(string raw) => DecodeEncodedWords(HeaderValue.Unfold(raw).Trim(' ', '\t'));

    /// <summary>The local part or the domain (empty when there is none) of an address, or all of it.</summary>
    public static string Part(string address, string part) => part switch
    {
        ":localpart" => MailAddress.LocalPart(address),
        ":domain" => MailAddress.Domain(address) ?? string.Empty,
        _ => address,
    };

    private static string DecodeEncodedWords(string value)
    {
        if (!value.Contains("=?", StringComparison.Ordinal))
        {
            return value;
        }

        // Blanks between two adjacent encoded words are not part of the text (RFC 2047 §6.2).
        var joined = BetweenEncodedWords().Replace(value, "?==?");
        return EncodedWord().Replace(joined, match =>
        {
            Encoding? encoding = match.Groups["charset"].Value.ToUpperInvariant() switch
            {
                "UTF-8" => Encoding.UTF8,
                "US-ASCII" or "ISO-8859-1" or "LATIN1" => Encoding.Latin1,
                _ => null,
            };
            if (encoding is null)
            {
                return match.Value;
            }

            var text = match.Groups["text"].Value;
            try
            {
                var bytes = match.Groups["encoding"].Value.Equals("B", StringComparison.OrdinalIgnoreCase)
                    ? Convert.FromBase64String(text)
                    : QDecode(text);
                return encoding.GetString(bytes);
            }
            catch (FormatException)
            {
                return match.Value;
            }
        });
    }

    private static byte[] QDecode(string text)
    {
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '_')
            {
                bytes.Add((byte)' ');
            }
            else if (text[i] == '=' && i + 2 < text.Length && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]))
            {
                bytes.Add(byte.Parse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 2;
            }
            else
            {
                bytes.Add((byte)text[i]);
            }
        }

        return [.. bytes];
    }

    [GeneratedRegex(@"=\?(?<charset>[^?*]+)(\*[^?]*)?\?(?<encoding>[BbQq])\?(?<text>[^?]*)\?=", RegexOptions.CultureInvariant)]
    private static partial Regex EncodedWord();

    [GeneratedRegex(@"\?=[ \t]+=\?", RegexOptions.CultureInvariant)]
    private static partial Regex BetweenEncodedWords();
}

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
