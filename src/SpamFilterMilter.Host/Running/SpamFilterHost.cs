using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Loading;
using SpamFilterMilter.Host.Selection;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>A configured slot: its options and its plug-in, or why the plug-in could not be loaded or created.</summary>
public sealed class HostSlot
{
    internal HostSlot(SlotOptions options, ISpamFilterPlugin? plugin, string? loadFailure)
    {
        Options = options;
        Plugin = plugin;
        LoadFailure = loadFailure;
    }

    /// <summary>What option.dat says about the slot.</summary>
    public SlotOptions Options { get; }

    /// <summary>The plug-in, or null when it could not be loaded or created.</summary>
    public ISpamFilterPlugin? Plugin { get; }

    /// <summary>Why the plug-in could not be loaded or created, or null.</summary>
    public string? LoadFailure { get; }

    /// <summary>The slot in words, e.g. <c>slot 1 (milter 127.0.0.1:8890)</c>.</summary>
    public override string ToString() => $"slot {Options.Number} ({Plugin?.Description ?? "not loaded"})";
}

/// <summary>
/// What an MTA embeds to run spam-filter plug-ins the way Messaging Server's MTA did: the slots of option.dat,
/// each with its plug-in loaded by path; per-user, per-domain and per-channel opt-in; the verdict turned into a
/// Sieve action and the action run on the message and envelope. Slots run in number order; each sees the
/// message as the earlier ones left it; the first refusal (reject, ereject, tempfail) ends the processing of
/// that copy; quarantine holds it but later slots still run; keep, fileinto, redirect and tags accumulate, and
/// a discard cancels only the implicit keep, as when the slots' actions were one Sieve script (RFC 5228 §4.5).
/// Thread-safe: messages may be filtered concurrently.
/// </summary>
public sealed class SpamFilterHost : IAsyncDisposable
{
    /// <summary>The reply when a slot cannot be used and <c>spamfilterX_optional</c> is 0 and there is no failure action to run.</summary>
    public static SmtpReply UnavailableReply { get; } = new(451, "4.7.1", "Service unavailable - try again later");

    /// <summary>The reply when the opt-in directory cannot be asked: the message is retried, never delivered unfiltered.</summary>
    public static SmtpReply DirectoryFailureReply { get; } = new(451, "4.4.3", "Directory server failure - try again later");

    private readonly ChannelTable _channels;
    private readonly OptInSelection.Attributes _optInAttributes;
    private readonly bool _ownsDirectory;
    private readonly ILogger _logger;

    private SpamFilterHost(IReadOnlyList<HostSlot> slots, ChannelTable channels, IOptInDirectory? directory, bool ownsDirectory, ILogger logger)
    {
        Slots = slots;
        _optInAttributes = OptInSelection.Attributes.Of(slots.Select(s => s.Options));
        _channels = channels;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        _logger = logger;
    }

    /// <summary>The slots that are on, in number order.</summary>
    public IReadOnlyList<HostSlot> Slots { get; }

