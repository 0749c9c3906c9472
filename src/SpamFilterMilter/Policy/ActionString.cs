using System.Text;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Policy;

/// <summary>What to do when the milter cannot be used (FAILURE_ACTION).</summary>
internal enum FailureAction
{
    /// <summary>Answer 451 4.7.1: the sender retries later (the default, as in Postfix before 3.11).</summary>
    TempFail,

    /// <summary>Deliver as if the milter were not configured.</summary>
    Accept,

    /// <summary>Answer 550 5.7.1: refuse the message.</summary>
    Reject,
}

/// <summary>Everything a milter decided about one message, before it becomes a verdict.</summary>
internal sealed record MessageOutcome
{
    public FilterAction Action { get; init; } = FilterAction.Accept;

    public SmtpReply? Reply { get; init; }

    public IReadOnlyList<MessageEdit> Edits { get; init; } = [];

    public string? QuarantineReason { get; init; }

    public IReadOnlyList<RecipientDecision> Recipients { get; init; } = [];

    public string? DecidedAt { get; init; }
}

/// <summary>
/// The one mapping from a milter's outcome to the Messaging Server verdict and its action string, a
/// Sieve scriptlet that the host runs with <c>spamfilterX_string_action=data:,$U</c>. Standard Sieve
/// where it says exactly what the milter asked (RFC 5228 discard/keep, RFC 5293 editheader, RFC 5429
/// ereject); the extension <c>vnd.spamfiltermilter</c> where it cannot (temporary failure, quarantine,
/// positional header edits, envelope and body changes). The action-string table of docs/action-string.md
/// documents every row; <c>ActionStringTests</c> test each one.
/// </summary>
internal static class ActionString
{
    /// <summary>The Sieve capability of our own commands.</summary>
    public const string Extension = "vnd.spamfiltermilter";

    private static readonly FilterVerdict DefaultAtEndOfMessage = FilterVerdict.Default with { DecidedAt = "eom" };

    /// <summary>The reply for FAILURE_ACTION=reject (Postfix's wording for a milter it cannot use).</summary>
    public static SmtpReply FailureReject { get; } = new(550, "5.7.1", "Service unavailable");

    /// <summary>Maps what the milter decided to a verdict. Accepting without edits is the default verdict.</summary>
    public static FilterVerdict ForOutcome(MessageOutcome outcome)
    {
        if (outcome.Action is FilterAction.Accept or FilterAction.Continue && outcome.Edits.Count == 0
            && outcome.QuarantineReason is null && outcome.Recipients.Count == 0)
        {
            // The common case, once per message: nothing to do. No script to build.
            return outcome.DecidedAt == "eom" ? DefaultAtEndOfMessage : FilterVerdict.Default with { DecidedAt = outcome.DecidedAt };
        }

        var script = new Script();
        switch (outcome.Action)
        {
            case FilterAction.Reject:
                script.Line("ereject", "ereject", Quote(Reply(outcome.Reply, SmtpReplyText.DefaultReject)));
                break;

            case FilterAction.TempFail:
                script.Line(Extension, "tempfail", Quote(Reply(outcome.Reply, SmtpReplyText.DefaultTempFail)));
                break;

            case FilterAction.Discard:
                script.Line(null, "discard");
                break;

            default:
                foreach (var edit in outcome.Edits)
                {
                    AddEdit(script, edit);
                }

                foreach (var recipient in outcome.Recipients)
                {
                    if (recipient.Action is FilterAction.Reject or FilterAction.TempFail)
                    {
                        var fallback = recipient.Action == FilterAction.Reject ? SmtpReplyText.DefaultReject : SmtpReplyText.DefaultTempFail;
                        script.Line(Extension, "rejectrecipient", Quote(recipient.Address), Quote(Reply(recipient.Reply, fallback)));
                    }
                }

                if (outcome.QuarantineReason is { } reason)
                {
                    script.Line(Extension, "quarantine", Quote(reason));
                }

                break;
        }

        var action = outcome.Action == FilterAction.Continue ? FilterAction.Accept : outcome.Action;
        return new FilterVerdict
        {
            Kind = script.IsEmpty ? VerdictKind.Default : VerdictKind.String,
            Text = script.IsEmpty ? null : script.ToString(),
            Action = action,
            Reply = action switch
            {
                FilterAction.Reject => outcome.Reply ?? SmtpReplyText.DefaultReject,
                FilterAction.TempFail => outcome.Reply ?? SmtpReplyText.DefaultTempFail,
                _ => null,
            },
            Edits = action == FilterAction.Accept ? outcome.Edits : [],
            QuarantineReason = action == FilterAction.Accept ? outcome.QuarantineReason : null,
            Recipients = outcome.Recipients,
            DecidedAt = outcome.DecidedAt,
        };
    }

    /// <summary>
    /// The verdict when the milter could not be used: kind <see cref="VerdictKind.Failure"/> so that the
    /// host's <c>spamfilterX_optional</c> can decide, with the configured failure action as its action
    /// string, after a comment that names the failure.
    /// </summary>
    public static FilterVerdict ForFailure(FilterFailure failure, FailureAction policy)
    {
        var script = new Script();
        script.Comment($"milter failure: {failure}");
        var (action, reply) = Resolve(policy);
        switch (action)
        {
            case FilterAction.TempFail:
                script.Line(Extension, "tempfail", Quote(reply!.ToString()));
                break;
            case FilterAction.Reject:
                script.Line("ereject", "ereject", Quote(reply!.ToString()));
                break;
            default:
                script.Line(null, "keep");
                break;
        }

        return new FilterVerdict
        {
            Kind = VerdictKind.Failure,
            Text = script.ToString(),
            Action = action,
            Reply = reply,
            Failure = failure,
            DecidedAt = failure.Stage,
        };
    }

