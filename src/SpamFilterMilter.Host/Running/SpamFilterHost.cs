using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Diagnostics;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Loading;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// What an MTA embeds to run spam-filter plug-ins the way Messaging Server's MTA did: the slots of option.dat,
/// each with its plug-in loaded by path; per-user, per-domain and per-channel opt-in; the verdict turned into a
/// Sieve action and the action run on the message and envelope. Slots run in number order; each sees the
/// message as the earlier ones left it; the first refusal (reject, ereject, tempfail) ends the processing of
/// that copy; quarantine holds it but later slots still run; keep, fileinto, redirect and tags accumulate, and
/// a discard cancels only the implicit keep, as when the slots' actions were one Sieve script (RFC 5228 §4.5).
/// With SPAMFILTER_MESSAGE_BUDGET, the slots left once the message's budget is used up get their failure outcome
/// without being called. Thread-safe: messages may be filtered concurrently.
/// </summary>
public sealed class SpamFilterHost : IAsyncDisposable
{
    /// <summary>The reply when the opt-in directory cannot be asked: the message is retried, never delivered unfiltered.</summary>
    public static SmtpReply DirectoryFailureReply { get; } = new(451, "4.4.3", "Directory server failure - try again later");

    /// <summary>The <see cref="SlotRun.ActionSource"/> when the failure verdict's own action ran.</summary>
    public const string FailureActionSource = "the failure verdict's action";

    private readonly ChannelTable _channels;
    private readonly OptInSelection.Attributes _optInAttributes;
    private readonly bool _ownsDirectory;
    private readonly ILogger _logger;
    private readonly SlotRunner _runner;
    private readonly TimeSpan? _messageBudget;

    private SpamFilterHost(IReadOnlyList<HostSlot> slots, ChannelTable channels, IOptInDirectory? directory, bool ownsDirectory, ILogger logger, TimeSpan? messageBudget)
    {
        Slots = slots;
        _messageBudget = messageBudget;
        _optInAttributes = OptInSelection.Attributes.Of(slots.Select(s => s.Options));
        _channels = channels;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        _logger = logger;
        _runner = new SlotRunner(logger);
    }

    /// <summary>The slots that are on, in number order.</summary>
    public IReadOnlyList<HostSlot> Slots { get; }

    /// <summary>The opt-in directory the host asks (the MTA's, or the one option.dat names), or null.</summary>
    internal IOptInDirectory? Directory { get; }

    /// <summary>The clock SPAMFILTER_MESSAGE_BUDGET is measured with (a test's own, to make time pass without waiting).</summary>
    internal TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>
    /// Creates the host: loads each slot's plug-in by path (in its own load context) and creates it with its
    /// option file. A plug-in that cannot be loaded or created does not stop the host: its slot then fails
    /// every message, which <c>spamfilterX_optional</c> decides about. Throws
    /// <see cref="SpamFilterConfigurationException"/> when the directory named by option.dat cannot be read, or
    /// when an LDAP_*OPTINX option is set but there is no directory.
    /// </summary>
    /// <param name="options">option.dat.</param>
    /// <param name="channels">The channel table; none means no channel keywords.</param>
    /// <param name="directory">The opt-in directory (the MTA keeps it and disposes it); null means the one option.dat names (DIRECTORY_FILE or LDAP_HOST), if any, which the host disposes.</param>
    /// <param name="loggerFactory">Logs for the host and, passed on, for the plug-ins.</param>
    /// <param name="loadPlugin">Loads a plug-in assembly by path; default <see cref="PluginLoader.Load"/>.</param>
    /// <param name="meterFactory">The host's meters, passed on to the plug-ins (<see cref="SpamFilterPluginContext.MeterFactory"/>); null: each plug-in uses its own.</param>
    public static SpamFilterHost Create(
        HostOptions options,
        ChannelTable? channels = null,
        IOptInDirectory? directory = null,
        ILoggerFactory? loggerFactory = null,
        Func<string, ISpamFilterPluginFactory>? loadPlugin = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SpamFilterMilter.Host");
        var ownsDirectory = directory is null;
        directory ??= OpenDirectory(options);
        ownsDirectory &= directory is not null;

        foreach (var note in options.Notes)
        {
            HostLog.Note(logger, note);
        }

        loadPlugin ??= LoadByPath;
        var slots = options.Slots.Select(slot => CreateSlot(slot, loadPlugin, loggerFactory, meterFactory, logger)).ToList();
        return new SpamFilterHost(slots, channels ?? ChannelTable.Empty, directory, ownsDirectory, logger, options.MessageBudget);
    }

    /// <summary>The plug-in loader a host and a configuration check use unless told otherwise: <see cref="PluginLoader.Load"/>.</summary>
    internal static Func<string, ISpamFilterPluginFactory> LoadByPath { get; } = path => PluginLoader.Load(path).Factory;

    /// <summary>
    /// The opt-in directory option.dat names (DIRECTORY_FILE read, or LDAP_HOST), or null when it names none. Throws
    /// <see cref="SpamFilterConfigurationException"/> when the file cannot be read, or when an LDAP_*OPTINX option is
    /// set but there is no directory.
    /// </summary>
    internal static IOptInDirectory? OpenDirectory(HostOptions options)
    {
        if (!options.Directory.IsConfigured)
        {
            return OptInSelection.FirstDirectoryOption(options.Slots) is { } option
                ? throw new SpamFilterConfigurationException(options.FilePath, 0, option, "needs a directory: set DIRECTORY_FILE or LDAP_HOST")
                : null;
        }

        return options.Directory.LdapHost is not null
            ? new LdapOptInDirectory(options.Directory)
            : FileOptInDirectory.Load(options.Directory.File!, options.Directory.AddressAttributes, options.Directory.DomainAttributes);
    }

