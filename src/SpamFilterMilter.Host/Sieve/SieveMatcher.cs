namespace SpamFilterMilter.Host.Sieve;

/// <summary>A match type (:is, :contains, :matches) under a comparator (i;ascii-casemap by default, i;octet).</summary>
internal sealed class SieveMatcher
{
    private readonly string _type;
    private readonly Wildcard.CaseFolding _folding;

    private SieveMatcher(string type, Wildcard.CaseFolding folding)
    {
        _type = type;
        _folding = folding;
    }

    public static SieveMatcher For(Call call) => new(
        call.Has(":contains") ? ":contains" : call.Has(":matches") ? ":matches" : ":is",
        call.TagString(":comparator") == "i;octet" ? Wildcard.CaseFolding.None : Wildcard.CaseFolding.Ascii);

    public bool Any(string value, IReadOnlyList<string> keys) => keys.Any(key => IsMatch(value, key));

    private bool IsMatch(string value, string key) => _type switch
    {
        ":contains" => Fold(value).Contains(Fold(key), StringComparison.Ordinal),
        ":matches" => Wildcard.IsMatch(value, key, _folding),
        _ => string.Equals(Fold(value), Fold(key), StringComparison.Ordinal),
    };

    private string Fold(string text) =>
        _folding == Wildcard.CaseFolding.None ? text : string.Create(text.Length, text, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = Wildcard.AsciiUpper(source[i]);
            }
        });
}
