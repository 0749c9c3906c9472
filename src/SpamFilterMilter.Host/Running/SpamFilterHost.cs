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
/// without being called. <see cref="ReloadAsync"/> reads the configuration again without a restart: each message
/// is filtered from start to end with the slots it started with. Thread-safe: messages may be filtered concurrently.
/// </summary>
public sealed class SpamFilterHost : IAsyncDisposable
{
    /// <summary>The reply when the opt-in directory cannot be asked: the message is retried, never delivered unfiltered.</summary>
    public static SmtpReply DirectoryFailureReply { get; } = new(451, "4.4.3", "Directory server failure - try again later");

    /// <summary>The <see cref="SlotRun.ActionSource"/> when the failure verdict's own action ran.</summary>
    public const string FailureActionSource = "the failure verdict's action";

    private readonly IOptInDirectory? _mtaDirectory;
    private readonly Func<string, ISpamFilterPluginFactory> _loadPlugin;
    private readonly ILoggerFactory? _loggerFactory;
    private readonly IMeterFactory? _meterFactory;
    private readonly ILogger _logger;
    private readonly SlotRunner _runner;
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly List<HostConfiguration> _replaced = []; // configurations a reload replaced, still draining; only touched holding _reloading
    private HostConfiguration _configuration;
    private volatile bool _disposed;

    private SpamFilterHost(HostConfiguration configuration, IOptInDirectory? mtaDirectory, Func<string, ISpamFilterPluginFactory> loadPlugin,
        ILoggerFactory? loggerFactory, IMeterFactory? meterFactory, ILogger logger)
    {
        _configuration = configuration;
        _mtaDirectory = mtaDirectory;
        _loadPlugin = loadPlugin;
        _loggerFactory = loggerFactory;
        _meterFactory = meterFactory;
        _logger = logger;
        _runner = new SlotRunner(logger);
    }

    /// <summary>
    /// The slots that are on, in number order, as new messages get them (since the last reload that was applied). A
    /// plug-in taken from here is disposed once a reload has replaced it and its last message has ended: call it
    /// through <see cref="FilterAsync"/>.
    /// </summary>
    public IReadOnlyList<HostSlot> Slots => Current.Slots;

    /// <summary>The option.dat settings new messages are filtered with (since the last reload that was applied).</summary>
    public SpamFilterHostOptions Options => Current.Options;

    /// <summary>
    /// The channel table new messages are chosen slots with (since the last reload that was applied): the one the host was
    /// created with, or, when that was read from a file, the file as the last reload read it.
    /// </summary>
    public ChannelTable Channels => Current.Channels;

    /// <summary>
    /// Why each slot whose plug-in could not be loaded or created cannot be used, as a configuration error naming the
    /// file, the line and the option (the plug-in's option file, or option.dat's <c>spamfilterX_library</c> line): what a
    /// reload refuses and check-config lists. Empty when every slot has its plug-in. A host that would rather not run
    /// with such a slot (the relay) stops on the first.
    /// </summary>
    public IReadOnlyList<SpamFilterConfigurationException> LoadProblems =>
        [.. Slots.Select(slot => slot.LoadProblem(Options.FilePath)).OfType<SpamFilterConfigurationException>()];

    /// <summary>
    /// The slots (their numbers, and why) that nothing can opt a message in to for a host whose messages come in on
    /// <paramref name="sourceChannel"/> and go out on <paramref name="destinationChannel"/>: no opt-in keyword for them on
    /// either channel in the channel table, no <c>LDAP_*OPTIN</c> attribute with a directory to ask, or a disable keyword
    /// on either channel, e.g. <c>(1, "nothing opts one in (no sourcespamfilter1optin for source channel tcp_relay, …)")</c>.
    /// Such a slot filters no message; a host says so at its start rather than let every message through unfiltered in silence.
    /// </summary>
    public IReadOnlyList<(int Slot, string Why)> SlotsNothingOptsIn(string? sourceChannel, string? destinationChannel)
    {
        var current = Current; // one configuration: a reload may replace it meanwhile
        return [.. current.Options.Slots
            .Select(slot => (slot.Number, Choice: OptInSelection.OptInFor(slot, current.Channels, current.Directory is not null, sourceChannel, destinationChannel)))
            .Where(slot => !slot.Choice.CanOptIn)
            .Select(slot => (slot.Number, slot.Choice.Why))];
    }