    /// <summary>
    /// One slot with its plug-in loaded by path and created with its option file, or, when that fails, with the reason:
    /// a plug-in that cannot be loaded or created (wrong path, its option file wrong, its constructor broken) must not
    /// stop the MTA; its slot fails each message, as spamfilterX_optional says.
    /// </summary>
    internal static HostSlot CreateSlot(SlotOptions slot, Func<string, ISpamFilterPluginFactory> loadPlugin, ILoggerFactory? loggerFactory,
        IMeterFactory? meterFactory, ILogger logger)
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
            HostLog.PluginUnavailable(logger, slot.Number, slot.Library, e);
            return new HostSlot(slot, null, e);
        }
    }

    /// <summary>
    /// Runs every selected slot on <paramref name="message"/> and returns what becomes of it, per group of
    /// recipients. Throws only <see cref="OperationCanceledException"/> (when <paramref name="cancellationToken"/>
    /// fires): plug-in, action and directory failures are results.
    /// </summary>
    public async Task<HostResult> FilterAsync(HostMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var log = new List<string>();
        var runs = new List<SlotRun>();
        var original = new OriginalMessage(message.Message.ToArray(), message.Envelope);
        var copies = new List<MessageCopy> { new(original, message.Envelope.Recipients.Select(r => MailPath.Bare(r.Address)).ToList(), original.Message, message.Envelope) };
        var selection = new OptInSelection(_optInAttributes, _channels, Directory, message.SourceChannel, message.DestinationChannel);
        var started = Clock.GetTimestamp();
        var budgetUsedUp = false;
        try
        {
            foreach (var slot in Slots)
            {
                foreach (var copy in copies.Where(c => c.Ended is null).ToList())
                {
                    // Sender-side opt-in is the original sender's, whatever an earlier slot changed it to.
                    var choice = await selection.ChooseAsync(slot.Options, message.Envelope.MailFrom, copy.Envelope.Recipients, cancellationToken).ConfigureAwait(false);
                    foreach (var reason in choice.Reasons)
                    {
                        log.Add($"{slot}: {reason}");
                    }

                    foreach (var group in choice.Groups)
                    {
                        var target = copy;
                        if (group.Recipients.Count < copy.Envelope.Recipients.Count)
                        {
                            // Only some recipients selected this slot, or with other opt-in values: from here on
                            // they have their own copy.
                            target = copy.Split(group.Recipients);
                            copies.Add(target);
                        }

                        if (!budgetUsedUp && _messageBudget is { } budget && Clock.GetElapsedTime(started) >= budget)
                        {
                            budgetUsedUp = true;
                            HostLog.MessageBudgetUsedUp(_logger, budget.TotalSeconds, Clock.GetElapsedTime(started).TotalSeconds, slot.Options.Number);
                        }

                        runs.Add(budgetUsedUp
                            ? _runner.Skip(slot, target, group, message, log, _messageBudget!.Value)
                            : await _runner.RunAsync(slot, target, group, message, log, cancellationToken).ConfigureAwait(false));
                        copies.AddRange(target.SplitRefused(log));
                    }
                }

                copies.RemoveAll(c => c.IsEmpty);
                copies = [.. copies.OrderBy(c => FirstPosition(c, message.Envelope))];
            }
        }
        catch (DirectoryLookupException e)
        {
            HostLog.DirectoryFailed(_logger, e.What, e.InnerException);
            HostLog.DirectoryFailedDetail(_logger, e.What, e.Key, e.InnerException);
            log.Add($"directory: {e.Message}; the message is refused for now ({DirectoryFailureReply})");
            return new HostResult
            {
                Deliveries =
                [
                    new DeliveryResult
                    {
                        Recipients = message.Envelope.Recipients.Select(r => MailPath.Bare(r.Address)).ToArray(),
                        Disposition = Disposition.TempFail,
                        Reply = DirectoryFailureReply,
                        Message = original.Message,
                        Envelope = message.Envelope,
                    },
                ],
                Runs = runs,
                Log = log,
            };
        }

        var deliveries = copies.Select(c => c.Finish(log)).ToList();
        return new HostResult { Deliveries = deliveries, Runs = runs, Log = log };
    }

    /// <summary>Where a copy's first original recipient stands in the envelope: copies (and results) keep the envelope's order.</summary>
    private static int FirstPosition(MessageCopy copy, Envelope envelope)
    {
        for (var i = 0; i < envelope.Recipients.Count; i++)
        {
            if (copy.Recipients.Any(r => MailPath.Same(r, envelope.Recipients[i].Address)))
            {
                return i;
            }
        }

        return int.MaxValue;
    }

    /// <summary>
    /// Disposes every plug-in, then the directory the host created (never one the MTA passed in). A plug-in
    /// or directory that fails to dispose is logged; the others are disposed all the same.
    /// </summary>
    public async ValueTask DisposeAsync()
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

        if (!_ownsDirectory)
        {
            return;
        }

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
}
