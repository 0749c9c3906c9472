namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// The macros sent at each stage, by <see cref="MacroStage"/> (the option file's <c>CONNECT_MACROS</c> …
/// <c>UNKNOWN_MACROS</c>, as Postfix's <c>milter_*_macros</c>); a stage the milter asks a list for in OPTNEG gets
/// that list instead. Names are kept in canonical form (<see cref="MacroNames.Canonical"/>).
/// </summary>
internal sealed class MacroLists
{
    private readonly IReadOnlyList<string>[] _lists;
    private readonly HashSet<string> _all;

    /// <param name="lists">One list per <see cref="MacroStage"/>, in its order; names with or without braces.</param>
    public MacroLists(IReadOnlyList<IReadOnlyList<string>> lists)
    {
        if (lists.Count != MilterConstants.ConfiguredMacroStageCount)
        {
            throw new ArgumentException($"One macro list per stage ({MilterConstants.ConfiguredMacroStageCount}) is needed, not {lists.Count}.", nameof(lists));
        }

        _lists = [.. lists.Select(list => (IReadOnlyList<string>)[.. list.Select(Checked)])];
        _all = _lists.SelectMany(list => list).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Postfix's defaults (<see cref="MacroNames.DefaultListText"/>).</summary>
    public static MacroLists Default { get; } = new([.. MacroNames.DefaultListText.Select(MacroNames.ParseList)]);

    /// <summary>The names sent at <paramref name="stage"/>.</summary>
    public IReadOnlyList<string> this[MacroStage stage] => _lists[(int)stage];

    /// <summary>True when some stage sends <paramref name="canonicalName"/>.</summary>
    public bool Contains(string canonicalName) => _all.Contains(canonicalName);

    private static string Checked(string name)
    {
        var canonical = MacroNames.Canonical(name);
        return MacroNames.IsWellFormed(canonical) ? canonical
            : throw new ArgumentException($"\"{name}\" is not a macro name: use one character, or a name with or without braces and no braces inside.", nameof(name));
    }
}