    /// <summary>The action and reply a failure policy stands for.</summary>
    public static (FilterAction Action, SmtpReply? Reply) Resolve(FailureAction policy) => policy switch
    {
        FailureAction.Accept => (FilterAction.Accept, null),
        FailureAction.Reject => (FilterAction.Reject, FailureReject),
        _ => (FilterAction.TempFail, SmtpReplyText.DefaultTempFail),
    };

    private static void AddEdit(Script script, MessageEdit edit)
    {
        switch (edit)
        {
            case AddHeader add:
                Header(script, "editheader", ["addheader", ":last"], add.Name, add.Value);
                break;
            case InsertHeader { Index: 0 } top:
                // RFC 5293 addheader without :last puts the field at the top: exactly index 0.
                Header(script, "editheader", ["addheader"], top.Name, top.Value);
                break;
            case InsertHeader insert:
                Header(script, Extension, ["insertheader", ":index", Number(insert.Index)], insert.Name, insert.Value);
                break;
            case ChangeHeader { Value: null } delete:
                script.Line("editheader", "deleteheader", ":index", Number(delete.Index), Quote(delete.Name));
                break;
            case ChangeHeader change:
                Header(script, Extension, ["replaceheader", ":index", Number(change.Index)], change.Name, change.Value!);
                break;
            case AddRecipient { Parameters: null } rcpt:
                script.Line(Extension, "addrecipient", Quote(rcpt.Address));
                break;
            case AddRecipient rcpt:
                script.Line(Extension, "addrecipient", Quote(rcpt.Address), Quote(rcpt.Parameters));
                break;
            case DeleteRecipient rcpt:
                script.Line(Extension, "deleterecipient", Quote(rcpt.Address));
                break;
            case ChangeSender { Parameters: null } from:
                script.Line(Extension, "changesender", Quote(from.Address));
                break;
            case ChangeSender from:
                script.Line(Extension, "changesender", Quote(from.Address), Quote(from.Parameters));
                break;
            case ReplaceBody body:
                // Base64 keeps every byte: a body is not always text, and never a Sieve-safe string.
                script.Line(Extension, "replacebody", Quote(Convert.ToBase64String(body.Body.Span)));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(edit), edit, "An edit this mapping does not know.");
        }
    }

    /// <summary>
    /// A header command. Sieve's editheader writes "name: value", one space added; our values are the
    /// exact text after the colon. When that text is one space and then no blank, the standard form says
    /// it exactly; otherwise (no space, a tab, more blanks, an empty value: a milter that negotiated
    /// HDR_LEADSPC) the extension's <c>:raw</c> tag passes the exact text, so no byte is lost.
    /// </summary>
    private static void Header(Script script, string capability, string[] command, string name, string value)
    {
        if (value.Length >= 1 && value[0] == ' ' && (value.Length == 1 || value[1] is not (' ' or '\t')))
        {
            script.Line(capability, [.. command, Quote(name), Quote(value[1..])]);
        }
        else
        {
            script.Line(capability, [.. command, ":raw", Quote(name), Quote(value)]);
            script.Require(Extension);
        }
    }

    private static string Reply(SmtpReply? reply, SmtpReply fallback) => (reply ?? fallback).ToString();

    private static string Number(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A Sieve quoted string (RFC 5228 §2.4.2): backslash and double quote escaped; line breaks kept.</summary>
    internal static string Quote(string? text)
    {
        var result = new StringBuilder((text?.Length ?? 0) + 2).Append('"');
        foreach (var c in text ?? string.Empty)
        {
            if (c is '"' or '\\')
            {
                result.Append('\\');
            }

            result.Append(c);
        }

        return result.Append('"').ToString();
    }

    /// <summary>Collects commands and the capabilities they need, and renders <c>require</c> first.</summary>
    private sealed class Script
    {
        private readonly List<string> _capabilities = [];
        private readonly List<string> _lines = [];
        private string? _comment;

        public bool IsEmpty => _lines.Count == 0;

        public void Comment(string text) =>
            _comment = "# " + new string(text.Select(c => char.IsControl(c) ? ' ' : c).ToArray());

        public void Line(string? capability, params string[] words)
        {
            if (capability is not null)
            {
                Require(capability);
            }

            _lines.Add(string.Join(' ', words) + ";");
        }

        public void Require(string capability)
        {
            if (!_capabilities.Contains(capability))
            {
                _capabilities.Add(capability);
            }
        }

        public override string ToString()
        {
            var text = new StringBuilder();
            if (_comment is not null)
            {
                text.Append(_comment).Append('\n');
            }

            if (_capabilities.Count == 1)
            {
                text.Append("require ").Append(Quote(_capabilities[0])).Append(";\n");
            }
            else if (_capabilities.Count > 1)
            {
                text.Append("require [").Append(string.Join(", ", _capabilities.Select(Quote))).Append("];\n");
            }

            return text.Append(string.Join('\n', _lines)).ToString();
        }
    }
}
