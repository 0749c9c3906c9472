using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Cli;

/// <summary>
/// check: runs one message through a milter, stage by stage as an SMTP server would, and shows each
/// stage's decision, the verdict, the action string and the edited message (or a diff of it).
/// Exit status: 0 the milter gave a verdict, 1 the milter failed, 2 bad usage or option file.
/// </summary>
internal static class CheckCommand
{
    public static Command Create(Terminal terminal)
    {
        var target = new MilterTarget();
        var message = new Argument<string>("message") { Description = "The message file (RFC 5322), or - for standard input.", DefaultValueFactory = _ => "-" };
        var from = new Option<string?>("--from") { Description = "Envelope sender (default: the From field's address)." };
        var to = new Option<string[]>("--to") { Description = "Envelope recipient (repeatable; default: the To and Cc fields' addresses)." };
        var clientAddress = new Option<string>("--client-address") { Description = "SMTP client IP address.", DefaultValueFactory = _ => "192.0.2.1" };
        var clientName = new Option<string?>("--client-name") { Description = "SMTP client host name (default: none, sent as [address])." };
        var clientPort = new Option<int>("--client-port") { Description = "SMTP client port.", DefaultValueFactory = _ => 25 };
        var helo = new Option<string?>("--helo") { Description = "HELO/EHLO name (default: the client name, or none)." };
        var macros = new Option<string[]>("--macro") { Description = "A macro the milter may ask for, NAME=VALUE (repeatable), e.g. --macro j=mx.example.com." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object, for scripts." };
        var diff = new Option<bool>("--diff") { Description = "Show the edited message as a diff of the original." };
        var debug = new Option<int>("--debug") { Description = "The plug-in's DEBUG level on standard error (0, 1, 2).", DefaultValueFactory = _ => 0 };

        var command = new Command("check", "Run one message through a milter and show each stage's decision, the verdict, the action string and the edited message.")
        {
            message, from, to, clientAddress, clientName, clientPort, helo, macros, json, diff, debug,
        };
        target.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var options = target.Resolve(result);
            options.Debug = result.GetValue(debug);
            var bytes = await ReadMessageAsync(result.GetValue(message)!, terminal, cancellationToken).ConfigureAwait(false);
            var envelope = Envelopes.FromMessage(bytes, result.GetValue(from), result.GetValue(to) ?? []);
            var client = ClientInfo.Tcp(IPAddress.Parse(result.GetValue(clientAddress)!), result.GetValue(clientPort), result.GetValue(clientName));
            var report = await RunAsync(options, terminal.Logging, bytes, envelope, client, result.GetValue(helo) ?? client.HostName,
                result.GetValue(macros) ?? [], cancellationToken).ConfigureAwait(false);
            try
            {
                await terminal.Output.WriteAsync(result.GetValue(json) ? report.ToJson(bytes) : report.ToText(bytes, result.GetValue(diff))).ConfigureAwait(false);
                return report.Verdict.Kind == VerdictKind.Failure ? CommandLine.MilterFailed : CommandLine.Success;
            }
            finally
            {
                report.Verdict.DisposeBodies(); // the report is written: a replaced body's temporary file goes
            }
        });
        return command;
    }

    private static async Task<byte[]> ReadMessageAsync(string path, Terminal terminal, CancellationToken cancellationToken)
    {
        if (path != "-")
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }

        using var buffer = new MemoryStream();
        await using var input = terminal.Input();
        await input.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>One stage as the SMTP server played it, and what the milter said.</summary>
    internal sealed record StageLine(string Stage, string Argument, StageDecision Decision, double Milliseconds);

    internal static async Task<CheckReport> RunAsync(MilterOptions options, Func<int, ILoggerFactory> logging, byte[] message, Envelope envelope, ClientInfo client,
        string? helo, IReadOnlyList<string> macros, CancellationToken cancellationToken)
    {
        if (envelope.Recipients.Count == 0)
        {
            throw new ArgumentException("No recipient: give --to, or a message with To or Cc fields.");
        }

        var submission = new MessageSubmission
        {
            Client = client,
            HeloName = helo,
            MailFrom = envelope.MailFrom,
            Recipients = envelope.Recipients,
            Message = new MemoryStream(message, writable: false),
            Macros = macros.ToDictionary(
                m => m.IndexOf('=', StringComparison.Ordinal) is > 0 and var equals ? m[..equals] : throw new ArgumentException($"--macro {m}: expected NAME=VALUE."),
                m => m[(m.IndexOf('=', StringComparison.Ordinal) + 1)..],
                StringComparer.Ordinal),
        };

        // The plug-in's own whole-message filter plays the stages, so what check shows is exactly what
        // a host calling FilterMessageAsync gets; the observer only records them.
        var stages = new List<StageLine>();
        using var loggerFactory = logging(options.Debug);
        await using var plugin = new MilterPlugin(options, loggerFactory);
        var verdict = await plugin.FilterMessageAsync(submission,
            stage => stages.Add(new StageLine(stage.Stage.ToName(), Argument(stage, client), stage.Decision, stage.Elapsed.TotalMilliseconds)),
            cancellationToken).ConfigureAwait(false);
        return new CheckReport(plugin.Description, stages, verdict, MessageEditor.Apply(message, envelope, verdict.Edits), envelope);
    }

    private static string Argument(StageObservation stage, ClientInfo client) => stage.Stage switch
    {
        FilterStage.Connect => $"{client.HostName ?? $"[{client.Address}]"} {client.Address}:{client.Port}",
        FilterStage.Mail or FilterStage.Rcpt => $"<{stage.Subject}>",
        FilterStage.Body => $"{stage.Bytes} bytes",
        _ => stage.Subject ?? "",
    };
}

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
            text.Append(CultureInfo.InvariantCulture, $"  {line.Stage,-8} {Shorten(line.Argument),-42} {decision,-12} {line.Milliseconds,7:0.0} ms").AppendLine();
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
            if (!Edited.Envelope.MailFrom.Equals(Envelope.MailFrom, StringComparison.Ordinal)
                || !Edited.Envelope.Recipients.Select(r => r.Address).SequenceEqual(Envelope.Recipients.Select(r => r.Address)))
            {
                text.Append("envelope: from <").Append(Edited.Envelope.MailFrom).Append("> to ")
                    .AppendLine(string.Join(", ", Edited.Envelope.Recipients.Select(r => $"<{r.Address}>")));
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
            ["envelope"] = new JsonObject
            {
                ["from"] = Edited.Envelope.MailFrom,
                ["to"] = new JsonArray([.. Edited.Envelope.Recipients.Select(r => (JsonNode)r.Address)]),
            },
            ["changed"] = !original.AsSpan().SequenceEqual(Edited.Message),
        };
        return report.ToJsonString(JsonOutput.Options) + Environment.NewLine;
    }

    private static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new RawTextAsText() } };

    /// <summary>A header value in JSON: its text (<see cref="RawText.ToString"/>); its exact bytes go beside it when they are not UTF-8.</summary>
    private sealed class RawTextAsText : System.Text.Json.Serialization.JsonConverter<RawText>
    {
        public override RawText Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetString();

        public override void Write(Utf8JsonWriter writer, RawText value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private static string Shorten(string text) => text.Length <= 42 ? text : text[..39] + "...";
}
