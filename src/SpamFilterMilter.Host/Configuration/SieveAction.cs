using System.Text;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// A Sieve action as option.dat gives it (<c>spamfilterX_null_action</c>, <c>spamfilterX_string_action</c>,
/// <c>spamfilterX_action_M</c>): a URL, in practice a <c>data:</c> URL (RFC 2397) holding the script inline.
/// The URL is decoded once, when option.dat is read; <c>$U</c> is substituted into the decoded text for each
/// verdict, so that a verdict holding <c>%</c> or base64-looking text is used exactly as the plug-in returned it.
/// </summary>
public sealed class SieveAction
{
    /// <summary>The substitution sequence for the verdict string.</summary>
    public const string VerdictSequence = "$U";

    private Sieve.SieveScript? _script;

    private SieveAction(string url, string template)
    {
        Url = url;
        Template = template;
    }

    /// <summary>The URL as written in option.dat.</summary>
    public string Url { get; }

    /// <summary>The decoded Sieve text, still holding any <c>$U</c>.</summary>
    public string Template { get; }

    /// <summary>True when the script holds <c>$U</c>, i.e. it can only be parsed once a verdict is known.</summary>
    public bool UsesVerdict => Template.Contains(VerdictSequence, StringComparison.Ordinal);

    /// <summary>The script to run for <paramref name="verdict"/>: every <c>$U</c> replaced by it (by nothing for a null verdict).</summary>
    public string Expand(string? verdict) => Template.Replace(VerdictSequence, verdict ?? string.Empty, StringComparison.Ordinal);

    /// <summary>
    /// <see cref="Expand"/> parsed. A script without <c>$U</c> is the same for every verdict, so it is
    /// parsed once (when option.dat is read) and kept; a parsed script is immutable and may be shared.
    /// </summary>
    internal Sieve.SieveScript ScriptFor(string? verdict) =>
        UsesVerdict ? Sieve.SieveScript.Parse(Expand(verdict)) : _script ??= Sieve.SieveScript.Parse(Template);

    /// <inheritdoc />
    public override string ToString() => Url;

    /// <summary>
    /// Decodes <paramref name="url"/>: <c>data:[mediatype][;base64],data</c>. The data is percent-decoded
    /// (a <c>%</c> not followed by two hex digits stays as it is, because administrators write scripts
    /// such as <c>data:,require "fileinto"; fileinto "100%";</c> without encoding them): escaped bytes are
    /// read in the <c>charset</c> given (utf-8, the default; us-ascii and iso-8859-1 as Latin-1), characters
    /// written as themselves stay themselves. With <c>;base64</c> the data is base64-decoded after its
    /// escapes and the bytes read in the charset. Returns null with <paramref name="problem"/> when the URL
    /// cannot be used.
    /// </summary>
    public static SieveAction? TryParse(string url, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(url);
        problem = null;
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var colon = url.IndexOf(':', StringComparison.Ordinal);
            problem = colon > 0
                ? $"only data: URLs are supported (the script inline, e.g. data:,discard), not {url[..(colon + 1)]}"
                : "is not a URL: write the Sieve script as data:,<script> (e.g. data:,discard)";
            return null;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            problem = "a data: URL needs a comma before the script (data:,<script>)";
            return null;
        }

        var header = url[5..comma].Split(';', StringSplitOptions.TrimEntries);
        var isBase64 = false;
        Encoding encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        for (var i = 1; i < header.Length; i++)
        {
            if (header[i].Equals("base64", StringComparison.OrdinalIgnoreCase) && i == header.Length - 1)
            {
                isBase64 = true;
            }
            else if (header[i].StartsWith("charset=", StringComparison.OrdinalIgnoreCase))
            {
                var charset = header[i][8..].Trim('"');
                switch (charset.ToUpperInvariant())
                {
                    case "UTF-8":
                        break;
                    case "US-ASCII":
                    case "ISO-8859-1":
                        encoding = Encoding.Latin1;
                        break;
                    default:
                        problem = $"charset {charset} is not supported (use utf-8, us-ascii or iso-8859-1)";
                        return null;
                }
            }
        }

        try
        {
            var data = url.AsSpan(comma + 1);
            if (!isBase64)
            {
                return new SieveAction(url, Decode(data, encoding));
            }

            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(Decode(data, Encoding.Latin1));
            }
            catch (FormatException)
            {
                problem = "the data: URL says ;base64 but its data is not valid base64";
                return null;
            }

            return new SieveAction(url, encoding.GetString(bytes));
        }
        catch (DecoderFallbackException)
        {
            problem = "the decoded script is not valid UTF-8";
            return null;
        }
    }

    /// <summary>
    /// RFC 3986 percent-decoding: each run of escapes is a run of bytes in <paramref name="encoding"/> (so a
    /// UTF-8 character may take several escapes, and <c>%E9</c> is é in ISO-8859-1); a character that is not
    /// an escape is itself, whatever the charset.
    /// </summary>
    private static string Decode(ReadOnlySpan<char> text, Encoding encoding)
    {
        var output = new StringBuilder(text.Length);
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '%' && i + 2 < text.Length
                && char.IsAsciiHexDigit(text[i + 1]) && char.IsAsciiHexDigit(text[i + 2]))
            {
                bytes.Add(Convert.ToByte(text.Slice(i + 1, 2).ToString(), 16));
                i += 2;
                continue;
            }

            Flush();
            output.Append(text[i]);
        }

        Flush();
        return output.ToString();

        void Flush()
        {
            if (bytes.Count > 0)
            {
                output.Append(encoding.GetString([.. bytes]));
                bytes.Clear();
            }
        }
    }
}
