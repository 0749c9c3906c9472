using System.Globalization;
using System.Net;
using System.Runtime.Loader;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Loading;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.SampleMilter;

namespace SpamFilterMilter.ReferenceHost;

/// <summary>
/// The embedded default: starts the bundled sample milter on loopback, writes an option file for it,
/// loads the plug-in by path as a host would, filters every sample message and prints each verdict
/// and action string.
/// </summary>
internal static class Demo
{
    /// <summary>The SMTP client every sample message pretends to come from.</summary>
    private static readonly ClientInfo SampleClient = ClientInfo.Tcp(IPAddress.Parse("192.0.2.10"), 49152, "client.example.net");

    public static async Task<int> RunAsync(string pluginPath, DirectoryInfo samples, int debug, TextWriter output, CancellationToken cancellationToken)
    {
        var files = samples.Exists ? samples.GetFiles("*.eml").OrderBy(f => f.Name, StringComparer.Ordinal).ToArray() : [];
        if (files.Length == 0)
        {
            await Console.Error.WriteLineAsync($"No sample messages (*.eml) in {samples.FullName}.").ConfigureAwait(false);
            return (int)ToolExitCode.Usage;
        }

        await using var milter = SampleMilterServer.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var work = Directory.CreateTempSubdirectory("spamfiltermilter-demo-");
        try
        {
            var optionFile = Path.Combine(work.FullName, "milter.opt");
            await File.WriteAllTextAsync(optionFile, string.Create(CultureInfo.InvariantCulture,
                $"! Written by the reference host's demo for the bundled sample milter.\nHOST=127.0.0.1\nPORT={milter.EndPoint.Port}\nDEBUG={debug}\nTIMEOUT=1000\n"),
                cancellationToken).ConfigureAwait(false);

            var loaded = PluginLoader.Load(pluginPath);
            await using var plugin = loaded.Factory.Create(new SpamFilterPluginContext { ConfigFilePath = optionFile });
            await output.WriteLineAsync($"sample milter listening on {milter.EndPoint}").ConfigureAwait(false);
            await output.WriteLineAsync($"plug-in {loaded.Path}").ConfigureAwait(false);
            await output.WriteLineAsync($"  loaded in load context \"{AssemblyLoadContext.GetLoadContext(plugin.GetType().Assembly)?.Name}\" as {plugin.Description}").ConfigureAwait(false);

            foreach (var file in files)
            {
                var bytes = await File.ReadAllBytesAsync(file.FullName, cancellationToken).ConfigureAwait(false);
                var envelope = Envelopes.FromMessage(bytes, from: null, to: []);
                if (envelope.Recipients.Count == 0)
                {
                    await Console.Error.WriteLineAsync($"{file.Name}: no To or Cc field to take the recipients from; skipped.").ConfigureAwait(false);
                    continue;
                }

                var verdict = await plugin.FilterMessageAsync(new MessageSubmission
                {
                    Client = SampleClient,
                    HeloName = SampleClient.HostName,
                    MailFrom = envelope.MailFrom,
                    Recipients = envelope.Recipients,
                    Message = new MemoryStream(bytes),
                    OptIn = ["spam"],
                }, cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync().ConfigureAwait(false);
                await output.WriteLineAsync($"{file.Name}: MAIL FROM:<{envelope.MailFrom}> RCPT TO:{string.Join(", ", envelope.Recipients.Select(t => $"<{t.Address}>"))}").ConfigureAwait(false);
                await output.WriteAsync(Describe(verdict)).ConfigureAwait(false);
                verdict.DisposeBodies(); // described: a replaced body's temporary file goes
            }

            return (int)ToolExitCode.Success;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>A verdict in a few readable lines.</summary>
    internal static string Describe(FilterVerdict verdict)
    {
        var text = new StringBuilder();
        var summary = verdict.Kind switch
        {
            VerdictKind.Default => "deliver normally, nothing to do",
            VerdictKind.Failure => $"failure: {verdict.Failure}",
            _ => verdict.Action.ToString().ToLowerInvariant(),
        };
        text.Append("  verdict: ").Append(verdict.Kind.ToString().ToLowerInvariant()).Append(" - ").Append(summary);
        if (verdict.DecidedAt is { } stage)
        {
            text.Append(" (decided at ").Append(stage.ToName()).Append(')');
        }

        text.AppendLine();
        if (verdict.Reply is { } reply)
        {
            text.Append("  reply:   ").AppendLine(reply.ToString().Replace("\r\n", "\n           ", StringComparison.Ordinal));
        }

        foreach (var recipient in verdict.Recipients.Where(r => r.Reply is not null))
        {
            text.Append("  rcpt:    <").Append(recipient.Address).Append("> ").AppendLine(recipient.Reply!.ToString());
        }

        if (verdict.QuarantineReason is { } reason)
        {
            text.Append("  quarantine: ").AppendLine(reason);
        }

        if (verdict.Text is { } action)
        {
            var lines = action.Split('\n');
            text.Append("  action:  ").AppendLine(lines[0]);
            foreach (var line in lines.Skip(1))
            {
                text.Append("           ").AppendLine(line);
            }
        }

        return text.ToString();
    }
}
