using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Policy;

/// <summary>
/// Validates and parses the SMTP reply text of SMFIR_REPLYCODE, with Postfix's rules
/// (milter8_valid_smtp_reply): every line starts with the same 4xx or 5xx code followed by '-'
/// (more lines follow) or ' ' / nothing (last line); lines are separated by CRLF and hold no other
/// CR, LF or NUL; an enhanced status code must start with the reply's first digit. Sendmail-style
/// milters double '%' (sendmail formats the text); "%%" becomes "%" and a lone '%' is dropped, as
/// in Postfix.
/// </summary>
internal static class SmtpReplyText
{
    /// <summary>The reply for a milter REJECT without text (Postfix's wording).</summary>
    public static SmtpReply DefaultReject { get; } = new(550, "5.7.1", "Command rejected");

    /// <summary>The reply for a milter TEMPFAIL without text (Postfix's wording).</summary>
    public static SmtpReply DefaultTempFail { get; } = new(451, "4.7.1", "Service unavailable - try again later");

    /// <summary>Parses <paramref name="text"/>, or returns null with <paramref name="problem"/> saying why not.</summary>
    public static SmtpReply? TryParse(string text, out string? problem)
    {
        problem = null;
        if (text.Length == 0)
        {
            problem = "the reply text is empty";
            return null;
        }

        var rawLines = text.Split("\r\n");
        int code = 0;
        var enhancedCodes = new string?[rawLines.Length];
        var texts = new string[rawLines.Length];
        for (var i = 0; i < rawLines.Length; i++)
        {
            var line = rawLines[i];
            var last = i == rawLines.Length - 1;
            if (line.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                problem = $"line {i + 1} holds a CR, LF or NUL that is not part of a CRLF line break";
                return null;
            }

            if (line.Length < 3 || line[0] is not ('4' or '5') || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2]))
            {
                problem = $"line {i + 1} does not start with a 4xx or 5xx code: \"{Shorten(line)}\"";
                return null;
            }

            var lineCode = int.Parse(line.AsSpan(0, 3), CultureInfo.InvariantCulture);
            if (i == 0)
            {
                code = lineCode;
            }
            else if (lineCode != code)
            {
                problem = $"line {i + 1} has code {lineCode}, the first line {code}";
                return null;
            }

            var separator = line.Length > 3 ? line[3] : (char?)null;
            if (!last && separator != '-')
            {
                problem = $"line {i + 1} is not the last line but its code is not followed by '-'";
                return null;
            }

            if (last && separator is not (null or ' '))
            {
                problem = $"the last line's code is followed by '{separator}' instead of a space";
                return null;
            }

            var rest = line.Length > 4 ? line[4..] : string.Empty;
            enhancedCodes[i] = SplitEnhancedCode(ref rest);
            if (enhancedCodes[i] is { } enhanced && enhanced[0] != line[0])
            {
                problem = $"enhanced status code {enhanced} does not match reply code {code}";
                return null;
            }

            texts[i] = Unpercent(rest);
        }

        // One enhanced code shared by every line is the normal case; otherwise keep each line's own text.
        var shared = enhancedCodes[0];
        if (shared is not null && enhancedCodes.All(e => e == shared))
        {
            return new SmtpReply(code, shared, texts);
        }

        for (var i = 0; i < texts.Length; i++)
        {
            if (enhancedCodes[i] is { } own)
            {
                texts[i] = texts[i].Length == 0 ? own : own + " " + texts[i];
            }
        }

        return new SmtpReply(code, null, texts);
    }

    /// <summary>Removes a leading RFC 3463 code ("5.7.1 ") from <paramref name="rest"/> and returns it.</summary>
    private static string? SplitEnhancedCode(ref string rest)
    {
        var end = rest.IndexOf(' ', StringComparison.Ordinal);
        var candidate = end < 0 ? rest : rest[..end];
        var parts = candidate.Split('.');
        if (parts.Length != 3 || parts[0] is not ("2" or "4" or "5")
            || !IsDigits(parts[1], 3) || !IsDigits(parts[2], 3))
        {
            return null;
        }

        rest = end < 0 ? string.Empty : rest[(end + 1)..];
        return candidate;
    }

    private static bool IsDigits(string s, int maxLength) =>
        s.Length is >= 1 && s.Length <= maxLength && s.All(char.IsAsciiDigit);

    private static string Unpercent(string text)
    {
        if (!text.Contains('%', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '%')
            {
                result.Append(text[i]);
            }
            else if (i + 1 < text.Length && text[i + 1] == '%')
            {
                result.Append('%');
                i++;
            }
        }

        return result.ToString();
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
