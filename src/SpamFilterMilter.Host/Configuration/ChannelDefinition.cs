namespace SpamFilterMilter.Host.Configuration;

/// <summary>The spam-filter keywords of one channel.</summary>
public sealed class ChannelDefinition
{
    private readonly Dictionary<int, List<string>> _sourceOptIn = [];
    private readonly Dictionary<int, List<string>> _destinationOptIn = [];
    private readonly HashSet<int> _disabledSource = [];
    private readonly HashSet<int> _disabledDestination = [];

    /// <summary>Creates an empty definition for <paramref name="name"/>.</summary>
    public ChannelDefinition(string name, int line = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Line = line;
    }

    /// <summary>The channel name (compared case-insensitively).</summary>
    public string Name { get; }

    /// <summary>The line of the channel table that defines it (0 when built in code).</summary>
    public int Line { get; }

    /// <summary>
    /// <c>sourcespamfilterXoptin v1,v2</c> (values) or <c>sourcespamfilterX</c> (no values): every message
    /// from this channel is filtered by slot X. Null when neither is set.
    /// </summary>
    public IReadOnlyList<string>? SourceOptIn(int slot) => _sourceOptIn.GetValueOrDefault(slot);

    /// <summary>
    /// <c>destinationspamfilterXoptin v1,v2</c> or <c>destinationspamfilterX</c>: every recipient routed to
    /// this channel is filtered by slot X. Null when neither is set.
    /// </summary>
    public IReadOnlyList<string>? DestinationOptIn(int slot) => _destinationOptIn.GetValueOrDefault(slot);

    /// <summary><c>disablesourcespamfilterX</c>: slot X never runs for a message from this channel.</summary>
    public bool DisablesSource(int slot) => _disabledSource.Contains(slot);

    /// <summary><c>disabledestinationspamfilterX</c>: slot X never runs for a recipient routed to this channel.</summary>
    public bool DisablesDestination(int slot) => _disabledDestination.Contains(slot);

    /// <summary>Adds <c>sourcespamfilterXoptin</c> values (none for the valueless form); returns this definition.</summary>
    public ChannelDefinition AddSourceOptIn(int slot, params string[] values) => Add(_sourceOptIn, slot, values);

    /// <summary>Adds <c>destinationspamfilterXoptin</c> values (none for the valueless form); returns this definition.</summary>
    public ChannelDefinition AddDestinationOptIn(int slot, params string[] values) => Add(_destinationOptIn, slot, values);

    /// <summary>Sets <c>disablesourcespamfilterX</c>; returns this definition.</summary>
    public ChannelDefinition DisableSource(int slot)
    {
        _disabledSource.Add(CheckSlot(slot));
        return this;
    }

    /// <summary>Sets <c>disabledestinationspamfilterX</c>; returns this definition.</summary>
    public ChannelDefinition DisableDestination(int slot)
    {
        _disabledDestination.Add(CheckSlot(slot));
        return this;
    }

    /// <summary>
    /// Its spam-filter keywords as the channel table writes them, keyed by slot and side in slot order (<c>1 source</c>,
    /// <c>2 disabledestination</c>), e.g. <c>sourcespamfilter1optin spam,virus</c>: what a reload compares.
    /// </summary>
    internal IReadOnlyDictionary<string, string> Keywords()
    {
        var keywords = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var slot = 1; slot <= SpamFilterHostOptions.SlotCount; slot++)
        {
            if (SourceOptIn(slot) is { } source)
            {
                keywords[$"{slot} source"] = Keyword("source", slot, source);
            }

            if (DestinationOptIn(slot) is { } destination)
            {
                keywords[$"{slot} destination"] = Keyword("destination", slot, destination);
            }

            if (DisablesSource(slot))
            {
                keywords[$"{slot} disablesource"] = $"disablesourcespamfilter{slot}";
            }

            if (DisablesDestination(slot))
            {
                keywords[$"{slot} disabledestination"] = $"disabledestinationspamfilter{slot}";
            }
        }

        return keywords;
    }

    /// <summary><c>sourcespamfilter1</c>, or <c>sourcespamfilter1optin spam,virus</c> with opt-in values.</summary>
    internal static string Keyword(string side, int slot, IReadOnlyList<string> values) =>
        values.Count == 0 ? $"{side}spamfilter{slot}" : $"{side}spamfilter{slot}optin {string.Join(',', values)}";

    private ChannelDefinition Add(Dictionary<int, List<string>> map, int slot, string[] values)
    {
        if (!map.TryGetValue(CheckSlot(slot), out var list))
        {
            map[slot] = list = [];
        }

        foreach (var value in values)
        {
            if (!list.Contains(value, StringComparer.OrdinalIgnoreCase))
            {
                list.Add(value);
            }
        }

        return this;
    }

    private static int CheckSlot(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slot, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slot, SpamFilterHostOptions.SlotCount);
        return slot;
    }
}