    /// <summary>The opt-in directory the host asks (the MTA's, or the one option.dat names), or null.</summary>
    internal IOptInDirectory? Directory => Current.Directory;

    /// <summary>The clock SPAMFILTER_MESSAGE_BUDGET is measured with (a test's own, to make time pass without waiting).</summary>
    internal TimeProvider Clock { get; set; } = TimeProvider.System;

    private HostConfiguration Current => Volatile.Read(ref _configuration);

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
        SpamFilterHostOptions options,
        ChannelTable? channels = null,
        IOptInDirectory? directory = null,
        ILoggerFactory? loggerFactory = null,
        Func<string, ISpamFilterPluginFactory>? loadPlugin = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SpamFilterMilter.Host");
        foreach (var note in options.Notes)
        {
            HostLog.Note(logger, note);
        }

        loadPlugin ??= HostConfiguration.LoadByPath;
        var configuration = HostConfiguration.Create(options, channels ?? ChannelTable.Empty, directory, loadPlugin, loggerFactory, meterFactory, logger, errors: null);
        return new SpamFilterHost(configuration, directory, loadPlugin, loggerFactory, meterFactory, logger);
    }

    /// <summary>
    /// Reads option.dat again (the file <see cref="Options"/> came from, with the same plug-in folder), each slot's
    /// option file as its plug-in is created anew, and the channel table when it was read from a file
    /// (<see cref="ChannelTable.Load"/>; one built in code stays). When all of it is right, new messages use it from now on, while
    /// messages in flight finish with the settings they started with; the replaced plug-ins (their connection pools)
    /// and the directory option.dat named are disposed after their last message. When anything is wrong, nothing
    /// changes: the settings in effect stay and the result says why (file, line, option). Logged either way. The
    /// plug-in assemblies are not loaded again (a new build of one needs a restart), and an MTA's own directory stays. One reload at a time; throws only <see cref="OperationCanceledException"/> and
    /// <see cref="ObjectDisposedException"/>.
    /// </summary>
    public async Task<HostReload> ReloadAsync(CancellationToken cancellationToken = default)
    {
        await _reloading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var before = Current;
            var errors = new List<SpamFilterConfigurationException>();
            HostConfiguration? after = null;
            ChannelTable? channels = null;
            try
            {
                // Read first: a wrong table refuses the reload with option.dat's own problems, if it has any, beside it.
                channels = before.Channels.Reread();
            }
            catch (SpamFilterConfigurationException e)
            {
                errors.Add(e);
            }

            try
            {
                var options = before.Options.Reread();
                after = HostConfiguration.Create(options, channels ?? before.Channels, _mtaDirectory, _loadPlugin, _loggerFactory, _meterFactory, _logger, errors);
            }
            catch (SpamFilterConfigurationException e)
            {
                errors.Add(e);
            }

            if (errors.Count > 0)
            {
                if (after is not null)
                {
                    await after.ReleaseAsync().ConfigureAwait(false);
                }

                // Every wrong line, each on a line of its own: a file read on past its first problem carries the others.
                var every = errors.SelectMany(error => error.AllProblems).ToList();
                foreach (var error in every)
                {
                    HostLog.ReloadRefused(_logger, before.Options.FilePath, error.Message);
                }

                return new HostReload { Applied = false, Errors = every };
            }

            foreach (var note in after!.Options.Notes)
            {
                HostLog.Note(_logger, note);
            }

            var changes = after.ChangesFrom(before);
            Volatile.Write(ref _configuration, after);
            var inFlight = before.MessagesInFlight;
            HostLog.Reloaded(_logger, after.Options.FilePath, changes.Count, inFlight);
            foreach (var change in changes)
            {
                HostLog.ReloadChange(_logger, change);
            }

            _replaced.RemoveAll(c => c.Disposed.IsCompleted);
            _replaced.Add(before);

            before.Replaced = true;
            await before.ReleaseAsync().ConfigureAwait(false);
            return new HostReload { Applied = true, Changes = changes, MessagesInFlight = inFlight };
        }
        finally
        {
            _reloading.Release();
        }
    }

    /// <summary>Holds the current configuration for one message (a reload may replace it between reading and holding: then the new one).</summary>
    private HostConfiguration Hold()
    {
        // A message that gets past this while the host is being disposed is waited for like any in flight.
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            var configuration = Current;
            if (configuration.TryHold())
            {
                return configuration;
            }

            // Disposed: replaced by a reload since it was read (read again), or the host is disposed.
            ObjectDisposedException.ThrowIf(ReferenceEquals(configuration, Current), this);
        }
    }

    /// <summary>
    /// Runs every selected slot on <paramref name="message"/> and returns what becomes of it, per group of
    /// recipients. Throws only <see cref="OperationCanceledException"/> (when <paramref name="cancellationToken"/>
    /// fires) and <see cref="ObjectDisposedException"/> (after <see cref="DisposeAsync"/>): plug-in, action and
    /// directory failures are results.
    /// </summary>
    public async Task<HostResult> FilterAsync(HostMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var configuration = Hold();
        HostResult result;
        try
        {
            result = await FilterWithAsync(configuration, message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await configuration.ReleaseAsync().ConfigureAwait(false);
        }

        // With IO_MODE=async the milter plug-in finishes its calls on a thread of its own that serves other milter
        // connections too: the host's code after this await (a maildir write, a database) runs on the thread pool.
        if (!Thread.CurrentThread.IsThreadPoolThread)
        {
            await Task.Yield();
        }

        return result;
    }

    /// <summary>Filters <paramref name="message"/> with <paramref name="configuration"/>'s slots from start to end, whatever a reload does meanwhile.</summary>
    private async Task<HostResult> FilterWithAsync(HostConfiguration configuration, HostMessage message, CancellationToken cancellationToken)
    {
        var log = new List<string>();
        var runs = new List<SlotRun>();
        var original = new OriginalMessage(message.Message.ToArray(), message.Envelope);
        var copies = new List<MessageCopy> { new(original, message.Envelope.Recipients.Select(r => MailPath.Bare(r.Address)).ToList(), original.Message, message.Envelope) };
        var selection = new OptInSelection(configuration.OptInAttributes, configuration.Channels, configuration.Directory, message.SourceChannel, message.DestinationChannel);
        var messageBudget = configuration.Options.MessageBudget;
        var started = Clock.GetTimestamp();
        var budgetUsedUp = false;
        try
        {
            foreach (var slot in configuration.Slots)
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

                        if (!budgetUsedUp && messageBudget is { } budget && Clock.GetElapsedTime(started) is var elapsed && elapsed >= budget)
                        {
                            budgetUsedUp = true;
                            HostLog.MessageBudgetUsedUp(_logger, budget.TotalSeconds, elapsed.TotalSeconds, slot.Options.Number);
                        }

                        runs.Add(budgetUsedUp
                            ? _runner.Skip(slot, target, group, message, log, messageBudget!.Value)
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
            HostLog.DirectoryFailed(_logger, e.What, e.InnerException?.Message ?? e.Message);
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
    /// Disposes every plug-in, then the directory the host created (never one the MTA passed in), each after the last
    /// message filtered with it has ended. A plug-in or directory that fails to dispose is logged; the others are
    /// disposed all the same. Messages filtered after this throw <see cref="ObjectDisposedException"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _reloading.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            var current = Current;
            await current.ReleaseAsync().ConfigureAwait(false);
            await Task.WhenAll([current.Disposed, .. _replaced.Select(c => c.Disposed)]).ConfigureAwait(false);
        }
        finally
        {
            _reloading.Release();
        }
    }
}
