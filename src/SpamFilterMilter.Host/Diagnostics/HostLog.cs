using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Host.Diagnostics;

/// <summary>
/// The host's log messages (event ids 5000-5099). Addresses, header text and Sieve text never go to
/// Warning or above: only to Debug, the traffic level (the per-message <see cref="Running.HostResult.Log"/> has them).
/// </summary>
internal static partial class HostLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "{Note}")]
    public static partial void Note(ILogger logger, string note);

    // A configuration error says what is wrong in its message (file, line, option), and a plug-in that cannot be loaded
    // what became of its file (not there, not an assembly, no factory): a stack would only bury that.
    [LoggerMessage(EventId = 5001, Level = LogLevel.Error, Message = "slot {Slot}: the plug-in {Library} cannot be used: {Cause}")]
    public static partial void PluginUnavailable(ILogger logger, int slot, string library, string cause, Exception? exception);

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

    [LoggerMessage(EventId = 5015, Level = LogLevel.Warning, Message = "the message's time budget of {Budget} s (SPAMFILTER_MESSAGE_BUDGET) is used up after {Elapsed:F1} s: slot {Slot} and the slots after it get their failure outcome without being called")]
    public static partial void MessageBudgetUsedUp(ILogger logger, double budget, double elapsed, int slot);

    // During an outage this comes with every message: one line that names what failed (the directory's message names the
    // server, the bind DN and the cause, not the address looked up); the stack goes to 5021 at Debug.
    [LoggerMessage(EventId = 5020, Level = LogLevel.Warning, Message = "the opt-in directory could not be asked for a {What}; the message is refused for now: {Cause}")]
    public static partial void DirectoryFailed(ILogger logger, string what, string cause);

    [LoggerMessage(EventId = 5021, Level = LogLevel.Debug, Message = "the opt-in directory could not be asked for {What} {Key}")]
    public static partial void DirectoryFailedDetail(ILogger logger, string what, string key, Exception? exception);

    [LoggerMessage(EventId = 5030, Level = LogLevel.Warning, Message = "slot {Slot}: disposing the plug-in failed")]
    public static partial void PluginDisposeFailed(ILogger logger, int slot, Exception exception);

    [LoggerMessage(EventId = 5031, Level = LogLevel.Warning, Message = "disposing the opt-in directory failed")]
    public static partial void DirectoryDisposeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5040, Level = LogLevel.Information, Message = "{OptionFile} reloaded: {Changes} option(s) changed; new messages use the new settings, the {InFlight} message(s) in flight finish with the old")]
    public static partial void Reloaded(ILogger logger, string optionFile, int changes, int inFlight);

    [LoggerMessage(EventId = 5041, Level = LogLevel.Information, Message = "reload: {Change}")]
    public static partial void ReloadChange(ILogger logger, string change);

    [LoggerMessage(EventId = 5042, Level = LogLevel.Error, Message = "{OptionFile} not reloaded: {Problem}; the settings in effect stay")]
    public static partial void ReloadRefused(ILogger logger, string optionFile, string problem);

    [LoggerMessage(EventId = 5043, Level = LogLevel.Information, Message = "the settings a reload replaced are disposed: their last message has ended")]
    public static partial void ReplacedDisposed(ILogger logger);
}
