using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// What <see cref="SpamFilterHost.ReloadAsync"/> did: either the new settings took over for new messages
/// (<see cref="Applied"/>, with what changed), or they were refused and the settings in effect stay
/// (<see cref="Errors"/>, each naming the file, the line and the option).
/// </summary>
public sealed class HostReload
{
    /// <summary>True when new messages use the settings just read; false when the old ones stay.</summary>
    public required bool Applied { get; init; }

    /// <summary>
    /// Every option added, removed or given another value, in option.dat and in each slot's option file, e.g.
    /// <c>slot 1 (/etc/milter.opt): PORT: "8890" -&gt; "8891"</c>, and every spam-filter keyword of the channel table
    /// added, removed or given other values, e.g. <c>/etc/relay.cnf: channel tcp_relay: sourcespamfilter2 added</c>;
    /// passwords' values are not shown. Empty when
    /// nothing changed (the plug-ins are created anew all the same) or when the reload was refused.
    /// </summary>
    public IReadOnlyList<string> Changes { get; init; } = [];

    /// <summary>
    /// Why the reload was refused: option.dat's errors, the channel table's, and each plug-in's that could not be loaded or
    /// created. Empty when applied.
    /// </summary>
    public IReadOnlyList<SpamFilterConfigurationException> Errors { get; init; } = [];

    /// <summary>How many messages were still being filtered with the replaced settings when the reload took over (they finish with them).</summary>
    public int MessagesInFlight { get; init; }
}
