using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// What the tools' <c>check-config</c> does, without a message: reads option.dat (every line, reporting each bad one),
/// the channel table and the opt-in directory file, loads every slot's plug-in by path and creates it with its option
/// file, exactly as <see cref="SpamFilterHost.Create"/> does; with <c>reach</c>, also connects to every slot's filter
/// server and negotiates (<see cref="IReachableSpamFilterPlugin"/>) and binds to an LDAP directory and searches its base.
/// Without <c>reach</c> an LDAP directory's options are checked and its server is not asked. With a source or destination
/// channel (the relay's <c>--source-channel</c>, <c>--destination-channel</c>), also says what would opt a message on them
/// in to each slot, or that nothing would: the relay's warning 7014, before it starts.
/// </summary>
public static class ConfigurationCheck
{
    /// <summary>Checks the configuration and returns what it found; throws only <see cref="OperationCanceledException"/>.</summary>
    /// <param name="optionsPath">option.dat.</param>
    /// <param name="channelsPath">The channel table, or null when there is none.</param>
    /// <param name="pluginDirectory">The folder a relative <c>spamfilterX_library</c> is taken from; null: option.dat's folder.</param>
    /// <param name="reach">Whether to connect to every slot's filter server and negotiate.</param>
    /// <param name="sourceChannel">The channel every message comes in on, as a host such as the relay names it, or null.</param>
    /// <param name="destinationChannel">The channel every recipient goes out on, or null. With neither, slots are not judged by channel.</param>
    /// <param name="loggerFactory">Where the plug-ins log; null: nowhere (the report says what went wrong).</param>
    /// <param name="loadPlugin">Loads a plug-in assembly by path; default <see cref="Loading.PluginLoader.Load"/>, as the host does.</param>
    /// <param name="cancellationToken">Stops the check (reaching a milter is bounded by its own timeouts).</param>
    public static async Task<ConfigurationReport> RunAsync(string optionsPath, string? channelsPath, string? pluginDirectory, bool reach,
        string? sourceChannel = null, string? destinationChannel = null,
        ILoggerFactory? loggerFactory = null, Func<string, ISpamFilterPluginFactory>? loadPlugin = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(optionsPath);
        var findings = new List<ConfigurationFinding>();
        var problems = new List<SpamFilterConfigurationException>();
        SpamFilterHostOptions? options = null;
        try
        {
            options = SpamFilterHostOptions.Read(optionsPath, pluginDirectory, problems);
        }
        catch (SpamFilterConfigurationException e)
        {
            problems.Add(e); // with the other bad lines of the file (MoreProblems)
        }

        findings.AddRange(problems.SelectMany(p => ProblemsOf(p)));
        if (options is not null)
        {
            findings.AddRange(options.Notes.Select(n => new ConfigurationFinding(FindingKind.Note, n, options.FilePath)));
        }

        ChannelTable? channels = ChannelTable.Empty; // null: the table is wrong (each problem found), and no slot is judged by it
        if (channelsPath is not null)
        {
            try
            {
                channels = ChannelTable.Load(channelsPath);
                if (options is not null)
                {
                    findings.AddRange(KeywordsOfSlotsThatAreOff(channels, options, Path.GetFullPath(channelsPath)));
                }
            }
            catch (SpamFilterConfigurationException e)
            {
                channels = null;
                findings.AddRange(ProblemsOf(e));
            }
        }

        if (options is null)
        {
            return new ConfigurationReport(findings, 0, reach);
        }

        await CheckDirectoryAsync(options, findings, reach, cancellationToken).ConfigureAwait(false);
        loggerFactory ??= NullLoggerFactory.Instance;
        loadPlugin ??= HostConfiguration.LoadByPath;
        var logger = loggerFactory.CreateLogger("SpamFilterMilter.Host");
        var reached = 0;
        foreach (var slot in options.Slots)
        {
            var created = HostConfiguration.CreateSlot(slot, loadPlugin, loggerFactory, meterFactory: null, logger, logFailure: false);
            if (created.Plugin is not { } plugin)
            {
                findings.AddRange(ProblemsOf(created.LoadProblem(options.FilePath)!, slot.Number));
                continue;
            }

            await using (plugin.ConfigureAwait(false))
            {
                findings.Add(new ConfigurationFinding(FindingKind.Passed,
                    $"{slot.Library} loaded as {plugin.Description}, option file {slot.ConfigFile}", Slot: slot.Number));
                if (reach)
                {
                    var finding = await ReachAsync(plugin, slot, cancellationToken).ConfigureAwait(false);
                    findings.Add(finding);
                    reached += finding.Kind == FindingKind.Passed ? 1 : 0;
                }
            }
        }

        if ((sourceChannel ?? destinationChannel) is not null && channels is not null)
        {
            findings.AddRange(ChoiceOfSlots(options, channels, sourceChannel, destinationChannel));
        }

        return new ConfigurationReport(findings, options.Slots.Count, reach, reached);
    }

