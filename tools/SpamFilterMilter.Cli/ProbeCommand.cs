using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Plugin;
using SpamFilterMilter.Protocol;

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

    private static readonly string[] StageNames = ["CONNECT", "HELO", "MAIL", "RCPT", "DATA", "end of message", "end of headers"];

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
            var core = new MilterPluginCore(options, NullLogger.Instance);
            NegotiatedOptions negotiated;
            string remote;
            try
            {
                await using var connection = await core.Connector.ConnectAsync(cancellationToken).ConfigureAwait(false);
                remote = connection.Remote;
                await using var session = new MilterSession(connection.Stream, core.EndpointName, core.SessionSettings, NullLogger.Instance, connection);
                negotiated = await session.NegotiateAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (MilterProtocolException e)
            {
                await terminal.Error.WriteLineAsync($"milter {options.EndpointName}: {e.Stage}: {e.Cause}").ConfigureAwait(false);
                return CommandLine.MilterFailed;
            }

            await terminal.Output.WriteAsync(result.GetValue(json) ? ToJson(options.EndpointName, remote, negotiated) : ToText(options.EndpointName, remote, negotiated)).ConfigureAwait(false);
            return CommandLine.Success;
        });
        return command;
    }

    internal static string ToText(string endpoint, string remote, NegotiatedOptions n)
    {
        var text = new StringBuilder();
        text.AppendLine($"milter {endpoint} (connected to {remote})");
        text.AppendLine($"  protocol version:  {n.Version}");
        text.AppendLine($"  may:               {Words(Actions.Where(a => (n.Actions & a.Flag) != 0).Select(a => a.Words))}");
        text.AppendLine($"  does not want:     {Words(LeftOut.Where(f => n.Has(f.Flag)).Select(f => f.Words))}");
        text.AppendLine($"  does not answer:   {Words(Unanswered.Where(f => n.Has(f.Flag)).Select(f => f.Words))}");
        var extras = new List<string>();
        if (n.Has(ProtocolFlags.Skip))
        {
            extras.Add("SKIP (stop sending recipients, headers or body chunks it has seen enough of)");
        }

        if (n.Has(ProtocolFlags.RcptRejected))
        {
            extras.Add("recipients the MTA refused (RCPT_REJ)");
        }

        if (n.Has(ProtocolFlags.HeaderLeadingSpace))
        {
            extras.Add("header values with their leading space (HDR_LEADSPC)");
        }

        text.AppendLine($"  also understands:  {Words(extras)}");
        text.AppendLine($"  largest packet:    {n.MaxPayload} bytes");
        for (var stage = 0; stage < n.MacroLists.Length; stage++)
        {
            if (n.MacroLists[stage] is { } list)
            {
                text.AppendLine($"  macros at {StageNames[stage] + ":",-16} {(list.Count == 0 ? "none" : string.Join(' ', list))}");
            }
        }

        if (n.MacroLists.All(l => l is null))
        {
            text.AppendLine("  macros:            the default lists (it asked for none of its own)");
        }

        foreach (var warning in n.Warnings)
        {
            text.AppendLine($"  warning:           {warning}");
        }

        return text.ToString();
    }

    private static string ToJson(string endpoint, string remote, NegotiatedOptions n)
    {
        var macros = new JsonObject();
        for (var stage = 0; stage < n.MacroLists.Length; stage++)
        {
            if (n.MacroLists[stage] is { } list)
            {
                macros[StageNames[stage]] = new JsonArray([.. list.Select(m => (JsonNode)m)]);
            }
        }

        var report = new JsonObject
        {
            ["milter"] = endpoint,
            ["remote"] = remote,
            ["version"] = n.Version,
            ["actions"] = MilterConstants.Describe(n.Actions),
            ["steps"] = MilterConstants.Describe(n.Protocol),
            ["maxPacket"] = n.MaxPayload,
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
