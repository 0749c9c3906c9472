using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;
using Dialect = SpamFilterMilter.Contract.ActionStringDialect;

namespace SpamFilterMilter.Verdicts;

/// <summary>
/// Writes the action string: the Sieve scriptlet that says what the milter decided, in the dialect both sides take
/// from <see cref="ActionStringDialect"/> (docs/action-string.md documents every row; <c>ActionStringTests</c> test
/// each). Commands come in the order the milter sent its edits; refused recipients and the quarantine come last; a
/// <c>require</c> line names the capabilities used. Pure: text in, text out.
/// </summary>
internal static class ActionStringWriter
{
    /// <summary>The script for a message the milter decided; null when there is nothing to say.</summary>
    public static string? Write(FilterAction action, SmtpReply? reply, IReadOnlyList<MessageEdit> edits,
        IReadOnlyList<RecipientDecision> recipients, string? quarantineReason)
    {
        var script = new Script();
        switch (action)
        {
            case FilterAction.Reject:
                script.Line(Dialect.ERejectCapability, Dialect.ERejectCommand, Dialect.Quote((reply ?? SmtpReply.DefaultReject).ToString()));
                break;

            case FilterAction.TempFail:
                script.Line(Dialect.Capability, Dialect.TempFail, Dialect.Quote((reply ?? SmtpReply.DefaultTempFail).ToString()));
                break;

            case FilterAction.Discard:
                script.Line(null, Dialect.Discard);
                break;

            default:
                foreach (var edit in edits)
                {
                    AddEdit(script, edit);
                }

                foreach (var recipient in recipients)
                {
                    if (recipient.Action is FilterAction.Reject or FilterAction.TempFail)
                    {
                        var fallback = recipient.Action == FilterAction.Reject ? SmtpReply.DefaultReject : SmtpReply.DefaultTempFail;
                        script.Line(Dialect.Capability, Dialect.RejectRecipient, Dialect.Quote(recipient.Address), Dialect.Quote((recipient.Reply ?? fallback).ToString()));
                    }
                }

                if (quarantineReason is { } reason)
                {
                    script.Line(Dialect.Capability, Dialect.Quarantine, Dialect.Quote(reason));
                }

                break;
        }

        return script.IsEmpty ? null : script.ToString();
    }

    /// <summary>The script when the milter could not be used: a comment naming the failure, then the failure action.</summary>
    public static string WriteFailure(FilterFailure failure, FilterAction action, SmtpReply? reply)
    {
        var script = new Script();
        script.Comment($"milter failure: {failure}");
        switch (action)
        {
            case FilterAction.TempFail:
                script.Line(Dialect.Capability, Dialect.TempFail, Dialect.Quote(reply!.ToString()));
                break;
            case FilterAction.Reject:
                script.Line(Dialect.ERejectCapability, Dialect.ERejectCommand, Dialect.Quote(reply!.ToString()));
                break;
            default:
                script.Line(null, Dialect.Keep);
                break;
        }

        return script.ToString();
    }

    private static void AddEdit(Script script, MessageEdit edit)
    {
        switch (edit)
        {
            case AddHeader add:
                Header(script, Dialect.EditHeaderCapability, [Dialect.AddHeader, Dialect.LastTag], add.Name, add.Value);
                break;
            case InsertHeader { Index: 0 } top:
                // RFC 5293 addheader without :last puts the field at the top: exactly index 0.
                Header(script, Dialect.EditHeaderCapability, [Dialect.AddHeader], top.Name, top.Value);
                break;
            case InsertHeader insert:
                Header(script, Dialect.Capability, [Dialect.InsertHeader, Dialect.IndexTag, Number(insert.Index)], insert.Name, insert.Value);
                break;
            case ChangeHeader { Value: null or { IsEmpty: true } } delete:
                script.Line(Dialect.EditHeaderCapability, Dialect.DeleteHeader, Dialect.IndexTag, Number(delete.Index), Dialect.Quote(delete.Name));
                break;
            case ChangeHeader { Value: { } value } change:
                Header(script, Dialect.Capability, [Dialect.ReplaceHeader, Dialect.IndexTag, Number(change.Index)], change.Name, value);
                break;
            case AddRecipient { Parameters.Count: 0 } rcpt:
                script.Line(Dialect.Capability, Dialect.AddRecipient, Dialect.Quote(rcpt.Address));
                break;
            case AddRecipient rcpt:
                script.Line(Dialect.Capability, Dialect.AddRecipient, Dialect.Quote(rcpt.Address), Dialect.QuoteList(rcpt.Parameters));
                break;
            case DeleteRecipient rcpt:
                script.Line(Dialect.Capability, Dialect.DeleteRecipient, Dialect.Quote(rcpt.Address));
                break;
            case ChangeSender { Parameters.Count: 0 } from:
                script.Line(Dialect.Capability, Dialect.ChangeSender, Dialect.Quote(from.Address));
                break;
            case ChangeSender from:
                script.Line(Dialect.Capability, Dialect.ChangeSender, Dialect.Quote(from.Address), Dialect.QuoteList(from.Parameters));
                break;
            case ReplaceBody body when body.Body.Length <= Dialect.MaxInlineBody && body.Body.TryGetMemory(out var bytes):
                // Base64 keeps every byte: a body is not always text, and never a Sieve-safe string.
                script.Line(Dialect.Capability, Dialect.ReplaceBody, Dialect.Quote(Convert.ToBase64String(bytes.Span)));
                break;
            case ReplaceBody:
                // A large body stays where it is (memory or its file): the host takes it from the verdict, uncopied.
                script.Line(Dialect.Capability, Dialect.ReplaceBody, Dialect.VerdictTag);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(edit), edit, "An edit this mapping does not know.");
        }
    }

    /// <summary>
    /// A header command. Sieve's editheader writes "name: value", one space added; our values are the exact text
    /// after the colon. When the standard form cannot say it exactly (<see cref="ActionStringDialect.NeedsRawValue"/>), the extension's
    /// <see cref="ActionStringDialect.RawTag"/> passes the exact text; a value that is not UTF-8, which no Sieve string
    /// holds, goes in base64 with <see cref="ActionStringDialect.Base64Tag"/>. So no byte is lost.
    /// </summary>
    private static void Header(Script script, string capability, string[] command, string name, RawText value)
    {
        var raw = Dialect.NeedsRawValue(value);
        var base64 = Dialect.NeedsBase64Value(value);
        var bytes = raw ? value.Span : value.Span[1..];
        string[] tags = (raw, base64) switch
        {
            (false, false) => [],
            (true, false) => [Dialect.RawTag],
            (false, true) => [Dialect.Base64Tag],
            _ => [Dialect.RawTag, Dialect.Base64Tag],
        };
        script.Line(capability, [.. command, .. tags, Dialect.Quote(name), Dialect.Quote(base64 ? Convert.ToBase64String(bytes) : Encoding.UTF8.GetString(bytes))]);
        if (tags.Length > 0)
        {
            script.Require(Dialect.Capability);
        }
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

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
                text.Append("require ").Append(Dialect.Quote(_capabilities[0])).Append(";\n");
            }
            else if (_capabilities.Count > 1)
            {
                text.Append("require [").Append(string.Join(", ", _capabilities.Select(Dialect.Quote))).Append("];\n");
            }

            return text.Append(string.Join('\n', _lines)).ToString();
        }
    }
}