    /// <summary>The opt-in directory the host asks (the MTA's, or the one option.dat names), or null.</summary>
    internal IOptInDirectory? Directory { get; }

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
    public static SpamFilterHost Create(
        HostOptions options,
        ChannelTable? channels = null,
        IOptInDirectory? directory = null,
        ILoggerFactory? loggerFactory = null,
        Func<string, ISpamFilterPluginFactory>? loadPlugin = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SpamFilterMilter.Host");
        if (directory is null && OptInSelection.FirstDirectoryOption(options.Slots) is { } option && !options.Directory.IsConfigured)
        {
            throw new SpamFilterConfigurationException(options.FilePath, 0, option, "needs a directory: set DIRECTORY_FILE or LDAP_HOST");
        }

        var ownsDirectory = false;
        if (directory is null && options.Directory.IsConfigured)
        {
            directory = options.Directory.LdapHost is not null
                ? new LdapOptInDirectory(options.Directory)
                : FileOptInDirectory.Load(options.Directory.File!, options.Directory.AddressAttributes, options.Directory.DomainAttributes);
            ownsDirectory = true;
        }

        foreach (var note in options.Notes)
        {
            HostLog.Note(logger, note);
        }

        loadPlugin ??= path => PluginLoader.Load(path).Factory;
        var slots = new List<HostSlot>();
        foreach (var slot in options.Slots)
        {
            try
            {
                var plugin = loadPlugin(slot.Library).Create(new SpamFilterPluginContext
                {
                    ConfigFilePath = slot.ConfigFile,
                    Slot = slot.Number,
                    LoggerFactory = loggerFactory,
                });
                slots.Add(new HostSlot(slot, plugin, null));
            }
            catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
            {
                // A plug-in that cannot be loaded or created (wrong path, its option file wrong, its constructor
                // broken) must not stop the MTA: its slot fails each message, as spamfilterX_optional says.
                HostLog.PluginUnavailable(logger, slot.Number, slot.Library, e);
                slots.Add(new HostSlot(slot, null, e.Message));
            }
        }

        return new SpamFilterHost(slots, channels ?? ChannelTable.Empty, directory, ownsDirectory, logger);
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
        var original = new Original(message.Message.ToArray(), message.Envelope);
        var copies = new List<Copy> { new(original, message.Envelope.Recipients.Select(r => MailAddress.Bare(r.Address)).ToList(), original.Message, message.Envelope) };
        var selection = new OptInSelection(_optInAttributes, _channels, Directory, message.SourceChannel, message.DestinationChannel);
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

                        runs.Add(await RunSlotAsync(slot, target, group, message, log, cancellationToken).ConfigureAwait(false));
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
                        Recipients = message.Envelope.Recipients.Select(r => MailAddress.Bare(r.Address)).ToArray(),
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
    private static int FirstPosition(Copy copy, Envelope envelope)
    {
        for (var i = 0; i < envelope.Recipients.Count; i++)
        {
            if (copy.Recipients.Any(r => MailAddress.Same(r, envelope.Recipients[i].Address)))
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

    private async Task<SlotRun> RunSlotAsync(HostSlot slot, Copy copy, OptInGroup group, HostMessage message, List<string> log, CancellationToken cancellationToken)
    {
        var options = slot.Options;
        var recipients = copy.Envelope.Recipients.Select(r => MailAddress.Bare(r.Address)).ToArray();
        log.Add($"{slot}: runs for {string.Join(", ", recipients.Select(r => $"<{r}>"))} with opt-in {(group.OptIn.Count == 0 ? "(none)" : string.Join(", ", group.OptIn))}");
        var verdict = await VerdictAsync(slot, copy, group, message, cancellationToken).ConfigureAwait(false);
        log.Add($"{slot}: verdict {Describe(verdict)}");
        copy.Slots.Add(options.Number);

        SieveAction? action = null;
        string? source = null;
        string? script = null;
        switch (verdict.Kind)
        {
            case VerdictKind.Null:
                (action, source) = (options.NullAction, options.OptionName("null_action"));
                break;
            case VerdictKind.String:
                var rule = options.VerdictRules.FirstOrDefault(r => r.Pattern.IsMatch(verdict.Text ?? string.Empty));
                (action, source) = rule is not null
                    ? (rule.Action, options.OptionName($"action_{rule.Index}"))
                    : (options.StringAction, options.OptionName("string_action"));
                break;
            case VerdictKind.Failure:
                var cause = verdict.Failure?.ToString() ?? "the plug-in failed";
                if (options.Optional)
                {
                    HostLog.FailureIgnored(_logger, options.Number, cause);
                    log.Add($"{slot}: failed ({cause}); {options.OptionName("optional")}=1, so the message goes on as if the slot were absent");
                    return Run(null, null, null, $"failure ignored ({options.OptionName("optional")}=1)", cause);
                }

                HostLog.FailureApplied(_logger, options.Number, cause);
                if (verdict.Text is null)
                {
                    return Refuse($"failed ({cause}); {options.OptionName("optional")}=0", cause, null);
                }

                (script, source) = (verdict.Text, FailureActionSource);
                break;
            default:
                log.Add($"{slot}: nothing to do");
                return Run(null, null, null, "nothing to do", null);
        }

        if (script is null && action is null)
        {
            log.Add($"{slot}: {source} is not set: the message is kept");
            return Run(source, null, null, "no action (keep)", null);
        }

        script ??= action!.Expand(verdict.Text);
        log.Add($"{slot}: runs {source}{(action is null ? string.Empty : $" ({action.Url})")}");
        SieveOutcome outcome;
        try
        {
            outcome = (action?.ScriptFor(verdict.Text) ?? SieveScript.Parse(script)).Run(copy.Message, copy.Envelope);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            // Only the position goes to the warning: the problem may quote the script's header or address text.
            var cause = $"{source}: {e.Message}";
            var (line, column) = e is SieveException s ? (s.Line, s.Column) : (0, 0);
            HostLog.ActionFailed(_logger, options.Number, source!, line, column);
            HostLog.ActionFailedDetail(_logger, options.Number, source!, e);
            if (options.Optional)
            {
                log.Add($"{slot}: the action failed ({cause}); {options.OptionName("optional")}=1, so the message goes on as if the slot were absent");
                return Run(source, script, null, $"action failure ignored ({options.OptionName("optional")}=1)", cause);
            }

            return Refuse($"the action failed ({cause}); {options.OptionName("optional")}=0", cause, script);
        }

        foreach (var done in outcome.Actions)
        {
            log.Add($"{slot}:   {done}");
        }

        var effect = copy.Take(outcome);
        log.Add($"{slot}: {effect}");
        return Run(source, script, outcome, effect, null);

        SlotRun Refuse(string why, string cause, string? ranScript)
        {
            copy.End(Disposition.TempFail, UnavailableReply);
            var effect = $"tempfail {UnavailableReply}";
            log.Add($"{slot}: {why}, so the message is refused for now: {effect}");
            return Run(null, ranScript, null, effect, cause);
        }

        SlotRun Run(string? actionSource, string? ranScript, SieveOutcome? ranOutcome, string effect, string? failure) => new()
        {
            Slot = options.Number,
            Recipients = recipients,
            OptIn = group.OptIn,
            Verdict = verdict,
            ActionSource = actionSource,
            Script = ranScript,
            Outcome = ranOutcome,
            Failure = failure,
            Effect = effect,
        };
    }

    /// <summary>The <see cref="SlotRun.ActionSource"/> when the failure verdict's own action ran.</summary>
    public const string FailureActionSource = "the failure verdict's action";

    private async Task<FilterVerdict> VerdictAsync(HostSlot slot, Copy copy, OptInGroup group, HostMessage message, CancellationToken cancellationToken)
    {
        if (slot.Plugin is null)
        {
            return new FilterVerdict
            {
                Kind = VerdictKind.Failure,
                Failure = new FilterFailure(slot.Options.Library, null, "the plug-in could not be loaded: " + (slot.LoadFailure ?? "unknown reason")),
            };
        }

        using var stream = new MemoryStream(copy.Message, writable: false);
        try
        {
            return await slot.Plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = message.Client,
                HeloName = message.HeloName,
                MailFrom = copy.Envelope.MailFrom,
                MailParameters = copy.Envelope.MailParameters?.Split(' ', StringSplitOptions.RemoveEmptyEntries),
                Recipients = copy.Envelope.Recipients,
                Message = stream,
                OptIn = group.OptIn,
                Macros = message.Macros,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The contract says a plug-in never throws for a filter failure; one that does anyway has failed.
            HostLog.PluginThrew(_logger, slot.Options.Number, e);
            return new FilterVerdict
            {
                Kind = VerdictKind.Failure,
                Failure = new FilterFailure(slot.Plugin.Description, null, $"the plug-in threw {e.GetType().Name}: {e.Message}"),
            };
        }
    }

    private static string Describe(FilterVerdict verdict) => verdict.Kind switch
    {
        VerdictKind.Default => "default",
        VerdictKind.Null => "null",
        VerdictKind.Failure => $"failure: {verdict.Failure}",
        _ => $"string: {verdict.Text?.Replace("\n", "\n    ", StringComparison.Ordinal)}",
    };

    /// <summary>The message as the MTA handed it: what a refused or discarded copy carries.</summary>
    private sealed record Original(byte[] Message, Envelope Envelope)
    {
        /// <summary>The original envelope with only <paramref name="recipients"/> (original recipients, bare).</summary>
        public Envelope For(IReadOnlyList<string> recipients) =>
            Envelope with { Recipients = Envelope.Recipients.Where(r => recipients.Any(x => MailAddress.Same(x, r.Address))).ToArray() };
    }

    /// <summary>
    /// One copy of the message on its way through the slots, for a group of recipients: the bytes and envelope
    /// as edited so far and what the actions decided.
    /// </summary>
    private sealed class Copy(Original original, List<string> recipients, byte[] message, Envelope envelope)
    {
        private readonly List<string> _folders = [];
        private readonly List<string> _redirects = [];
        private readonly List<string> _tags = [];
        private readonly List<RefusedRecipient> _refused = [];
        private readonly List<RefusedRecipient> _toSplit = [];
        private bool _keep = true;
        private bool _explicitKeep;
        private string? _quarantine;
        private SmtpReply? _reply;
        private bool _splitAway;

        /// <summary>The original envelope recipients (bare) this copy is for.</summary>
        public List<string> Recipients { get; } = recipients;

        public byte[] Message { get; private set; } = message;

        public Envelope Envelope { get; private set; } = envelope;

        public List<int> Slots { get; } = [];

        public Disposition? Ended { get; private set; }

        /// <summary>True when the copy is for nobody any more: every recipient was refused and has a result of its own.</summary>
        public bool IsEmpty => _splitAway && Recipients.Count == 0 && Envelope.Recipients.Count == 0 && Ended is null;

        /// <summary>Moves <paramref name="selected"/> into a new copy that carries everything decided so far.</summary>
        public Copy Split(IReadOnlyList<EnvelopeRecipient> selected)
        {
            var moving = Recipients.Where(r => selected.Any(s => MailAddress.Same(s.Address, r))).ToList();
            Recipients.RemoveAll(moving.Contains);
            var copy = new Copy(original, moving, Message, Envelope with { Recipients = selected.ToList() })
            {
                _keep = _keep,
                _explicitKeep = _explicitKeep,
                _quarantine = _quarantine,
            };
            copy._folders.AddRange(_folders);
            copy._redirects.AddRange(_redirects);
            copy._tags.AddRange(_tags);
            copy.Slots.AddRange(Slots);
            Envelope = Envelope with { Recipients = Envelope.Recipients.Where(r => !selected.Contains(r)).ToList() };
            return copy;
        }

        /// <summary>
        /// Gives each original recipient the last slot refused (<c>rejectrecipient</c>) a result of its own,
        /// a refusal with its reply and the original message; a copy whose every recipient was refused is
        /// refused too (it never becomes an empty delivery).
        /// </summary>
        public List<Copy> SplitRefused(List<string> log)
        {
            var split = new List<Copy>();
            foreach (var refused in _toSplit)
            {
                var own = Recipients.FirstOrDefault(r => MailAddress.Same(r, refused.Address));
                if (own is null)
                {
                    continue; // a recipient a slot added: refused in this copy's RefusedRecipients only
                }

                Recipients.Remove(own);
                _splitAway = true;
                var alone = new Copy(original, [own], original.Message, original.For([own]));
                alone.Slots.AddRange(Slots);
                alone._refused.Add(refused);
                alone.End(refused.Reply.IsTransient ? Disposition.TempFail : Disposition.Reject, refused.Reply);
                split.Add(alone);
            }

            if (_toSplit.Count > 0 && Envelope.Recipients.Count == 0 && Recipients.Count > 0 && Ended is null)
            {
                var first = _toSplit[0].Reply;
                End(first.IsTransient ? Disposition.TempFail : Disposition.Reject, first);
                log.Add($"every recipient of the copy for {Who()} is refused: {first}");
            }

            _toSplit.Clear();
            return split;
        }

        /// <summary>Ends the copy with a refusal: it carries the original message and envelope from here on.</summary>
        public void End(Disposition disposition, SmtpReply? reply)
        {
            Ended = disposition;
            _reply = reply;
            Message = original.Message;
            if (Recipients.Count > 0)
            {
                Envelope = original.For(Recipients);
            }
        }

        /// <summary>Merges a script's outcome; returns what it meant, in words.</summary>
        public string Take(SieveOutcome outcome)
        {
            switch (outcome.Disposition)
            {
                case SieveDisposition.Reject:
                    End(Disposition.Reject, outcome.Reply);
                    return $"reject {outcome.Reply}";
                case SieveDisposition.TempFail:
                    End(Disposition.TempFail, outcome.Reply);
                    return $"tempfail {outcome.Reply}";
            }

            // Deliver or discard: as in one Sieve script, a discard only cancels the implicit keep; whether
            // anything keeps, files or redirects the message is decided once every slot has run.
            Message = outcome.Message;
            Envelope = outcome.Envelope;
            _keep &= outcome.Keep;
            _explicitKeep |= outcome.ExplicitKeep;
            _quarantine ??= outcome.QuarantineReason;
            _folders.AddRange(outcome.Folders.Where(f => !_folders.Contains(f)));
            _redirects.AddRange(outcome.Redirects.Where(r => !_redirects.Contains(r)));
            _tags.AddRange(outcome.Tags);
            _refused.AddRange(outcome.RefusedRecipients);
            _toSplit.AddRange(outcome.RefusedRecipients);
            var words = new List<string>();
            if (outcome.Disposition == SieveDisposition.Discard)
            {
                words.Add("discard");
            }

            if (outcome.Edits.Count > 0)
            {
                words.Add($"{outcome.Edits.Count} edit{(outcome.Edits.Count == 1 ? "" : "s")}");
            }

            words.AddRange(outcome.Folders.Select(f => $"fileinto {f}"));
            words.AddRange(outcome.Redirects.Select(r => $"redirect {r}"));
            words.AddRange(outcome.Tags.Select(t => $"tag {t}"));
            words.AddRange(outcome.RefusedRecipients.Select(r => $"refuse <{r.Address}> {r.Reply}"));
            if (outcome.QuarantineReason is { } reason)
            {
                words.Add($"quarantine ({reason})");
            }

            words.Add(outcome.Keep ? "keep" : "implicit keep cancelled");
            return string.Join(", ", words);
        }

        public DeliveryResult Finish(List<string> log)
        {
            var keep = _keep || _explicitKeep;
            if (Ended is null && !keep && _folders.Count == 0 && _redirects.Count == 0 && _quarantine is null)
            {
                End(Disposition.Discard, null); // discarded, and no slot kept, filed or redirected it
            }

            if (Ended is { } ended)
            {
                log.Add($"result for {Who()}: {ended.ToString().ToLowerInvariant()}{(_reply is null ? "" : " " + _reply)}");
                return new DeliveryResult
                {
                    Recipients = Recipients,
                    Disposition = ended,
                    Reply = _reply,
                    Message = Message,
                    Envelope = Envelope,
                    RefusedRecipients = _refused,
                    Slots = Slots,
                };
            }

            var message = SubjectTags.Apply(Message, _tags);
            var disposition = _quarantine is null ? Disposition.Deliver : Disposition.Quarantine;
            var where = new List<string>();
            if (keep)
            {
                where.Add("inbox");
            }

            where.AddRange(_folders.Select(f => $"folder {f}"));
            where.AddRange(_redirects.Select(r => $"redirect to {r}"));
            log.Add($"result for {Who()}: {(disposition == Disposition.Quarantine ? $"quarantine ({_quarantine})" : "deliver")}{(where.Count == 0 ? "" : " to " + string.Join(", ", where))}");
            return new DeliveryResult
            {
                Recipients = Recipients,
                Disposition = disposition,
                QuarantineReason = _quarantine,
                Message = message,
                Envelope = Envelope,
                Keep = keep,
                Folders = _folders,
                Redirects = _redirects,
                Tags = _tags,
                RefusedRecipients = _refused,
                Slots = Slots,
            };
        }

        private string Who() => string.Join(", ", (Recipients.Count > 0 ? Recipients : Envelope.Recipients.Select(r => MailAddress.Bare(r.Address))).Select(r => $"<{r}>"));
    }
}

/// <summary>
/// Messaging Server's addtag: the tags, in order and separated by spaces, go in front of the Subject (a
/// Subject is added when there is none). The Subject's own bytes are kept as they are; tags with non-ASCII
/// characters are written as RFC 2047 encoded words (UTF-8, B), so the header stays 7-bit. Tags never hold
/// a line break, NUL or '|' (the Sieve parser refuses them).
/// </summary>
internal static class SubjectTags
{
    /// <summary>At most this many UTF-8 bytes per encoded word: 4 groups of 3 per 4 base64 characters, 72 characters in all.</summary>
    private const int BytesPerWord = 45;

    public static byte[] Apply(byte[] message, IReadOnlyList<string> tags)
    {
        if (tags.Count == 0)
        {
            return message;
        }

        var draft = MessageDraft.Parse(message, new Envelope(string.Empty, null, []));
        var index = -1;
        for (var i = 0; i < draft.Fields.Count; i++)
        {
            if (draft.Fields[i].Name.Equals("Subject", StringComparison.OrdinalIgnoreCase))
            {
                index = i;
                break;
            }
        }

        var prefix = string.Join(' ', tags);
        if (index < 0)
        {
            draft.Apply(new AddHeader("Subject", " " + Encode(prefix, draft.LineEnd)));
            return draft.ToBytes();
        }

        // "Subject:" and the blanks (and folds) after it, the tags, one space, then the old text byte for byte.
        var raw = draft.RawField(index).Span;
        var start = raw.IndexOf((byte)':') + 1;
        while (start < raw.Length && raw[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        var rest = raw[start..];
        var hasText = rest.TrimEnd("\r\n"u8).Length > 0;
        string head;
        if (!hasText)
        {
            head = Encode(prefix, draft.LineEnd) + draft.LineEnd;
        }
        else if (Ascii.IsValid(prefix))
        {
            head = prefix + " ";
        }
        else if (rest.StartsWith("=?"u8))
        {
            // Blanks between two encoded words are dropped when decoding: the separating space goes inside.
            head = Encode(prefix + " ", draft.LineEnd) + " ";
        }
        else
        {
            head = Encode(prefix, draft.LineEnd) + " ";
        }

        var name = draft.Fields[index].Name;
        byte[] tagged = [.. Encoding.ASCII.GetBytes(name + ": " + head), .. hasText ? rest : []];
        draft.ReplaceField(index, name, tagged);
        return draft.ToBytes();
    }

    /// <summary>
    /// <paramref name="text"/> itself when it is ASCII; else RFC 2047 encoded words, folded between words with
    /// <paramref name="lineEnd"/> and a space. The text's own spaces are inside the words, so they survive
    /// decoding even next to another encoded word.
    /// </summary>
    private static string Encode(string text, string lineEnd)
    {
        if (Ascii.IsValid(text))
        {
            return text;
        }

        var words = new List<string>();
        var bytes = Encoding.UTF8.GetBytes(text);
        var start = 0;
        while (start < bytes.Length)
        {
            var length = Math.Min(BytesPerWord, bytes.Length - start);
            while (start + length < bytes.Length && (bytes[start + length] & 0xC0) == 0x80)
            {
                length--; // never cut a character in two
            }

            words.Add($"=?UTF-8?B?{Convert.ToBase64String(bytes, start, length)}?=");
            start += length;
        }

        return string.Join(lineEnd + " ", words);
    }
}

/// <summary>
/// The host's log messages (event ids 5000-5099). Addresses, header text and Sieve text never go to
/// Warning or above: only to Debug, the traffic level (the per-message <see cref="HostResult.Log"/> has them).
/// </summary>
internal static partial class HostLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "{Note}")]
    public static partial void Note(ILogger logger, string note);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "slot {Slot}: the plug-in {Library} cannot be used")]
    public static partial void PluginUnavailable(ILogger logger, int slot, string library, Exception exception);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "slot {Slot}: {Cause}; the slot is optional: the message goes on as if the slot were absent")]
    public static partial void FailureIgnored(ILogger logger, int slot, string cause);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "slot {Slot}: {Cause}; the slot is not optional: applying the failure action")]
    public static partial void FailureApplied(ILogger logger, int slot, string cause);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Warning, Message = "slot {Slot}: the action {Source} failed at line {Line}, column {Column}")]
    public static partial void ActionFailed(ILogger logger, int slot, string source, int line, int column);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Debug, Message = "slot {Slot}: the action {Source} failed")]
    public static partial void ActionFailedDetail(ILogger logger, int slot, string source, Exception exception);

    [LoggerMessage(EventId = 5014, Level = LogLevel.Debug, Message = "slot {Slot}: the plug-in threw instead of returning a failure verdict")]
    public static partial void PluginThrew(ILogger logger, int slot, Exception exception);

    [LoggerMessage(EventId = 5020, Level = LogLevel.Warning, Message = "the opt-in directory could not be asked for a {What}; the message is refused for now")]
    public static partial void DirectoryFailed(ILogger logger, string what, Exception? exception);

    [LoggerMessage(EventId = 5021, Level = LogLevel.Debug, Message = "the opt-in directory could not be asked for {What} {Key}")]
    public static partial void DirectoryFailedDetail(ILogger logger, string what, string key, Exception? exception);

    [LoggerMessage(EventId = 5030, Level = LogLevel.Warning, Message = "slot {Slot}: disposing the plug-in failed")]
    public static partial void PluginDisposeFailed(ILogger logger, int slot, Exception exception);

    [LoggerMessage(EventId = 5031, Level = LogLevel.Warning, Message = "disposing the opt-in directory failed")]
    public static partial void DirectoryDisposeFailed(ILogger logger, Exception exception);
}
