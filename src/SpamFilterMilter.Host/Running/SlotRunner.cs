using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Diagnostics;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Selection;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Running;

/// <summary>
/// Runs one slot on one copy of the message for one group of recipients: asks the plug-in for its verdict,
/// chooses the action option.dat gives for that verdict (or the failure verdict's own), runs its Sieve on
/// the copy and merges the outcome into it; when the plug-in or its action fails, <c>spamfilterX_optional</c>
/// decides between going on as if the slot were absent and refusing the message for now.
/// </summary>
internal sealed class SlotRunner(ILogger logger)
{
    /// <summary>
    /// Runs <paramref name="slot"/> for <paramref name="group"/> on <paramref name="copy"/>, which takes the
    /// outcome (or ends refused); adds what happened to <paramref name="log"/> and returns the run.
    /// </summary>
    public async Task<SlotRun> RunAsync(HostSlot slot, MessageCopy copy, OptInGroup group, HostMessage message, List<string> log, CancellationToken cancellationToken)
    {
        var options = slot.Options;
        var recipients = copy.Envelope.Recipients.Select(r => MailPath.Bare(r.Address)).ToArray();
        log.Add($"{slot}: runs for {string.Join(", ", recipients.Select(r => $"<{r}>"))} with opt-in {(group.OptIn.Count == 0 ? "(none)" : string.Join(", ", group.OptIn))}");
        var verdict = await VerdictAsync(slot, copy, group, message, cancellationToken).ConfigureAwait(false);
        try
        {
            return Act(slot, copy, group, message, verdict, recipients, log);
        }
        finally
        {
            // The receiver of a verdict owns its bodies: the message the action wrote holds what it needed of them.
            verdict.DisposeBodies();
        }
    }

    /// <summary>
    /// Gives <paramref name="slot"/> the failure outcome without calling its plug-in: the message's time budget
    /// (<paramref name="budget"/>) is used up. The host logs that once for the message, so the slot's own failure
    /// warning is left out; <paramref name="log"/> has it all.
    /// </summary>
    public SlotRun Skip(HostSlot slot, MessageCopy copy, OptInGroup group, HostMessage message, List<string> log, TimeSpan budget)
    {
        var recipients = copy.Envelope.Recipients.Select(r => MailPath.Bare(r.Address)).ToArray();
        var why = $"the message's time budget of {budget.TotalSeconds:0.##} s ({SpamFilterHostOptions.MessageBudgetOption}) is used up";
        log.Add($"{slot}: not called for {string.Join(", ", recipients.Select(r => $"<{r}>"))}: {why}");
        var verdict = new FilterVerdict
        {
            Kind = VerdictKind.Failure,
            Failure = new FilterFailure(slot.Plugin?.Description ?? slot.Options.Library, null, "not called: " + why),
        };
        return Act(slot, copy, group, message, verdict, recipients, log, logFailure: false);
    }

    /// <summary>Chooses the action for <paramref name="verdict"/> and runs it on <paramref name="copy"/>.</summary>
    private SlotRun Act(HostSlot slot, MessageCopy copy, OptInGroup group, HostMessage message, FilterVerdict verdict, string[] recipients, List<string> log,
        bool logFailure = true)
    {
        var options = slot.Options;
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
                    if (logFailure)
                    {
                        HostLog.FailureIgnored(logger, options.Number, cause);
                    }

                    log.Add($"{slot}: failed ({cause}); {options.OptionName("optional")}=1, so the message goes on as if the slot were absent");
                    return Run(null, null, null, $"failure ignored ({options.OptionName("optional")}=1)", cause);
                }

                if (logFailure)
                {
                    HostLog.FailureApplied(logger, options.Number, cause);
                }

                if (verdict.Text is null)
                {
                    return Refuse($"failed ({cause}); {options.OptionName("optional")}=0", cause, null);
                }

                (script, source) = (verdict.Text, SpamFilterHost.FailureActionSource);
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
            outcome = (action?.ScriptFor(verdict.Text) ?? SieveScript.Parse(script)).Run(copy.Message, copy.Envelope, verdict.ReplacementBody, message.HiddenTraceHeader);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
        {
            // Only the position goes to the warning: the problem may quote the script's header or address text.
            var cause = $"{source}: {e.Message}";
            var (line, column) = e is SieveException s ? (s.Line, s.Column) : (0, 0);
            HostLog.ActionFailed(logger, options.Number, source!, line, column);
            HostLog.ActionFailedDetail(logger, options.Number, source!, e);
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
            copy.End(Disposition.TempFail, SmtpReply.DefaultTempFail);
            var effect = $"tempfail {SmtpReply.DefaultTempFail}";
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

    private async Task<FilterVerdict> VerdictAsync(HostSlot slot, MessageCopy copy, OptInGroup group, HostMessage message, CancellationToken cancellationToken)
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
                MailParameters = copy.Envelope.MailParameters,
                Recipients = copy.Envelope.Recipients,
                Message = stream,
                HiddenTraceHeader = message.HiddenTraceHeader,
                OptIn = group.OptIn,
                Macros = message.Macros,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The contract says a plug-in never throws for a filter failure; one that does anyway has failed.
            HostLog.PluginThrew(logger, slot.Options.Number, e);
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
}
