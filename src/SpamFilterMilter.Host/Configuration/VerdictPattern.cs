namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// A <c>spamfilterX_verdict_M</c> pattern: <c>*</c> matches any run of characters (line breaks included),
/// <c>?</c> exactly one, everything else itself, case-insensitively; the whole verdict must match.
/// </summary>
public sealed class VerdictPattern
{
    /// <summary>The longest pattern accepted (Messaging Server 6.3 raised the limit from 256 to 1024).</summary>
    public const int MaxLength = 1024;

    /// <summary>Creates the pattern; <paramref name="text"/> must be 1 to <see cref="MaxLength"/> characters.</summary>
    public VerdictPattern(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(text.Length, MaxLength, nameof(text));
        Text = text;
    }

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>True when <paramref name="verdict"/> matches the whole pattern.</summary>
    public bool IsMatch(string verdict) => Wildcard.IsMatch(verdict, Text, Wildcard.CaseFolding.Invariant, backslashEscapes: false);

    /// <inheritdoc />
    public override string ToString() => Text;
}

/// <summary>
/// Glob matching for verdict patterns and Sieve's <c>:matches</c>: <c>*</c> any run, <c>?</c> one character.
/// Linear backtracking to the last star (no regular expressions, so no pathological patterns).
/// </summary>
internal static class Wildcard
{
    public enum CaseFolding
    {
        /// <summary>Characters must be equal (Sieve i;octet).</summary>
        None,

        /// <summary>ASCII letters fold to upper case, nothing else (Sieve i;ascii-casemap).</summary>
        Ascii,

        /// <summary>Unicode invariant case folding (option.dat verdict patterns).</summary>
        Invariant,
    }

    /// <summary>
    /// True when all of <paramref name="text"/> matches <paramref name="pattern"/>. With
    /// <paramref name="backslashEscapes"/> (Sieve), <c>\</c> makes the next character literal.
    /// </summary>
    public static bool IsMatch(string text, string pattern, CaseFolding folding, bool backslashEscapes)
    {
        var tokens = Tokenize(pattern, backslashEscapes);
        int t = 0, p = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < tokens.Count && tokens[p].Kind == TokenKind.One)
            {
                t++;
                p++;
            }
            else if (p < tokens.Count && tokens[p].Kind == TokenKind.Literal && Equal(text[t], tokens[p].Char, folding))
            {
                t++;
                p++;
            }
            else if (p < tokens.Count && tokens[p].Kind == TokenKind.Run)
            {
                star = p++;
                resume = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < tokens.Count && tokens[p].Kind == TokenKind.Run)
        {
            p++;
        }

        return p == tokens.Count;
    }

    /// <summary>Compares two characters under a folding.</summary>
    public static bool Equal(char a, char b, CaseFolding folding) => folding switch
    {
        CaseFolding.None => a == b,
        CaseFolding.Ascii => AsciiUpper(a) == AsciiUpper(b),
        _ => char.ToUpperInvariant(a) == char.ToUpperInvariant(b),
    };

    /// <summary>i;ascii-casemap: a-z become A-Z, every other character stays.</summary>
    public static char AsciiUpper(char c) => char.IsAsciiLetterLower(c) ? (char)(c - ('a' - 'A')) : c;

    private enum TokenKind
    {
        Literal,
        One,
        Run,
    }

    private readonly record struct Token(TokenKind Kind, char Char);

    private static List<Token> Tokenize(string pattern, bool backslashEscapes)
    {
        var tokens = new List<Token>(pattern.Length);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (backslashEscapes && c == '\\' && i + 1 < pattern.Length)
            {
                tokens.Add(new Token(TokenKind.Literal, pattern[++i]));
            }
            else if (c == '*')
            {
                tokens.Add(new Token(TokenKind.Run, c));
            }
            else if (c == '?')
            {
                tokens.Add(new Token(TokenKind.One, c));
            }
            else
            {
                tokens.Add(new Token(TokenKind.Literal, c));
            }
        }

        return tokens;
    }
}
