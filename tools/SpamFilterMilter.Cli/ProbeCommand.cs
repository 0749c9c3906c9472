using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Plugin;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Cli;

/// <summary>
/// probe: connects, negotiates, and says in words what the milter asked for: its protocol version,
/// the changes it may make, the steps it wants left out or unanswered, and the macros it wants.
/// Exit status 1 when the milter cannot be reached or the negotiation fails.
/// </summary>
internal static class ProbeCommand
{
    private static readonly (ProtocolFlags Flag, string Words)[] LeftOut =
    [
        (ProtocolFlags.NoConnect, "CONNECT"), (ProtocolFlags.NoHelo, "HELO"), (ProtocolFlags.NoMail, "MAIL"), (ProtocolFlags.NoRcpt, "RCPT"),
        (ProtocolFlags.NoData, "DATA"), (ProtocolFlags.NoHeaders, "headers"), (ProtocolFlags.NoEndOfHeaders, "end of headers"),
        (ProtocolFlags.NoBody, "body"), (ProtocolFlags.NoUnknown, "unknown commands"),
    ];

    private static readonly (ProtocolFlags Flag, string Words)[] Unanswered =
    [
        (ProtocolFlags.NoReplyConnect, "CONNECT"), (ProtocolFlags.NoReplyHelo, "HELO"), (ProtocolFlags.NoReplyMail, "MAIL"),
        (ProtocolFlags.NoReplyRcpt, "RCPT"), (ProtocolFlags.NoReplyData, "DATA"), (ProtocolFlags.NoReplyHeader, "headers"),
        (ProtocolFlags.NoReplyEndOfHeaders, "end of headers"), (ProtocolFlags.NoReplyBody, "body"), (ProtocolFlags.NoReplyUnknown, "unknown commands"),
    ];

    private static readonly (ActionFlags Flag, string Words)[] Actions =
    [
        (ActionFlags.AddHeaders, "add and insert headers"), (ActionFlags.ChangeHeaders, "change and delete headers"),
        (ActionFlags.ChangeBody, "replace the body"), (ActionFlags.AddRecipients, "add recipients"),
        (ActionFlags.AddRecipientsWithArgs, "add recipients with ESMTP arguments"), (ActionFlags.DeleteRecipients, "delete recipients"),
        (ActionFlags.ChangeSender, "change the sender"), (ActionFlags.Quarantine, "quarantine"), (ActionFlags.SetSymbolList, "ask for macros"),
    ];

    private static readonly Dictionary<FilterStage, string> StageNames = new()
    {
        [FilterStage.Connect] = "CONNECT", [FilterStage.Helo] = "HELO", [FilterStage.Mail] = "MAIL", [FilterStage.Rcpt] = "RCPT",
        [FilterStage.Data] = "DATA", [FilterStage.EndOfMessage] = "end of message", [FilterStage.EndOfHeaders] = "end of headers",
    };

    public static Command Create(Terminal terminal)
    {
        var target = new MilterTarget();
        var json = new Option<bool>("--json") { Description = "Print one JSON object, for scripts." };
        var command = new Command("probe", "Negotiate with a milter and say what it asked for.") { json };
        target.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var options = target.Resolve(result);
            // The plug-in's own connector and session settings: probe offers what the plug-in would (OFFER_MDS included).
            await using var plugin = new MilterPlugin(options, NullLoggerFactory.Instance);
            MilterNegotiation negotiated;
            try
            {
                negotiated = await plugin.ProbeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                await terminal.Error.WriteLineAsync($"milter {options.EndpointName}: {e.Message}").ConfigureAwait(false);
                if (result.GetValue(json))
                {
                    // A script reading standard output gets an answer either way, as check --json gives one.
                    await terminal.Output.WriteAsync(new JsonObject { ["milter"] = options.EndpointName, ["failure"] = e.Message }
                        .ToJsonString(JsonOutput.Options) + Environment.NewLine).ConfigureAwait(false);
                }

                return (int)ToolExitCode.ProblemsFound;
            }

            await terminal.Output.WriteAsync(result.GetValue(json) ? ToJson(negotiated) : ToText(negotiated)).ConfigureAwait(false);
            return (int)ToolExitCode.Success;
        });
        return command;
    }

    internal static string ToText(MilterNegotiation n)
    {
        var text = new StringBuilder();
        text.AppendLine($"milter {n.Endpoint} (connected to {n.Remote})");
        text.AppendLine($"  protocol version:  {n.Version}");
        text.AppendLine($"  may:               {Words(Actions.Where(a => (n.Actions & a.Flag) != 0).Select(a => a.Words))}");
        text.AppendLine($"  does not want:     {Words(LeftOut.Where(f => (n.Steps & f.Flag) != 0).Select(f => f.Words))}");
        text.AppendLine($"  does not answer:   {Words(Unanswered.Where(f => (n.Steps & f.Flag) != 0).Select(f => f.Words))}");
        var extras = new List<string>();
        if ((n.Steps & ProtocolFlags.Skip) != 0)
        {
            extras.Add("SKIP (stop sending recipients, headers or body chunks it has seen enough of)");
        }

        if ((n.Steps & ProtocolFlags.RcptRejected) != 0)
        {
            extras.Add("recipients the MTA refused (RCPT_REJ)");
        }

        if ((n.Steps & ProtocolFlags.HeaderLeadingSpace) != 0)
        {
            extras.Add("header values with their leading space (HDR_LEADSPC)");
        }

        text.AppendLine($"  also understands:  {Words(extras)}");
        text.AppendLine($"  largest packet:    {n.MaxPacket} bytes");
        foreach (var (stage, name) in StageNames)
        {
            if (n.Macros.TryGetValue(stage, out var list))
            {
                text.AppendLine($"  macros at {name + ":",-16} {(list.Count == 0 ? "none" : string.Join(' ', list))}");
            }
        }

        if (n.Macros.Count == 0)
        {
            text.AppendLine("  macros:            the default lists (it asked for none of its own)");
        }

        foreach (var warning in n.Warnings)
        {
            text.AppendLine($"  warning:           {warning}");
        }

        return text.ToString();
    }

    private static string ToJson(MilterNegotiation n)
    {
        var macros = new JsonObject();
        foreach (var (stage, name) in StageNames)
        {
            if (n.Macros.TryGetValue(stage, out var list))
            {
                macros[name] = new JsonArray([.. list.Select(m => (JsonNode)m)]);
            }
        }

        var report = new JsonObject
        {
            ["milter"] = n.Endpoint,
            ["remote"] = n.Remote,
            ["version"] = n.Version,
            ["actions"] = n.DescribeActions(),
            ["steps"] = n.DescribeSteps(),
            ["maxPacket"] = n.MaxPacket,
            ["macros"] = macros,
            ["warnings"] = new JsonArray([.. n.Warnings.Select(w => (JsonNode)w)]),
        };
        return report.ToJsonString(JsonOutput.Options) + Environment.NewLine;
    }

    private static string Words(IEnumerable<string> words)
    {
        var list = words.ToList();
        return list.Count == 0 ? "-" : string.Join(", ", list);
    }
}
