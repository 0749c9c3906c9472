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
    /// The value a test compares: read as UTF-8 (a byte that is not UTF-8 is U+FFFD: tests match, they write nothing),
    /// folding line breaks removed, leading and trailing blanks removed, encoded words (RFC 2047) in UTF-8, US-ASCII or
    /// ISO-8859-1 decoded; other charsets are left as written.
    /// </summary>
    public static string TestValue(RawText raw) => DecodeEncodedWords(HeaderValue.Unfold(raw.ToString()).Trim(' ', '\t'));

    /// <summary>The local part or the domain (empty when there is none) of an address, or all of it.</summary>
    public static string Part(string address, string part) => part switch
    {
        ":localpart" => MailPath.LocalPart(address),
        ":domain" => MailPath.Domain(address) ?? string.Empty,
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
