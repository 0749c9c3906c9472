namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// What the lines said about one slot, before the rules between its options: a verdict needs its action
/// and an action its verdict; a slot is on when its library is set, and then needs its option file.
/// </summary>
internal sealed class SlotDraft
{
    public (string Value, int Line)? Library { get; set; }

    public string? ConfigFile { get; set; }

    public bool Optional { get; set; }

    public SieveAction? NullAction { get; set; }

    public SieveAction? StringAction { get; set; } = HostOptionDescriptors.DefaultStringAction;

    public Dictionary<int, (VerdictPattern Pattern, int Line)> Verdicts { get; } = [];

    public Dictionary<int, (SieveAction Action, int Line)> Actions { get; } = [];

    public string? UserAttribute { get; set; }

    public string? SourceAttribute { get; set; }

    public string? DomainAttribute { get; set; }

    public SlotOptions? Build(HostOptionsReader reader, int number)
    {
        foreach (var (m, verdict) in Verdicts.Where(v => !Actions.ContainsKey(v.Key)))
        {
            throw reader.Error(verdict.Line, $"spamfilter{number}_verdict_{m}", $"has no spamfilter{number}_action_{m}");
        }

        foreach (var (m, action) in Actions.Where(a => !Verdicts.ContainsKey(a.Key)))
        {
            throw reader.Error(action.Line, $"spamfilter{number}_action_{m}", $"has no spamfilter{number}_verdict_{m}");
        }

        if (Library is not { } library)
        {
            return null;
        }

        var configFile = ConfigFile
            ?? throw reader.Error(library.Line, $"spamfilter{number}_config_file", $"is required with spamfilter{number}_library");
        return new SlotOptions(number, reader.PluginPath(library.Value), configFile)
        {
            LibraryLine = library.Line,
            Optional = Optional,
            NullAction = NullAction,
            StringAction = StringAction,
            VerdictRules = Verdicts.OrderBy(v => v.Key).Select(v => new VerdictRule(v.Key, v.Value.Pattern, Actions[v.Key].Action)).ToArray(),
            UserOptInAttribute = UserAttribute,
            SourceOptInAttribute = SourceAttribute,
            DomainOptInAttribute = DomainAttribute,
        };
    }
}
