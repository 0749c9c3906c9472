using System.CommandLine;
using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Tools;

namespace SpamFilterMilter.ReferenceHost;

/// <summary>
/// <c>filter</c>: runs one message through the host library as an MTA would: option.dat slots, the channel
/// table, the opt-in directory, each plug-in loaded by path, each action run. Prints which slots were
/// selected for which recipients and why, each verdict, each action and its effect, and writes the resulting
/// message (one file per group of recipients when the groups ended differently).
/// </summary>
internal static class FilterCommand
{
    public static Command Create()
    {
        var options = new Option<FileInfo>("--options") { Description = "The option.dat to read (spamfilterX_* slots, LDAP_OPTINX, directory).", Required = true };
        var channels = new Option<FileInfo?>("--channels") { Description = "The channel table (imta.cnf-style channel definitions with their keywords)." };
        var envelope = new Option<FileInfo>("--envelope") { Description = "The envelope file: sender and recipients with their ESMTP parameters and channels, the source channel, the client and server, HELO, queue id, macros (etc/envelope.txt).", Required = true };
        var message = new Option<FileInfo>("--message") { Description = "The message (RFC 5322) to filter.", Required = true };
        var output = new Option<FileInfo>("--output") { Description = "Where to write the resulting message (name-1.eml, name-2.eml, ... when recipient groups differ).", Required = true };
        var plugins = new Option<DirectoryInfo>("--plugins")
        {
            Description = "The plug-in folder a relative spamfilterX_library is taken from.",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(AppContext.BaseDirectory, "plugins")),
        };
        var command = new Command("filter", "Filter one message as the MTA would: option.dat slots, opt-in, verdicts and actions.")
        {
            options, channels, envelope, message, output, plugins,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            new FilterArguments(result.GetValue(options)!, result.GetValue(channels), result.GetValue(envelope)!, result.GetValue(message)!, result.GetValue(output)!, result.GetValue(plugins)!),
            Console.Out, Console.Error, cancellationToken));
        return command;
    }

    /// <summary>
    /// Runs the command (<see cref="ToolExitCode"/>): 0 when the message was filtered by every slot's plug-in (whatever the
    /// outcome); 1 for a configuration or file error, and when a slot's plug-in could not be loaded or created (NOT LOADED:
    /// the message is still filtered and written, with that slot failing as <c>spamfilterX_optional</c> says, as the MTA would).
    /// </summary>
    public static async Task<int> RunAsync(FilterArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            var options = SpamFilterHostOptions.Load(arguments.Options.FullName, arguments.Plugins.FullName);
            var channels = arguments.Channels is null ? null : ChannelTable.Load(arguments.Channels.FullName);
            var envelope = EnvelopeFile.Load(arguments.Envelope.FullName);
            var bytes = await File.ReadAllBytesAsync(arguments.Message.FullName, cancellationToken).ConfigureAwait(false);

            await output.WriteLineAsync($"option.dat {options.FilePath}: {options.Slots.Count} slot(s), directory {options.Directory}").ConfigureAwait(false);
            foreach (var note in options.Notes)
            {
                await output.WriteLineAsync($"  note: {note}").ConfigureAwait(false);
            }

            await using var host = SpamFilterHost.Create(options, channels);
            var notLoaded = host.Slots.Count(s => s.Plugin is null);
            foreach (var slot in host.Slots)
            {
                var state = slot.Plugin is null ? $"NOT LOADED: {slot.LoadFailure}" : $"loaded as {slot.Plugin.Description}";
                await output.WriteLineAsync($"slot {slot.Options.Number}: {slot.Options.Library} ({slot.Options.ConfigFile}) {state}").ConfigureAwait(false);
                // LoadFailure is the first problem; the option file's other bad lines follow, to be mended in one go.
                if (slot.LoadError is SpamFilterConfigurationException problem)
                {
                    foreach (var more in problem.MoreProblems)
                    {
                        await output.WriteLineAsync($"  also: {more.Message}").ConfigureAwait(false);
                    }
                }
            }

            await output.WriteLineAsync().ConfigureAwait(false);
            await output.WriteLineAsync($"{arguments.Message.Name}: MAIL FROM:{EnvelopeArgument.Format(envelope.Envelope.MailFrom, envelope.Envelope.MailParameters)}{Via(envelope.SourceChannel, "from channel")}").ConfigureAwait(false);
            foreach (var recipient in envelope.Envelope.Recipients)
            {
                await output.WriteLineAsync($"  RCPT TO:{EnvelopeArgument.Format(recipient.Address, recipient.Parameters)}{Via(envelope.Channels.GetValueOrDefault(recipient.Address), "to channel")}").ConfigureAwait(false);
            }

            var result = await host.FilterAsync(envelope.ToMessage(bytes), cancellationToken).ConfigureAwait(false);
            // The log ends with one "result for" line per group; the details below say more.
            foreach (var line in result.Log.Where(l => !l.StartsWith("result for ", StringComparison.Ordinal)))
            {
                await output.WriteLineAsync("  " + line.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\n      ", StringComparison.Ordinal)).ConfigureAwait(false);
            }

            await output.WriteLineAsync().ConfigureAwait(false);
            for (var i = 0; i < result.Deliveries.Count; i++)
            {
                var delivery = result.Deliveries[i];
                var path = result.Deliveries.Count == 1 ? arguments.Output.FullName : Numbered(arguments.Output.FullName, i + 1);
                await File.WriteAllBytesAsync(path, delivery.Message, cancellationToken).ConfigureAwait(false);
                await output.WriteAsync(Describe(delivery, path)).ConfigureAwait(false);
            }

            if (notLoaded > 0)
            {
                await error.WriteLineAsync($"{notLoaded} slot(s) NOT LOADED: their plug-in could not be loaded or created (check-config says why)").ConfigureAwait(false);
                return (int)ToolExitCode.ProblemsFound;
            }

            return (int)ToolExitCode.Success;
        }
        catch (SpamFilterConfigurationException e)
        {
            await ConfigurationProblems.WriteAsync(e, error).ConfigureAwait(false);
            return (int)ToolExitCode.ProblemsFound;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return (int)ToolExitCode.ProblemsFound;
        }
    }

    private static string Via(string? channel, string words) => channel is null ? string.Empty : $" ({words} {channel})";

    private static string Numbered(string path, int number) =>
        Path.Combine(Path.GetDirectoryName(path)!, $"{Path.GetFileNameWithoutExtension(path)}-{number.ToString(CultureInfo.InvariantCulture)}{Path.GetExtension(path)}");

    private static string Describe(DeliveryResult delivery, string path)
    {
        var text = new StringBuilder();
        text.Append("result for ").Append(string.Join(", ", delivery.Recipients.Select(r => $"<{r}>"))).Append(": ")
            .Append(delivery.Disposition.ToString().ToLowerInvariant());
        if (delivery.Reply is { } reply)
        {
            text.Append(' ').Append(reply.ToString().Replace("\r\n", " / ", StringComparison.Ordinal));
        }

        if (delivery.QuarantineReason is { } reason)
        {
            text.Append(" (").Append(reason).Append(')');
        }

        text.AppendLine();
        if (delivery.Disposition is Disposition.Deliver or Disposition.Quarantine)
        {
            var where = new List<string>();
            if (delivery.Keep)
            {
                where.Add("inbox");
            }

            where.AddRange(delivery.Folders.Select(f => $"folder \"{f}\""));
            where.AddRange(delivery.Redirects.Select(r => $"redirect <{r}>"));
            text.Append("  to:       ").AppendLine(string.Join(", ", where));
            if (delivery.Tags.Count > 0)
            {
                text.Append("  tags:     ").AppendLine(string.Join(' ', delivery.Tags));
            }
        }

        text.Append("  envelope: MAIL FROM:").Append(EnvelopeArgument.Format(delivery.Envelope.MailFrom, delivery.Envelope.MailParameters));
        foreach (var recipient in delivery.Envelope.Recipients)
        {
            text.Append(" RCPT TO:").Append(EnvelopeArgument.Format(recipient.Address, recipient.Parameters));
        }

        text.AppendLine();
        foreach (var refused in delivery.RefusedRecipients)
        {
            text.Append("  refused:  <").Append(refused.Address).Append("> ").AppendLine(refused.Reply.ToString());
        }

        text.Append("  slots:    ").AppendLine(delivery.Slots.Count == 0 ? "none" : string.Join(", ", delivery.Slots));
        text.Append("  wrote ").Append(path).Append(" (").Append(delivery.Message.Length.ToString(CultureInfo.InvariantCulture)).AppendLine(" bytes)");
        return text.ToString();
    }
}

/// <summary>The files the filter command reads and writes.</summary>
internal sealed record FilterArguments(FileInfo Options, FileInfo? Channels, FileInfo Envelope, FileInfo Message, FileInfo Output, DirectoryInfo Plugins);
