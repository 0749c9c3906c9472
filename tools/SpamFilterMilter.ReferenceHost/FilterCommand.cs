using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

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
        var envelope = new Option<FileInfo>("--envelope") { Description = "The envelope file: source channel, client, HELO, sender, recipients and their channels.", Required = true };
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

    /// <summary>Runs the command; 0 when the message was filtered (whatever the outcome), 1 for a configuration or file error.</summary>
    public static async Task<int> RunAsync(FilterArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            var options = HostOptions.Load(arguments.Options.FullName, arguments.Plugins.FullName);
            var channels = arguments.Channels is null ? null : ChannelTable.Load(arguments.Channels.FullName);
            var envelope = EnvelopeFile.Load(arguments.Envelope.FullName);
            var bytes = await File.ReadAllBytesAsync(arguments.Message.FullName, cancellationToken).ConfigureAwait(false);

            await output.WriteLineAsync($"option.dat {options.FilePath}: {options.Slots.Count} slot(s), directory {options.Directory}").ConfigureAwait(false);
            foreach (var note in options.Notes)
            {
                await output.WriteLineAsync($"  note: {note}").ConfigureAwait(false);
            }

            await using var host = SpamFilterHost.Create(options, channels);
            foreach (var slot in host.Slots)
            {
                var state = slot.Plugin is null ? $"NOT LOADED: {slot.LoadFailure}" : $"loaded as {slot.Plugin.Description}";
                await output.WriteLineAsync($"slot {slot.Options.Number}: {slot.Options.Library} ({slot.Options.ConfigFile}) {state}").ConfigureAwait(false);
            }

            await output.WriteLineAsync().ConfigureAwait(false);
            await output.WriteLineAsync($"{arguments.Message.Name}: MAIL FROM:<{envelope.Envelope.MailFrom}>{Via(envelope.SourceChannel, "from channel")}").ConfigureAwait(false);
            foreach (var recipient in envelope.Envelope.Recipients)
            {
                await output.WriteLineAsync($"  RCPT TO:<{recipient.Address}>{Via(envelope.Channels.GetValueOrDefault(recipient.Address), "to channel")}").ConfigureAwait(false);
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

            return 0;
        }
        catch (SpamFilterConfigurationException e)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
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

        text.Append("  envelope: MAIL FROM:<").Append(delivery.Envelope.MailFrom).Append('>');
        foreach (var recipient in delivery.Envelope.Recipients)
        {
            text.Append(" RCPT TO:<").Append(recipient.Address.Trim('<', '>')).Append('>');
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

/// <summary>
/// The envelope of one message, for the filter command. One item per line; <c>!</c> starts a comment line:
/// <code>
/// source tcp_local                         the channel the message came in on
/// client 192.0.2.10 client.example.net     the SMTP client's address and (optional) name
/// helo client.example.net
/// from &lt;alice@example.org&gt;                 the envelope sender (&lt;&gt; for the null sender)
/// to &lt;bob@example.com&gt; ims-ms               a recipient and (optional) the channel it is routed to
/// </code>
/// </summary>
internal static class EnvelopeFile
{
    public static EnvelopeFileContent Load(string path)
    {
        var lines = File.ReadAllLines(path);
        string? source = null, helo = null, from = null;
        ClientInfo? client = null;
        var recipients = new List<EnvelopeRecipient>();
        var channels = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < lines.Length; i++)
        {
            var words = lines[i].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || words[0].StartsWith('!'))
            {
                continue;
            }

            var (keyword, count) = (words[0].ToLowerInvariant(), words.Length - 1);
            switch (keyword)
            {
                case "source" when count == 1:
                    source = words[1];
                    break;
                case "client" when count is 1 or 2:
                    client = IPAddress.TryParse(words[1], out var address)
                        ? ClientInfo.Tcp(address, 0, count == 2 ? words[2] : null)
                        : throw new SpamFilterConfigurationException(path, i + 1, "client", $"\"{words[1]}\" is not an IP address");
                    break;
                case "helo" when count == 1:
                    helo = words[1];
                    break;
                case "from" when count == 1:
                    from = words[1].Trim('<', '>');
                    break;
                case "to" when count is 1 or 2:
                    var recipient = words[1].Trim('<', '>');
                    if (recipient.Length == 0)
                    {
                        throw new SpamFilterConfigurationException(path, i + 1, "to", "the recipient is empty");
                    }

                    recipients.Add(new EnvelopeRecipient(recipient));
                    if (count == 2)
                    {
                        channels[recipient] = words[2];
                    }

                    break;
                case "source" or "client" or "helo" or "from" or "to":
                    throw new SpamFilterConfigurationException(path, i + 1, keyword, "wrong number of values (see the comment at the top of etc/envelope.txt)");
                default:
                    throw new SpamFilterConfigurationException(path, i + 1, words[0], "unknown keyword: expected source, client, helo, from or to");
            }
        }

        if (from is null || recipients.Count == 0)
        {
            throw new SpamFilterConfigurationException(path, 0, from is null ? "from" : "to", "an envelope needs a from line and at least one to line");
        }

        return new EnvelopeFileContent(new Envelope(from, null, recipients), source, channels, client, helo);
    }
}

/// <summary>What an envelope file says.</summary>
internal sealed record EnvelopeFileContent(Envelope Envelope, string? SourceChannel, IReadOnlyDictionary<string, string> Channels, ClientInfo? Client, string? HeloName)
{
    /// <summary>The message to filter: <paramref name="bytes"/> with this envelope.</summary>
    public HostMessage ToMessage(byte[] bytes) => new()
    {
        Message = bytes,
        Envelope = Envelope,
        SourceChannel = SourceChannel,
        DestinationChannels = Channels,
        Client = Client,
        HeloName = HeloName,
        Macros = new Dictionary<string, string> { ["j"] = "mx.example.com", ["{daemon_name}"] = "reference-host" },
    };
}
