using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// A <c>spamfilterX_verdict_M</c> pattern, with Messaging Server's mapping-table wildcards: <c>*</c> matches
/// any run of characters (line breaks included), <c>%</c> exactly one character, <c>$</c> makes the next
/// character literal (<c>$*</c>, <c>$%</c>, <c>$$</c>); every other character, <c>?</c> included, matches
/// itself, case-insensitively. The whole verdict must match.
/// </summary>
public sealed class VerdictPattern
{
    /// <summary>The longest pattern accepted (Messaging Server 6.3 raised the limit from 256 to 1024).</summary>
    public const int MaxLength = 1024;

    private readonly Wildcard.Pattern _pattern;

    /// <summary>
    /// Creates the pattern; <paramref name="text"/> must be 1 to <see cref="MaxLength"/> characters and must
    /// not end in a lone <c>$</c> (it would quote nothing).
    /// </summary>
    public VerdictPattern(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(text.Length, MaxLength, nameof(text));
        _pattern = Parse(text) ?? throw new ArgumentException(DanglingQuote, nameof(text));
        Text = text;
    }

    private VerdictPattern(string text, Wildcard.Pattern pattern)
    {
        _pattern = pattern;
        Text = text;
    }

    /// <summary>Why a pattern that ends in a lone <c>$</c> is refused.</summary>
    private const string DanglingQuote = "the pattern ends in a $ that quotes nothing (write $$ for a $)";

    /// <summary>The pattern, or null with <paramref name="problem"/> in words for an option.dat error.</summary>
    internal static VerdictPattern? TryCreate(string text, out string? problem)
    {
        problem = text.Length == 0 ? "the pattern is empty"
            : text.Length > MaxLength ? $"the pattern is {text.Length} characters long; at most {MaxLength} are allowed"
            : null;
        if (problem is null && Parse(text) is { } pattern)
        {
            return new VerdictPattern(text, pattern);
        }

        problem ??= DanglingQuote;
        return null;
    }

    private static Wildcard.Pattern? Parse(string text) =>
        Wildcard.Pattern.Parse(text, Wildcard.Syntax.Mapping, Wildcard.CaseFolding.Invariant);

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>True when <paramref name="verdict"/> matches the whole pattern.</summary>
    public bool IsMatch(string verdict) => _pattern.IsMatch(verdict);

    /// <inheritdoc />
    public override string ToString() => Text;
}
