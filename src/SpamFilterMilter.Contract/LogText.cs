using System.Globalization;
using System.Text;

namespace SpamFilterMilter.Contract;

/// <summary>
/// How text that came from outside (a milter's header name, a reply, a script's argument) is put into a log line:
/// quoted, escaped so that it cannot start a line of its own or hide in the terminal (<c>\r</c>, <c>\n</c>,
/// <c>\t</c>, <c>\xNN</c> for other control characters, C1's included, <c>\uNNNN</c> for the line and paragraph
/// separators and the bidirectional formatting characters), and bounded, so that a milter's 200 KB header name does
/// not become a 200 KB warning. Both the plug-in and the host use it.
/// </summary>
public static class LogText
{
    /// <summary>
    /// How a log line of our own writing is dated: local time with its offset from UTC, so that a log read beside another
    /// host's, or across a change of daylight saving time, is unambiguous. The plug-in's own log and the tools' console use it.
    /// </summary>
    public const string TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff zzz";

    /// <summary>The most characters of the text a log line shows by default.</summary>
    public const int DefaultMaxLength = 200;

    /// <summary><paramref name="text"/> quoted and escaped, at most <paramref name="maxLength"/> characters of it, then how many more there were.</summary>
    public static string Quote(string? text, int maxLength = DefaultMaxLength)
    {
        if (text is null)
        {
            return "(none)";
        }

        var shown = Math.Min(text.Length, maxLength);
        if (shown > 0 && shown < text.Length && char.IsHighSurrogate(text[shown - 1]))
        {
            shown--; // half a character would be shown as an unpaired surrogate
        }

        var quoted = new StringBuilder(shown + 8).Append('"');
        foreach (var c in text.AsSpan(0, shown))
        {
            Append(quoted, c);
        }

        quoted.Append('"');
        if (text.Length > shown)
        {
            quoted.Append(CultureInfo.InvariantCulture, $"…(+{text.Length - shown} characters)");
        }

        return quoted.ToString();
    }

    /// <summary>
    /// <paramref name="text"/> quoted and escaped as <see cref="Quote(string?, int)"/> does, read as UTF-8 where it is
    /// UTF-8 and each other byte shown as <c>\xNN</c>, so a Latin-1 header shows what it holds; at most
    /// <paramref name="maxLength"/> bytes of it, then how many more there were.
    /// </summary>
    public static string Quote(RawText text, int maxLength = DefaultMaxLength)
    {
        var bytes = text.Span;
        var shown = bytes[..Math.Min(bytes.Length, maxLength)];
        var quoted = new StringBuilder(shown.Length + 8).Append('"');
        while (!shown.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(shown, out var rune, out var consumed) == System.Buffers.OperationStatus.Done)
            {
                if (rune.IsBmp)
                {
                    Append(quoted, (char)rune.Value);
                }
                else
                {
                    quoted.Append(rune.ToString());
                }
            }
            else
            {
                foreach (var b in shown[..consumed])
                {
                    quoted.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
                }
            }

            shown = shown[consumed..];
        }

        quoted.Append('"');
        if (bytes.Length > maxLength)
        {
            quoted.Append(CultureInfo.InvariantCulture, $"…(+{bytes.Length - maxLength} bytes)");
        }

        return quoted.ToString();
    }

    private static void Append(StringBuilder quoted, char c) => _ = c switch
    {
        '"' => quoted.Append("\\\""),
        '\\' => quoted.Append("\\\\"),
        '\r' => quoted.Append("\\r"),
        '\n' => quoted.Append("\\n"),
        '\t' => quoted.Append("\\t"),
        _ when char.IsControl(c) => quoted.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"), // C0, DEL and C1 (U+009B is a terminal's CSI)
        _ when IsInvisibleLayout(c) => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
        _ => quoted.Append(c),
    };

    /// <summary>
    /// Characters that are not controls but that a log viewer may show as a line break (U+2028, U+2029) or that reorder
    /// what follows them on the line (the bidirectional marks, embeddings, overrides and isolates).
    /// </summary>
    private static bool IsInvisibleLayout(char c) => c is '\u2028' or '\u2029' or '\u200E' or '\u200F' or '\u061C'
        or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');
}
