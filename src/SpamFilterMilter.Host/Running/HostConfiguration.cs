using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Diagnostics;
using SpamFilterMilter.Host.Loading;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// What one reading of option.dat made: the slots with their plug-ins, the opt-in directory when option.dat
/// names it, and the channel table read with it. A message holds the configuration it started with until it ends;
/// the host holds the current one.
/// Once a reload has replaced it and the last message holding it has ended, it disposes its plug-ins (their
/// connection pools) and its directory: messages in flight finish with the settings they started with.
/// </summary>
internal sealed class HostConfiguration
{
    private readonly bool _ownsDirectory;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The host's hold while the configuration is current, plus one per message in flight; 0: disposed (or being).
    private int _holders = 1;

    private HostConfiguration(SpamFilterHostOptions options, ChannelTable channels, IReadOnlyList<HostSlot> slots, IOptInDirectory? directory, bool ownsDirectory,
        IReadOnlyDictionary<int, IReadOnlyList<OptionLine>> pluginOptionLines, ILogger logger)
    {
        Options = options;
        Channels = channels;
        Slots = slots;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        PluginOptionLines = pluginOptionLines;
        _logger = logger;
        OptInAttributes = OptInSelection.Attributes.Of(slots.Select(s => s.Options));
    }

    public SpamFilterHostOptions Options { get; }

    /// <summary>The channel table the slots are chosen with.</summary>
    public ChannelTable Channels { get; }

    /// <summary>The slots that are on, in number order.</summary>
    public IReadOnlyList<HostSlot> Slots { get; }

    public OptInSelection.Attributes OptInAttributes { get; }

    /// <summary>The opt-in directory (the MTA's, or the one option.dat names), or null.</summary>
    public IOptInDirectory? Directory { get; }

    /// <summary>Each slot's plug-in option file as it was read, when it has the option-file syntax: what a reload compares.</summary>
    public IReadOnlyDictionary<int, IReadOnlyList<OptionLine>> PluginOptionLines { get; }

    /// <summary>How many messages hold it now.</summary>
    public int MessagesInFlight => Math.Max(0, Volatile.Read(ref _holders) - 1);

    /// <summary>True once a reload has replaced it: its disposal is then logged.</summary>
    public bool Replaced { get; set; }

    /// <summary>Completes once its plug-ins and directory are disposed.</summary>
    public Task Disposed => _disposed.Task;

    /// <summary>
    /// Loads each slot's plug-in and creates it with its option file, and the directory option.dat names when the MTA
    /// gave none (<paramref name="mtaDirectory"/>). With <paramref name="errors"/> null (the host's start), a plug-in
    /// that cannot be loaded or created leaves its slot failing every message; otherwise (a reload) each such failure
    /// is added to <paramref name="errors"/> and the slot left out (the caller then releases what was made).
    /// Throws <see cref="SpamFilterConfigurationException"/> when the directory cannot be read or is missing.
    /// </summary>
    public static HostConfiguration Create(SpamFilterHostOptions options, ChannelTable channels, IOptInDirectory? mtaDirectory, Func<string, ISpamFilterPluginFactory> loadPlugin,
        ILoggerFactory? loggerFactory, IMeterFactory? meterFactory, ILogger logger, List<SpamFilterConfigurationException>? errors)
    {
        var directory = mtaDirectory ?? OpenDirectory(options);
        var ownsDirectory = mtaDirectory is null && directory is not null;
        var slots = new List<HostSlot>();
        var pluginOptionLines = new Dictionary<int, IReadOnlyList<OptionLine>>();
        foreach (var slot in options.Slots)
        {
            var created = CreateSlot(slot, loadPlugin, loggerFactory, meterFactory, logger, logFailure: errors is null);
            if (created.LoadProblem(options.FilePath) is { } problem && errors is not null)
            {
                errors.Add(problem);
                continue;
            }

            slots.Add(created);
            if (created.Plugin is not null && ReadOptionLines(slot.ConfigFile) is { } lines)
            {
                pluginOptionLines[slot.Number] = lines;
            }
        }

        return new HostConfiguration(options, channels, slots, directory, ownsDirectory, pluginOptionLines, logger);
    }

    /// <summary>The plug-in loader a host and a configuration check use unless told otherwise: <see cref="PluginLoader.Load"/>.</summary>
    public static Func<string, ISpamFilterPluginFactory> LoadByPath { get; } = path => PluginLoader.Load(path).Factory;