    /// <summary>
    /// For a host whose messages come in on <paramref name="sourceChannel"/> and go out on <paramref name="destinationChannel"/>
    /// (the relay): a note for a named channel the table does not define (a typo, often: it opts nothing in), then, for each
    /// slot, what opts a message in to it, or a note that nothing does (the relay's 7014, in the same words).
    /// </summary>
    private static IEnumerable<ConfigurationFinding> ChoiceOfSlots(SpamFilterHostOptions options, ChannelTable channels, string? sourceChannel, string? destinationChannel)
    {
        foreach (var (option, name) in new[] { ("--source-channel", sourceChannel), ("--destination-channel", destinationChannel) })
        {
            if (name is not null && channels.Find(name) is null)
            {
                yield return channels.FilePath is { } table
                    ? new ConfigurationFinding(FindingKind.Note, $"{option} {name} is not in the channel table: no keyword of it opts a slot in or out", table)
                    : new ConfigurationFinding(FindingKind.Note, $"{option} {name}: no channel table (--channels) to find its keywords in");
            }
        }

        foreach (var slot in options.Slots)
        {
            var (canOptIn, why) = OptInSelection.OptInFor(slot, channels, options.Directory.IsConfigured, sourceChannel, destinationChannel);
            yield return canOptIn
                ? new ConfigurationFinding(FindingKind.Passed, "filters " + why, Slot: slot.Number)
                : new ConfigurationFinding(FindingKind.Note, "filters no message: " + why, Slot: slot.Number);
        }
    }

    /// <summary>A finding for <paramref name="e"/> and one for each other bad line found in the same reading.</summary>
    private static IEnumerable<ConfigurationFinding> ProblemsOf(SpamFilterConfigurationException e, int slot = 0) =>
        e.AllProblems.Select(p => new ConfigurationFinding(FindingKind.Problem, p.Problem, p.FilePath, p.Line, p.Option, slot));

    /// <summary>The directory as the host would open it: a DIRECTORY_FILE read, an LDAP_*OPTINX option with a directory to ask.</summary>
    private static async Task CheckDirectoryAsync(SpamFilterHostOptions options, List<ConfigurationFinding> findings, bool reach, CancellationToken cancellationToken)
    {
        IOptInDirectory? directory;
        try
        {
            // An LDAP directory contacts nothing until a lookup: opening it checks its options.
            directory = HostConfiguration.OpenDirectory(options);
        }
        catch (SpamFilterConfigurationException e)
        {
            findings.AddRange(ProblemsOf(e));
            return;
        }

        using (directory as IDisposable)
        {
            if (reach && directory is LdapOptInDirectory ldap)
            {
                // One search of LDAP_BASE_DN for a domain no directory holds: it connects, binds with LDAP_BIND_DN and
                // finds the base, as the first message would, so a wrong password or base is found now, not as 451s.
                try
                {
                    await ldap.FindDomainAsync(ReachProbeDomain, [], cancellationToken).ConfigureAwait(false);
                    findings.Add(new ConfigurationFinding(FindingKind.Passed, $"reached {ldap}: bound and searched LDAP_BASE_DN"));
                }
                catch (OptInDirectoryException e)
                {
                    findings.Add(new ConfigurationFinding(FindingKind.Problem, $"the opt-in directory cannot be asked: {e.Message}", options.FilePath));
                }
            }
        }
    }

    /// <summary>What --reach looks up in an LDAP directory: a name under .invalid (RFC 2606), which no entry holds.</summary>
    private const string ReachProbeDomain = "check-config.invalid";

    /// <summary>A channel keyword for a slot option.dat does not turn on does nothing: worth a note.</summary>
    private static IEnumerable<ConfigurationFinding> KeywordsOfSlotsThatAreOff(ChannelTable channels, SpamFilterHostOptions options, string path)
    {
        var on = options.Slots.Select(s => s.Number).ToHashSet();
        foreach (var channel in channels.Channels.OrderBy(c => c.Line))
        {
            foreach (var slot in Enumerable.Range(1, SpamFilterHostOptions.SlotCount).Where(s => !on.Contains(s)))
            {
                if (channel.SourceOptIn(slot) is not null || channel.DestinationOptIn(slot) is not null
                    || channel.DisablesSource(slot) || channel.DisablesDestination(slot))
                {
                    yield return new ConfigurationFinding(FindingKind.Note,
                        $"channel {channel.Name} has keywords for slot {slot}, which option.dat does not turn on", path, channel.Line);
                }
            }
        }
    }

    private static async Task<ConfigurationFinding> ReachAsync(ISpamFilterPlugin plugin, SlotOptions slot, CancellationToken cancellationToken)
    {
        if (plugin is not IReachableSpamFilterPlugin reachable)
        {
            return new ConfigurationFinding(FindingKind.Note,
                $"{plugin.Description} cannot be reached without a message (the plug-in does not implement {nameof(IReachableSpamFilterPlugin)})", Slot: slot.Number);
        }

        try
        {
            var agreed = await reachable.ReachAsync(cancellationToken).ConfigureAwait(false);
            return new ConfigurationFinding(FindingKind.Passed, "reached " + agreed, Slot: slot.Number);
        }
        catch (IOException e)
        {
            return new ConfigurationFinding(FindingKind.Problem, $"{plugin.Description} cannot be reached: {e.Message}", slot.ConfigFile, Slot: slot.Number);
        }
    }
}
