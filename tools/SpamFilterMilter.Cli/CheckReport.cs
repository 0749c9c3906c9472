using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Cli;

/// <summary>What check found, rendered for people or for scripts.</summary>
internal sealed record CheckReport(string Milter, IReadOnlyList<CheckCommand.StageLine> Stages, FilterVerdict Verdict, EditedMessage Edited, Envelope Envelope)
{
    public string ToText(byte[] original, bool diff)
    {
        var text = new StringBuilder();
        text.AppendLine(Milter);
        foreach (var line in Stages)
        {
            var decision = line.Decision.Failure is { } failure ? $"FAILED: {failure.Stage?.ToName()}: {failure.Cause}"
                : line.Decision.Action.ToString().ToLowerInvariant() + (line.Decision.Reply is { } reply ? $" {reply}" : string.Empty);
            // MAIL's and RCPT's arguments are never cut: their ESMTP parameters are what the milter was given.
            var argument = line.Stage == FilterStage.Mail.ToName() || line.Stage == FilterStage.Rcpt.ToName() ? line.Argument : Shorten(line.Argument);
            text.Append(CultureInfo.InvariantCulture, $"  {line.Stage,-8} {argument,-42} {decision,-12} {line.Milliseconds,7:0.0} ms").AppendLine();
        }

        text.Append("verdict: ").Append(Verdict.Kind.ToString().ToLowerInvariant()).Append(", ").Append(Verdict.Action.ToString().ToLowerInvariant());
        if (Verdict.DecidedAt is { } stage)
        {
            text.Append(" (decided at ").Append(stage.ToName()).Append(')');
        }

        text.AppendLine();
        if (Verdict.Reply is { } verdictReply)
        {
            text.Append("reply: ").AppendLine(verdictReply.ToString());
        }

        if (Verdict.QuarantineReason is { } reason)
        {
            text.Append("quarantine: ").AppendLine(reason);
        }

        if (Verdict.Text is { } action)
        {
            text.AppendLine("action:");
            foreach (var line in action.Split('\n'))
            {
                text.Append("  ").AppendLine(line);
            }
        }

        if (Verdict.Action == FilterAction.Accept && Verdict.Edits.Count > 0)
        {
            text.AppendLine(diff ? "edited message (diff):" : "edited message:");
            text.Append(diff ? LineDiff.Unified(Encoding.UTF8.GetString(original), Encoding.UTF8.GetString(Edited.Message))
                : Encoding.UTF8.GetString(Edited.Message));
            if (!Edited.Envelope.Equals(Envelope))
            {
                text.AppendLine("edited envelope:").Append("  MAIL FROM:").AppendLine(EnvelopeArgument.Format(Edited.Envelope.MailFrom, Edited.Envelope.MailParameters));
                foreach (var recipient in Edited.Envelope.Recipients)
                {
                    text.Append("  RCPT TO:").AppendLine(EnvelopeArgument.Format(recipient.Address, recipient.Parameters));
                }
            }
        }

        return text.ToString();
    }

    public string ToJson(byte[] original)
    {
        var stages = new JsonArray();
        foreach (var line in Stages)
        {
            stages.Add(new JsonObject
            {
                ["stage"] = line.Stage,
                ["argument"] = line.Argument,
                ["action"] = line.Decision.Action.ToString().ToLowerInvariant(),
                ["reply"] = line.Decision.Reply?.ToString(),
                ["failure"] = line.Decision.Failure?.ToString(),
                ["milliseconds"] = Math.Round(line.Milliseconds, 3),
            });
        }

        var edits = new JsonArray();
        foreach (var edit in Verdict.Edits)
        {
            // {"type": "AddHeader", "name": ..., "value": ...}; a replaced body as base64; a header value that is not UTF-8
            // as text for people ("value", bytes that are not UTF-8 shown as U+FFFD) and its bytes for scripts ("valueBase64").
            var entry = new JsonObject { ["type"] = edit.GetType().Name };
            if (edit is ReplaceBody body)
            {
                entry["body"] = Convert.ToBase64String(body.Body.ToArray());
            }
            else
            {
                foreach (var (name, value) in JsonSerializer.SerializeToNode(edit, edit.GetType(), CamelCase)!.AsObject())
                {
                    entry[name] = value?.DeepClone();
                }

                if (edit is AddHeader { Value.IsUtf8: false } or InsertHeader { Value.IsUtf8: false } or ChangeHeader { Value.IsUtf8: false })
                {
                    var bytes = edit switch { AddHeader a => a.Value, InsertHeader i => i.Value, _ => ((ChangeHeader)edit).Value!.Value };
                    entry["valueBase64"] = Convert.ToBase64String(bytes.Span);
                }
            }

            edits.Add(entry);
        }

        var report = new JsonObject
        {
            ["milter"] = Milter,
            ["stages"] = stages,
            ["verdict"] = new JsonObject
            {
                ["kind"] = Verdict.Kind.ToString().ToLowerInvariant(),
                ["action"] = Verdict.Action.ToString().ToLowerInvariant(),
                ["decidedAt"] = Verdict.DecidedAt?.ToName(),
                ["reply"] = Verdict.Reply?.ToString(),
                ["quarantine"] = Verdict.QuarantineReason,
                ["text"] = Verdict.Text,
                ["failure"] = Verdict.Failure?.ToString(),
                ["edits"] = edits,
            },
            ["editedMessage"] = Encoding.UTF8.GetString(Edited.Message),
            ["envelope"] = ToJson(Envelope),
            ["editedEnvelope"] = ToJson(Edited.Envelope),
            ["changed"] = !original.AsSpan().SequenceEqual(Edited.Message),
        };
        return report.ToJsonString(JsonOutput.Options) + Environment.NewLine;
    }

    /// <summary>An envelope for scripts: <c>{"from": "a@b", "mailParameters": [...], "to": [{"address": "c@d", "parameters": [...]}]}</c>, addresses without angle brackets.</summary>
    private static JsonObject ToJson(Envelope envelope) => new()
    {
        ["from"] = envelope.MailFrom,
        ["mailParameters"] = Strings(envelope.MailParameters),
        ["to"] = new JsonArray([.. envelope.Recipients.Select(r => (JsonNode)new JsonObject { ["address"] = r.Address, ["parameters"] = Strings(r.Parameters) })]),
    };

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    private static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new RawTextAsText() } };

    /// <summary>A header value in JSON: its text (<see cref="RawText.ToString"/>); its exact bytes go beside it when they are not UTF-8.</summary>
    private sealed class RawTextAsText : System.Text.Json.Serialization.JsonConverter<RawText>
    {
        public override RawText Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetString();

        public override void Write(Utf8JsonWriter writer, RawText value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private static string Shorten(string text) => text.Length <= 42 ? text : text[..39] + "...";
}
