using System.CommandLine;
using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Cli;

/// <summary>
/// Which milter a command talks to: an option file (--config), or --host and --port, each with
/// further option-file options given as --option NAME=VALUE. Either way the options are validated
/// exactly as the plug-in validates its option file.
/// </summary>
internal sealed class MilterTarget
{
    /// <summary>What a configuration error names as its file when an option the command line gave (--host, --port, --option, a flag) is wrong.</summary>
    public const string CommandLineSource = "(command line)";

    public Option<FileInfo?> Config { get; } = new("--config") { Description = "The milter option file (HOST, PORT, TIMEOUT, …), as spamfilterX_config_file names it." };

    public Option<string?> Host { get; } = new("--host") { Description = "Milter host name or address, or unix:/path (instead of --config)." };

    public Option<int?> Port { get; } = new("--port") { Description = "Milter TCP port (with --host)." };

    public Option<string[]> Settings { get; } = new("--option")
    {
        Description = "Another option-file option, NAME=VALUE (repeatable), e.g. --option IO_MODE=blocking --option TIMEOUT=500.",
        AllowMultipleArgumentsPerToken = false,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Config);
        command.Options.Add(Host);
        command.Options.Add(Port);
        command.Options.Add(Settings);
    }

    /// <summary>
    /// The validated options; throws a configuration error naming what is wrong. <paramref name="flags"/> are options a
    /// command sets with flags of its own (check's --debug is DEBUG): they win over the option file and --option, are
    /// checked by the same parser, and a wrong one is named by its flag.
    /// </summary>
    public MilterOptions Resolve(ParseResult result, IReadOnlyList<(string Flag, string Option, string Value)>? flags = null)
    {
        flags ??= [];
        var config = result.GetValue(Config);
        var host = result.GetValue(Host);
        var extra = result.GetValue(Settings) ?? [];
        if (config is not null && host is not null)
        {
            throw new ArgumentException("Give either --config or --host, not both.");
        }

        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (config is not null)
        {
            var fromFile = MilterOptions.Load(config.FullName);
            if (extra.Length == 0 && flags.Count == 0)
            {
                return fromFile;
            }

            values = new ConfigurationBuilder().AddMilterOptionFile(config.FullName).Build()
                .AsEnumerable().Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
            // The file alone is valid (Load above), so whatever is wrong from here on came with --option or a flag: the
            // command line's mistake (exit 2), not the file's, which is not to be named for a value it does not hold.
        }
        else if (host is not null)
        {
            values["HOST"] = host;
            if (result.GetValue(Port) is { } port)
            {
                values["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        else
        {
            throw new ArgumentException("Say which milter: --config FILE, or --host HOST --port PORT.");
        }

        var given = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var setting in extra)
        {
            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                // Not echoed, as the option file does not show a line without '=': "SOCKS_PASSWORDhunter2" may be a password.
                throw new ArgumentException(equals == 0
                    ? "--option: expected NAME=VALUE, but one has no name before its '='."
                    : "--option: expected NAME=VALUE, but one has no '=' (its text is not shown: it may hold a password).");
            }

            var name = setting[..equals].Trim();
            if (!given.Add(name))
            {
                throw new ArgumentException($"--option {name}: given twice.");
            }

            values[name] = setting[(equals + 1)..].Trim();
        }

        foreach (var (_, option, value) in flags)
        {
            values[option] = value;
        }

        var portGiven = values.ContainsKey("PORT");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        try
        {
            return MilterOptions.FromConfiguration(configuration, CommandLineSource);
        }
        catch (SpamFilterConfigurationException e) when (e.MoreProblems.Count == 0 && flags.FirstOrDefault(f => f.Option == e.Option) is { Flag: not null } flag)
        {
            throw new ArgumentException($"{flag.Flag}: {e.Problem}", e);
        }
        catch (SpamFilterConfigurationException e) when (e.MoreProblems.Count == 0 && e.Option == "PORT" && host is not null && !portGiven)
        {
            // Nothing gave PORT, so what is wrong with it is that it is missing: say it the command line's way.
            throw new ArgumentException($"--host {host} needs --port, the milter's TCP port (or --host unix:/path for a UNIX socket).", e);
        }
    }
}
