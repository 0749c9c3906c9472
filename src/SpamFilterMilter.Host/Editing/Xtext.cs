using System.Buffers;
using System.Globalization;
using System.Text;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// RFC 3461 xtext, the encoding of <c>ENVID=</c> and of <c>ORCPT=</c>'s address: bytes outside '!'..'~', '+' and '='
/// are written <c>+XX</c>. Both directions in one place: the relay writes it (an ORCPT it adds), envelope edits read it
/// (a milter's ENVID and ORCPT).
/// </summary>
public static class Xtext
{
    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789ABCDEFabcdef");

    /// <summary>The UTF-8 bytes of <paramref name="text"/> as xtext.</summary>
    public static string Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encode(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>
    /// <paramref name="xtext"/> decoded and encoded again, as Postfix passes an <c>ENVID=</c> or <c>ORCPT=</c> on (smtpd's
    /// <c>xtext_unquote</c>, the smtp client's <c>xtext_quote</c>): <c>a+2bb</c> is <c>a+2Bb</c>, <c>x=y</c> is
    /// <c>x+3Dy</c>, <c>+7E</c> is <c>~</c>. Text that does not decode (<see cref="Decodes"/>) is given back as it is.
    /// </summary>
    internal static string Canonical(string xtext) => Decode(xtext) is { } bytes ? Encode(bytes) : xtext;

    /// <summary>
    /// The address of a <c>utf-8</c> ORCPT (RFC 6533 utf-8-addr-xtext) as Postfix passes it on: its <c>\x{HEX}</c> escapes
    /// read, then every character that may not stand as itself written so (a space, a control character, <c>+</c>,
    /// <c>=</c>, <c>\</c>): Postfix 3.7 passed <c>a"b c"d</c> on as <c>a"b\x{20}c"d</c> and <c>a+2Bb</c> as
    /// <c>a\x{2B}2Bb</c>. Characters beyond ASCII stand as themselves.
    /// </summary>
    internal static string CanonicalUtf8(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (!TryReadEscape(text.AsSpan(i), out var rune, out var used))
            {
                Rune.DecodeFromUtf16(text.AsSpan(i), out rune, out used); // a lone surrogate as U+FFFD
            }

            i += used;
            if (rune.Value is >= 0x80 or (>= 0x21 and <= 0x7E and not ('+' or '=' or '\\')))
            {
                result.Append(rune.ToString());
            }
            else
            {
                result.Append(CultureInfo.InvariantCulture, $"\\x{{{rune.Value:X}}}");
            }
        }

        return result.ToString();
    }

    /// <summary>An RFC 6533 <c>\x{HEX}</c> at the start of <paramref name="text"/>: 1 to 6 hex digits of a Unicode scalar value.</summary>
    private static bool TryReadEscape(ReadOnlySpan<char> text, out Rune rune, out int used)
    {
        (rune, used) = (default, 0);
        if (!text.StartsWith("\\x{", StringComparison.Ordinal))
        {
            return false;
        }

        var close = text.IndexOf('}');
        var digits = close > 3 ? text[3..close] : [];
        if (digits.Length is < 1 or > 6 || digits.ContainsAnyExcept(HexDigits)
            || !Rune.TryCreate(int.Parse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture), out rune))
        {
            return false;
        }

        used = close + 1;
        return true;
    }

    private static string Encode(byte[] bytes)
    {
        var result = new StringBuilder();
        foreach (var b in bytes)
        {
            if (b is < 33 or > 126 or (byte)'+' or (byte)'=')
            {
                result.Append('+').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                result.Append((char)b);
            }
        }

        return result.ToString();
    }

    /// <summary>
    /// True when <paramref name="xtext"/> decodes as Postfix's <c>xtext_unquote</c> reads it (<see cref="Decode"/>), and,
    /// when <paramref name="printableOnly"/>, every decoded byte is printable ASCII.
    /// </summary>
    internal static bool Decodes(ReadOnlySpan<char> xtext, bool printableOnly) =>
        Decode(xtext) is { } bytes && (!printableOnly || !bytes.AsSpan().ContainsAnyExceptInRange((byte)0x20, (byte)0x7E));

    /// <summary>
    /// The bytes <paramref name="xtext"/> stands for, as Postfix's <c>xtext_unquote</c> reads it: <c>+XX</c> (hex in either
    /// case) one byte, any other character itself, as UTF-8 (a lone surrogate, which UTF-8 text cannot have made, as
    /// U+FFFD); null when a <c>+</c> is not followed by two hex digits.
    /// </summary>
    private static byte[]? Decode(ReadOnlySpan<char> xtext)
    {
        var bytes = new List<byte>(xtext.Length);
        Span<byte> encoded = stackalloc byte[4];
        for (var i = 0; i < xtext.Length; i++)
        {
            if (xtext[i] == '+')
            {
                if (i + 2 >= xtext.Length || !char.IsAsciiHexDigit(xtext[i + 1]) || !char.IsAsciiHexDigit(xtext[i + 2]))
                {
                    return null;
                }

                bytes.Add(byte.Parse(xtext.Slice(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                i += 2;
            }
            else
            {
                Rune.DecodeFromUtf16(xtext[i..], out var rune, out var used);
                bytes.AddRange(encoded[..rune.EncodeToUtf8(encoded)]);
                i += used - 1;
            }
        }

        return [.. bytes];
    }
}