    /// <summary>
    /// The opt-in directory option.dat names (DIRECTORY_FILE read, or LDAP_HOST), or null when it names none. Throws
    /// <see cref="SpamFilterConfigurationException"/> when the file cannot be read, or when an LDAP_*OPTINX option is
    /// set but there is no directory.
    /// </summary>
    public static IOptInDirectory? OpenDirectory(SpamFilterHostOptions options)
    {
        if (!options.Directory.IsConfigured)
        {
            return OptInSelection.FirstDirectoryOption(options.Slots) is { } option
                ? throw new SpamFilterConfigurationException(options.FilePath, 0, option, "needs a directory: set DIRECTORY_FILE or LDAP_HOST")
                : null;
        }

        if (options.Directory.LdapHost is not null)
        {
            return new LdapOptInDirectory(options.Directory);
        }

        try
        {
            return FileOptInDirectory.Load(options.Directory.File!, options.Directory.AddressAttributes, options.Directory.DomainAttributes);
        }
        catch (SpamFilterConfigurationException e) when (e.Line == 0)
        {
            // The file as a whole (not there, unreadable, a folder): the administrator fixes option.dat's line, or the file.
            var line = options.Lines.LastOrDefault(l => string.Equals(l.Name, "DIRECTORY_FILE", StringComparison.OrdinalIgnoreCase))?.Line ?? 0;
            throw new SpamFilterConfigurationException(options.FilePath, line, "DIRECTORY_FILE", e.Message, e);
        }
    }

    /// <summary>
    /// One slot with its plug-in loaded by path and created with its option file, or, when that fails, with what was
    /// thrown: a plug-in that cannot be loaded or created (wrong path, its option file wrong, its constructor broken)
    /// must not stop the MTA; its slot fails each message, as spamfilterX_optional says (logged when
    /// <paramref name="logFailure"/>).
    /// </summary>
    public static HostSlot CreateSlot(SlotOptions slot, Func<string, ISpamFilterPluginFactory> loadPlugin, ILoggerFactory? loggerFactory,
        IMeterFactory? meterFactory, ILogger logger, bool logFailure = true)
    {
        try
        {
            var plugin = loadPlugin(slot.Library).Create(new SpamFilterPluginContext
            {
                ConfigFilePath = slot.ConfigFile,
                Slot = slot.Number,
                LoggerFactory = loggerFactory,
                MeterFactory = meterFactory,
            });
            return new HostSlot(slot, plugin, null);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            if (logFailure)
            {
                // Every wrong line of the plug-in's option file, in the one line: an administrator mends them all at once.
                var configuration = e as SpamFilterConfigurationException;
                var cause = configuration is null ? e.Message : string.Join("; ", configuration.AllProblems.Select(p => p.Message));
                HostLog.PluginUnavailable(logger, slot.Number, slot.Library, cause, configuration is not null || e is PluginLoadException ? null : e);
            }

            return new HostSlot(slot, null, e);
        }
    }

    /// <summary>
    /// What changed from <paramref name="before"/> in option.dat, in each slot's option file (one line per option) and in
    /// the channel table (one line per spam-filter keyword).
    /// </summary>
    public IReadOnlyList<string> ChangesFrom(HostConfiguration before)
    {
        var changes = OptionChanges.Between(Options.FilePath, before.Options.Lines, Options.Lines).ToList();
        foreach (var number in before.PluginOptionLines.Keys.Union(PluginOptionLines.Keys).Order())
        {
            changes.AddRange(OptionChanges.Between(
                $"slot {number} ({Slots.FirstOrDefault(s => s.Options.Number == number)?.Options.ConfigFile ?? before.Slots.First(s => s.Options.Number == number).Options.ConfigFile})",
                before.PluginOptionLines.GetValueOrDefault(number) ?? [], PluginOptionLines.GetValueOrDefault(number) ?? []));
        }

        if (!ReferenceEquals(Channels, before.Channels))
        {
            changes.AddRange(Channels.ChangesFrom(before.Channels));
        }

        return changes;
    }

    /// <summary>Holds it for one message; false when it is already disposed (a reload replaced it in the meantime).</summary>
    public bool TryHold()
    {
        var holders = Volatile.Read(ref _holders);
        while (holders > 0)
        {
            var seen = Interlocked.CompareExchange(ref _holders, holders + 1, holders);
            if (seen == holders)
            {
                return true;
            }

            holders = seen;
        }

        return false;
    }

    /// <summary>Lets go of one hold (a message's, or the host's when it is replaced); the last one disposes it.</summary>
    public async ValueTask ReleaseAsync()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Disposes every plug-in, then the directory it created (never the MTA's); failures are logged, the rest disposed all the same.</summary>
    private async ValueTask DisposeAsync()
    {
        foreach (var slot in Slots)
        {
            if (slot.Plugin is null)
            {
                continue;
            }

            try
            {
                await slot.Plugin.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                HostLog.PluginDisposeFailed(_logger, slot.Options.Number, e);
            }
        }

        if (_ownsDirectory)
        {
            try
            {
                switch (Directory)
                {
                    case IAsyncDisposable asyncDisposable:
                        await asyncDisposable.DisposeAsync().ConfigureAwait(false);
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                HostLog.DirectoryDisposeFailed(_logger, e);
            }
        }

        if (Replaced)
        {
            HostLog.ReplacedDisposed(_logger);
        }

        _disposed.TrySetResult();
    }

    // A plug-in's option file in another syntax is the plug-in's business: a reload then reports no change of it.
    private static IReadOnlyList<OptionLine>? ReadOptionLines(string path)
    {
        try
        {
            return OptionFile.Read(path);
        }
        catch (SpamFilterConfigurationException)
        {
            return null;
        }
    }
}
