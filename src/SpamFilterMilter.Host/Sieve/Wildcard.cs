namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// Glob matching for verdict patterns (mapping syntax: <c>*</c>, <c>%</c>, <c>$</c> quotes) and Sieve's
/// <c>:matches</c> (<c>*</c>, <c>?</c>, <c>\</c> quotes). No regular expressions and no recursion: the
/// pattern is cut at its stars into segments of literals and one-character wildcards; the first segment
/// must match at the start, the last at the end, and each one between at its leftmost place after the one
/// before (leftmost is always right for globs with only * and one-character wildcards). The work is at
/// most (text length) x (pattern length) comparisons, whatever the pattern: no exponential backtracking.
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

    public enum Syntax
    {
        /// <summary>Sieve :matches (RFC 5228 §2.7.1): * any run, ? one character, \ quotes the next.</summary>
        Sieve,

        /// <summary>Messaging Server mapping patterns: * any run, % one character, $ quotes the next.</summary>
        Mapping,
    }

    /// <summary>True when all of <paramref name="text"/> matches <paramref name="pattern"/> in Sieve syntax.</summary>
    public static bool IsMatch(string text, string pattern, CaseFolding folding) =>
        Pattern.Parse(pattern, Syntax.Sieve, folding)!.IsMatch(text);

    /// <summary>Compares two characters under a folding.</summary>
    public static bool Equal(char a, char b, CaseFolding folding) => folding switch
    {
        CaseFolding.None => a == b,
        CaseFolding.Ascii => AsciiUpper(a) == AsciiUpper(b),
        _ => char.ToUpperInvariant(a) == char.ToUpperInvariant(b),
    };

    /// <summary>i;ascii-casemap: a-z become A-Z, every other character stays.</summary>
    public static char AsciiUpper(char c) => char.IsAsciiLetterLower(c) ? (char)(c - ('a' - 'A')) : c;

    /// <summary>A parsed pattern: the segments between its stars.</summary>
    public sealed class Pattern
    {
        private readonly Token[][] _segments;
        private readonly CaseFolding _folding;

        private Pattern(Token[][] segments, CaseFolding folding)
        {
            _segments = segments;
            _folding = folding;
        }

        /// <summary>Parses <paramref name="pattern"/>; null when the mapping syntax ends in a lone <c>$</c>.</summary>
        public static Pattern? Parse(string pattern, Syntax syntax, CaseFolding folding)
        {
            var (quote, one) = syntax == Syntax.Sieve ? ('\\', '?') : ('$', '%');
            var segments = new List<Token[]>();
            var current = new List<Token>();
            for (var i = 0; i < pattern.Length; i++)
            {
                var c = pattern[i];
                if (c == quote)
                {
                    if (i + 1 >= pattern.Length)
                    {
                        if (syntax == Syntax.Mapping)
                        {
                            return null;
                        }

                        current.Add(new Token(false, c)); // Sieve: a trailing backslash is itself
                        continue;
                    }

                    current.Add(new Token(false, pattern[++i]));
                }
                else if (c == '*')
                {
                    segments.Add([.. current]); // an empty segment (** or a star at either end) matches anywhere
                    current.Clear();
                }
                else
                {
                    current.Add(new Token(c == one, c));
                }
            }

            segments.Add([.. current]);
            return new Pattern([.. segments], folding);
        }

        public bool IsMatch(string text)
        {
            if (_segments.Length == 1)
            {
                return text.Length == _segments[0].Length && MatchesAt(text, 0, _segments[0]);
            }

            var first = _segments[0];
            var last = _segments[^1];
            if (first.Length + last.Length > text.Length || !MatchesAt(text, 0, first) || !MatchesAt(text, text.Length - last.Length, last))
            {
                return false;
            }

            var position = first.Length;
            var end = text.Length - last.Length;
            for (var s = 1; s < _segments.Length - 1; s++)
            {
                var segment = _segments[s];
                var found = -1;
                for (var at = position; at + segment.Length <= end; at++)
                {
                    if (MatchesAt(text, at, segment))
                    {
                        found = at;
                        break;
                    }
                }

                if (found < 0)
                {
                    return false;
                }

                position = found + segment.Length;
            }

            return true;
        }

        private bool MatchesAt(string text, int at, Token[] segment)
        {
            for (var i = 0; i < segment.Length; i++)
            {
                if (!segment[i].AnyOne && !Equal(text[at + i], segment[i].Char, _folding))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>One character of a segment: a literal, or a wildcard for any one character.</summary>
    private readonly record struct Token(bool AnyOne, char Char);
}
