using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// The argument of <c>MAIL FROM:</c> or <c>RCPT TO:</c> as an SMTP client writes it, read for tools that take an envelope
/// from a person (<c>spamfilter-milter check --from/--to</c>, the reference host's envelope file): a path, then its ESMTP
/// parameters, separated by spaces (RFC 5321 §4.1.2): <c>&lt;a@example.com&gt; BODY=8BITMIME SIZE=12</c>. The path may go
/// without angle brackets (<c>a@example.com</c>, as tools always took it); <c>&lt;&gt;</c> or nothing is the null sender.
/// What an SMTP server would refuse as a syntax error is a <see cref="FormatException"/> that says what is wrong, so
/// that it never reaches a filter as one malformed address: angle brackets that do not pair, a parameter that is not
/// <c>keyword[=value]</c>, a control character anywhere.
/// </summary>
public static class EnvelopeArgument
{
    private static readonly System.Buffers.SearchValues<char> KeywordCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");

    /// <summary>esmtp-value's ASCII: %d33-60 / %d62-126, everything printable but '=' (characters beyond ASCII are let through separately).</summary>
    private static readonly System.Buffers.SearchValues<char> ValueCharacters =
        System.Buffers.SearchValues.Create("!\"#$%&'()*+,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>The path's address (without angle brackets) and the ESMTP parameters after it, one per entry, each checked (<see cref="ParameterProblem"/>).</summary>
    /// <exception cref="FormatException">The path or a parameter is malformed; the message says how.</exception>
    public static (string Address, IReadOnlyList<string> Parameters) Parse(string text)
    {
        var (address, words) = SplitPath(text);
        foreach (var word in words)
        {
            if (ParameterProblem(word) is { } problem)
            {
                throw new FormatException(problem);
            }
        }

        return (address, words);
    }

    /// <summary>
    /// The path's address (without angle brackets) and the words after it, unchecked, for a format that puts more
    /// than parameters there (the reference host's envelope file names a recipient's channel after its path).
    /// A quoted local part (<c>&lt;"a b"@example.com&gt;</c>) may hold spaces and angle brackets.
    /// </summary>
    /// <exception cref="FormatException">The path is malformed, or the text holds a control character.</exception>
    public static (string Address, IReadOnlyList<string> Words) SplitPath(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bad = MailPath.FindBadCharacter(text);
        if (bad >= 0)
        {
            throw new FormatException($"a control character ({LogText.Quote(text[bad].ToString())}) in {LogText.Quote(text)}: no SMTP command can carry it");
        }

        text = text.Trim(' ');
        var bracketed = text.StartsWith('<');
        var end = PathEnd(text, bracketed);
        var address = bracketed ? text[1..(end - 1)].Trim(' ') : text[..end];
        if (end < text.Length && text[end] != ' ')
        {
            throw new FormatException($"{LogText.Quote(text)}: a space must follow the '>' that closes the path");
        }

        return (address, EsmtpParameters.Split(text[end..]));
    }

    /// <summary>The argument as SMTP writes it, what <see cref="Parse"/> reads: <c>&lt;a@example.com&gt; BODY=8BITMIME SIZE=12</c> (<c>&lt;&gt;</c> for the null sender).</summary>
    public static string Format(string address, IReadOnlyList<string>? parameters) =>
        string.Join(' ', [MailPath.Bracket(address), .. parameters ?? []]);

    /// <summary>
    /// Null when <paramref name="parameter"/> is an ESMTP parameter as RFC 5321 §4.1.2 writes one (<c>esmtp-keyword
    /// ["=" esmtp-value]</c>: a keyword of letters, digits and '-' starting with a letter or digit; a value of at least one
    /// printable character other than '=', or UTF-8 beyond ASCII as RFC 6531 allows); else what is wrong with it.
    /// </summary>
    public static string? ParameterProblem(string parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        var (keyword, value) = EsmtpParameters.KeywordAndValue(parameter);
        var problem = keyword.Length == 0 ? "it has no keyword"
            : !char.IsAsciiLetterOrDigit(keyword[0]) || keyword.AsSpan().ContainsAnyExcept(KeywordCharacters)
                ? "a keyword is letters, digits and '-', starting with a letter or digit"
            : value is null ? null
            : value.Length == 0 ? "the value after '=' is empty"
            : FirstBadValueCharacter(value) is { } bad ? $"a value may not hold {LogText.Quote(bad.ToString())}"
            : null;
        return problem is null ? null : $"{LogText.Quote(parameter)} is not an ESMTP parameter (keyword[=value]): {problem}";
    }

    private static char? FirstBadValueCharacter(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c < 0x80 && !ValueCharacters.Contains(c))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>
    /// Where the path ends: after its closing '>' when <paramref name="bracketed"/>, else at the first space. A quoted
    /// string (with its backslash pairs) is part of the path whatever it holds; outside one, an angle bracket that does
    /// not pair is an error.
    /// </summary>
    private static int PathEnd(string text, bool bracketed)
    {
        var quoted = false;
        for (var i = bracketed ? 1 : 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '<')
            {
                throw new FormatException($"{LogText.Quote(text)}: unbalanced '<' (a path is one address in one pair of angle brackets)");
            }
            else if (c == '>')
            {
                return bracketed ? i + 1 : throw new FormatException($"{LogText.Quote(text)}: unbalanced '>' (no '<' opens the path)");
            }
            else if (c == ' ' && !bracketed)
            {
                return i;
            }
        }

        return quoted ? throw new FormatException($"{LogText.Quote(text)}: a quoted string in the path has no closing '\"'")
            : bracketed ? throw new FormatException($"{LogText.Quote(text)}: unbalanced '<' (no '>' closes the path)")
            : text.Length;
    }
}
