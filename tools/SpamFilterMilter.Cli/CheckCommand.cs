using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Cli;

/// <summary>
/// check: runs one message through a milter, stage by stage as an SMTP server would, and shows each
/// stage's decision, the verdict, the action string and the edited message (or a diff of it).
/// Exit status (<see cref="ToolExitCode"/>): 0 the milter gave a verdict, 1 the milter failed or its option file is wrong, 2 bad usage.
/// </summary>
internal static class CheckCommand
{
    public static Command Create(Terminal terminal)
    {
        var target = new MilterTarget();
        var message = new Argument<string>("message") { Description = "The message file (RFC 5322), or - for standard input.", DefaultValueFactory = _ => "-" };
        message.Validators.Add(result =>
        {
            // System.CommandLine takes an unknown option for the message's path when that is still free:
            // say what it says for any other unknown token, unless a file of that name is really there.
            if (result.GetValueOrDefault<string>() is { Length: > 1 } path && path[0] == '-' && !File.Exists(path))
            {
                result.AddError($"Unrecognized command or argument '{path}'.");
            }
        });
        var facts = new SessionOptions();
        var json = new Option<bool>("--json") { Description = "Print one JSON object, for scripts." };
        var diff = new Option<bool>("--diff") { Description = "Show the edited message as a diff of the original." };
        var debug = new Option<int?>("--debug") { Description = "The plug-in's DEBUG level on standard error (0, 1, 2), in place of the option file's DEBUG." };

        var command = new Command("check", "Run one message through a milter and show each stage's decision, the verdict, the action string and the edited message.")
        {
            message, json, diff, debug,
        };
        facts.AddTo(command);
        target.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            // --debug is DEBUG, checked as the option file's is; without it, the option file's (or --option DEBUG=) counts.
            var options = target.Resolve(result, result.GetValue(debug) is { } level ? [("--debug", "DEBUG", level.ToString(CultureInfo.InvariantCulture))] : null);

            var session = facts.Resolve(result); // before the message is read: a malformed option is never sent
            var bytes = await ReadMessageAsync(result.GetValue(message)!, terminal, cancellationToken).ConfigureAwait(false);
            var report = await RunAsync(options, terminal.Logging, bytes, session.EnvelopeOf(bytes), session.Client, session.Helo, session.Macros,
                cancellationToken).ConfigureAwait(false);
            try
            {
                await terminal.Output.WriteAsync(result.GetValue(json) ? report.ToJson(bytes) : report.ToText(bytes, result.GetValue(diff))).ConfigureAwait(false);
                return report.Verdict.Kind == VerdictKind.Failure ? (int)ToolExitCode.ProblemsFound : (int)ToolExitCode.Success;
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
            // .NET's words would be "Access to the path … is denied" for a folder and "Could not find file" for nothing there.
            return Directory.Exists(path) ? throw new IOException($"{path}: is a folder, not a message file")
                : !File.Exists(path) ? throw new FileNotFoundException($"{path}: no such message file", path)
                : await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }

        using var buffer = new MemoryStream();
        await using var input = terminal.Input();
        await input.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>One stage as the SMTP server played it, and what the milter said.</summary>
    internal sealed record StageLine(string Stage, string Argument, StageDecision Decision, double Milliseconds);

    internal static async Task<CheckReport> RunAsync(MilterOptions options, Func<int, ILoggerFactory> logging, byte[] message, Envelope envelope, ClientInfo client,
        string? helo, IReadOnlyDictionary<string, string> macros, CancellationToken cancellationToken)
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
            MailParameters = envelope.MailParameters,
            Recipients = envelope.Recipients,
            Message = new MemoryStream(message, writable: false),
            Macros = macros,
        };

        // The plug-in's own whole-message filter plays the stages, so what check shows is exactly what
        // a host calling FilterMessageAsync gets; the observer only records them.
        var stages = new List<StageLine>();
        var recipients = 0; // the RCPT stages come in the envelope's order
        using var loggerFactory = logging(options.Debug);
        await using var plugin = new MilterPlugin(options, loggerFactory);
        var verdict = await plugin.FilterMessageAsync(submission,
            stage => stages.Add(new StageLine(stage.Stage.ToName(), Argument(stage, client, stage.Stage switch
            {
                FilterStage.Mail => envelope.MailParameters,
                FilterStage.Rcpt when recipients < envelope.Recipients.Count => envelope.Recipients[recipients++].Parameters,
                _ => [],
            }), stage.Decision, stage.Elapsed.TotalMilliseconds)),
            cancellationToken).ConfigureAwait(false);
        return new CheckReport(plugin.Description, stages, verdict, MessageEditor.Apply(message, envelope, verdict.Edits), envelope);
    }

    /// <summary>A stage's argument as the SMTP server had it: MAIL's and RCPT's with their ESMTP parameters, as SMTP writes them.</summary>
    private static string Argument(StageObservation stage, ClientInfo client, IReadOnlyList<string> parameters) => stage.Stage switch
    {
        FilterStage.Connect => $"{client.HostName ?? $"[{client.Address}]"} {client.Address}:{client.Port}",
        FilterStage.Mail or FilterStage.Rcpt => EnvelopeArgument.Format(stage.Subject ?? "", parameters),
        FilterStage.Body => $"{stage.Bytes} bytes",
        _ => stage.Subject ?? "",
    };
}
