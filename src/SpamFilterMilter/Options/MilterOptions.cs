using System.Globalization;
using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Policy;
using SpamFilterMilter.Protocol;

namespace SpamFilterMilter.Options;

/// <summary>The packet size offered with SMFIP_MDS_*.</summary>
internal enum OfferMds
{
    /// <summary>Offer nothing: 64 KiB - 1, what sendmail and Postfix use.</summary>
    None,

    /// <summary>Offer SMFIP_MDS_256K (256 KiB - 1).</summary>
    Size256K,

    /// <summary>Offer SMFIP_MDS_1M (1 MiB - 1).</summary>
    Size1M,
}

/// <summary>Who resolves HOST when connecting through SOCKS.</summary>
internal enum SocksResolve
{
    /// <summary>The plug-in: each address is asked of the SOCKS server in DNS order, as without SOCKS.</summary>
    Local,

    /// <summary>The SOCKS server (the name is sent as is, for servers that see a different DNS).</summary>
    Remote,
}

/// <summary>How the plug-in waits for the milter's replies.</summary>
internal enum IoMode
{
    /// <summary>Asynchronous I/O: a waiting call holds no thread. The safe default for any host.</summary>
    Async,

    /// <summary>
    /// Blocking I/O on the calling thread, as sendmail and Postfix do: about a third less CPU per
    /// message (docs/performance.md), but a slow milter holds the caller's thread for up to TIMEOUT.
    /// For hosts that give each SMTP session its own thread.
    /// </summary>
    Blocking,
}

/// <summary>
/// The validated contents of a milter option file (<c>spamfilterX_config_file</c>). Every option is
/// described once in <see cref="Descriptors"/>: name, default and parser. Unknown options, bad
/// numbers and missing required options are errors naming the file, line and option.
/// </summary>
internal sealed class MilterOptions
{
    /// <summary>Name or address of the milter host; each address it resolves to is tried in DNS order.</summary>
    public string Host { get; set; } = string.Empty;

    /// <summary>TCP port of the milter (not used for a UNIX-domain socket).</summary>
    public int Port { get; set; }

    /// <summary>The milter's UNIX-domain socket (HOST=unix:/path or local:/path); null for TCP.</summary>
    public string? UnixSocketPath { get; set; }

    /// <summary>0: warnings and failures; 1: one line per message; 2: also every packet, decoded and in hex.</summary>
    public int Debug { get; set; }

    /// <summary>The session's own defaults: the options start from them, so the two cannot drift apart.</summary>
    private static readonly MilterSessionSettings SessionDefaults = new();

    /// <summary>Bound on every connect, write and read on the milter connection.</summary>
    public TimeSpan Timeout { get; set; } = SessionDefaults.Timeout;

    /// <summary>Bound on connecting, all DNS addresses together (each gets an equal share of what is left).</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout ?? Timeout;
        set => _connectTimeout = value;
    }

    private TimeSpan? _connectTimeout;

    /// <summary>The time the milter may take over one message, its waits added up; PROGRESS does not extend it.</summary>
    public TimeSpan MessageTimeout { get; set; } = SessionDefaults.MessageTimeout;

    /// <summary>Most packets a milter may send in answer to one event.</summary>
    public int MaxReplies { get; set; } = SessionDefaults.MaxRepliesPerEvent;

    /// <summary>Most modifications a milter may make to one message.</summary>
    public int MaxEdits { get; set; } = SessionDefaults.MaxEditsPerMessage;

    /// <summary>Largest packet payload accepted from the milter, in bytes.</summary>
    public int MaxPacket { get; set; } = SessionDefaults.MaxReplyPacket;

    /// <summary>Largest replacement body accepted from the milter, in bytes.</summary>
    public int MaxReplacementBody { get; set; } = SessionDefaults.MaxReplacementBodyBytes;

    /// <summary>Longest SMTP reply text accepted from the milter, in characters.</summary>
    public int MaxReplyText { get; set; } = SessionDefaults.MaxReplyText;

    /// <summary>Which larger packet size to offer in OPTNEG (SMFIP_MDS_256K / SMFIP_MDS_1M); the milter decides.</summary>
    public OfferMds OfferMds { get; set; } = OfferMds.None;

    /// <summary>Negotiated connections kept for reuse between sessions (SMFIC_QUIT_NC); 0 keeps none.</summary>
    public int PoolSize { get; set; }

    /// <summary>How long a parked connection may wait before it is closed instead of reused.</summary>
    public TimeSpan PoolIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>SOCKS5 server to connect through; null to connect directly.</summary>
    public string? SocksHost { get; set; }

    /// <summary>Port of the SOCKS5 server.</summary>
    public int SocksPort { get; set; } = 1080;

    /// <summary>Password for SOCKS5 username/password authentication. Never logged.</summary>
    public string? SocksPassword { get; set; }

    /// <summary>User name for SOCKS5 username/password authentication: the process's user unless set.</summary>
    public string SocksUser { get; set; } = Environment.UserName;

    /// <summary>Whether HOST is resolved here (each address tried through the SOCKS server in turn) or by the SOCKS server.</summary>
    public SocksResolve SocksResolve { get; set; } = SocksResolve.Local;

    /// <summary>How the plug-in waits for the milter: asynchronously (default) or in a blocking read.</summary>
    public IoMode IoMode { get; set; } = IoMode.Async;

    /// <summary>What every message gets when the milter cannot be used: tempfail (default), accept or reject.</summary>
    public FailureAction FailureAction { get; set; } = FailureAction.TempFail;

    /// <summary>Where these options came from (for log lines and errors); "(built in)" when made in code.</summary>
    public string SourcePath { get; set; } = "(built in)";

    /// <summary>The milter endpoint as log lines name it.</summary>
    public string EndpointName => UnixSocketPath is { } path ? "unix:" + path
        : Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Reads and validates an option file.</summary>
    public static MilterOptions Load(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        var source = new OptionFileConfigurationSource(fullPath);
        var root = new ConfigurationBuilder().Add(source).Build();
        var provider = root.Providers.OfType<OptionFileConfigurationProvider>().Single();
        return FromConfiguration(root, fullPath, name => provider.Lines.TryGetValue(name, out var line) ? line : 0);
    }

    /// <summary>
    /// Validates options from any configuration (the option file provider, or in-memory values in
    /// tests and tools). <paramref name="lineOf"/> tells the line an option came from, 0 if unknown.
    /// </summary>
    public static MilterOptions FromConfiguration(IConfiguration configuration, string sourcePath, Func<string, int> lineOf)
    {
        var options = new MilterOptions { SourcePath = sourcePath };
        foreach (var entry in configuration.GetChildren())
        {
            var name = entry.Key.ToUpperInvariant();
            if (!Descriptors.TryGetValue(name, out var descriptor))
            {
                throw new SpamFilterConfigurationException(sourcePath, lineOf(entry.Key), name, $"unknown option (known options: {string.Join(", ", Descriptors.Keys)})");
            }

            try
            {
                descriptor.Apply(options, entry.Value ?? string.Empty);
            }
            catch (FormatException e)
            {
                throw new SpamFilterConfigurationException(sourcePath, lineOf(entry.Key), name, e.Message, e);
            }
        }

        foreach (var descriptor in Descriptors.Values.Where(d => d.Required))
        {
            if (configuration[descriptor.Name] is null or "" && !(descriptor.Name == "PORT" && options.UnixSocketPath is not null))
            {
                throw new SpamFilterConfigurationException(sourcePath, 0, descriptor.Name, "required option is missing");
            }
        }

        if (options.UnixSocketPath is not null)
        {
            if (configuration["PORT"] is { Length: > 0 })
            {
                throw new SpamFilterConfigurationException(sourcePath, lineOf("PORT"), "PORT", "does not apply: HOST names a UNIX-domain socket");
            }

            if (options.SocksHost is not null)
            {
                throw new SpamFilterConfigurationException(sourcePath, lineOf("SOCKS_HOST"), "SOCKS_HOST", "a SOCKS server cannot reach a UNIX-domain socket");
            }
        }

        return options;
    }

    /// <summary>One option: its name, whether it is required, its default as documented, and how it is parsed.</summary>
    internal sealed record Descriptor(string Name, bool Required, string Default, string Summary, Action<MilterOptions, string> Apply);

    /// <summary>Every option the file may hold, in documentation order.</summary>
    internal static IReadOnlyDictionary<string, Descriptor> Descriptors { get; } = new[]
    {
        new Descriptor("HOST", true, "(required)", "Milter host name or address; every DNS address is tried in order. unix:/path for a UNIX-domain socket.",
            (o, v) =>
            {
                if (v.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) || v.StartsWith("local:", StringComparison.OrdinalIgnoreCase))
                {
                    var path = v[(v.IndexOf(':', StringComparison.Ordinal) + 1)..];
                    o.UnixSocketPath = path.StartsWith('/') ? path : throw new FormatException($"\"{path}\" is not an absolute socket path");
                    o.Host = v;
                }
                else
                {
                    o.Host = ParseHost(v);
                }
            }),
        new Descriptor("PORT", true, "(required)", "Milter TCP port.",
            (o, v) => o.Port = ParseInteger(v, 1, 65535)),
        new Descriptor("DEBUG", false, "0", "0 warnings and failures, 1 one line per message, 2 every packet.",
            (o, v) => o.Debug = ParseInteger(v, 0, 2)),
        new Descriptor("TIMEOUT", false, "3600", "Hundredths of a second allowed for each connect, write and read.",
            (o, v) => o.Timeout = Hundredths(v)),
        new Descriptor("SOCKS_HOST", false, "(none)", "SOCKS5 server to connect through.",
            (o, v) => o.SocksHost = v.Length == 0 ? null : ParseHost(v)),
        new Descriptor("SOCKS_PORT", false, "1080", "SOCKS5 server port.",
            (o, v) => o.SocksPort = ParseInteger(v, 1, 65535)),
        new Descriptor("SOCKS_PASSWORD", false, "(none)", "Password for SOCKS5 username/password authentication.",
            (o, v) => o.SocksPassword = v.Length == 0 ? null : v),
        new Descriptor("CONNECT_TIMEOUT", false, "TIMEOUT", "Hundredths of a second allowed for connecting, all DNS addresses together.",
            (o, v) => o.ConnectTimeout = Hundredths(v)),
        new Descriptor("MESSAGE_TIMEOUT", false, "30000", "Hundredths of a second the milter may take over one message, all its replies together.",
            (o, v) => o.MessageTimeout = Hundredths(v)),
        new Descriptor("MAX_REPLIES", false, "10000", "Most packets a milter may send in answer to one event (PROGRESS included).",
            (o, v) => o.MaxReplies = ParseInteger(v, 1, 1_000_000)),
        new Descriptor("MAX_EDITS", false, "1000", "Most modifications a milter may make to one message.",
            (o, v) => o.MaxEdits = ParseInteger(v, 1, 1_000_000)),
        new Descriptor("MAX_PACKET", false, "1048575", "Largest packet accepted from the milter, in bytes.",
            (o, v) => o.MaxPacket = ParseInteger(v, 65_535, 16 * 1024 * 1024)),
        new Descriptor("MAX_REPLACEMENT_BODY", false, "67108864", "Largest replacement body accepted from the milter, in bytes.",
            (o, v) => o.MaxReplacementBody = ParseInteger(v, 0, int.MaxValue)),
        new Descriptor("MAX_REPLY_TEXT", false, "32768", "Longest SMTP reply text accepted from the milter, in characters.",
            (o, v) => o.MaxReplyText = ParseInteger(v, 3, 1_048_576)),
        new Descriptor("OFFER_MDS", false, "none", "Offer the milter larger packets: none (64 KiB - 1), 256k or 1m; used only if the milter accepts.",
            (o, v) => o.OfferMds = v.ToLowerInvariant() switch
            {
                "none" => OfferMds.None,
                "256k" => OfferMds.Size256K,
                "1m" => OfferMds.Size1M,
                _ => throw new FormatException($"\"{v}\" is not one of: none, 256k, 1m"),
            }),
        new Descriptor("POOL_SIZE", false, "0", "Negotiated connections kept for reuse between SMTP sessions (SMFIC_QUIT_NC); 0 keeps none.",
            (o, v) => o.PoolSize = ParseInteger(v, 0, 10_000)),
        new Descriptor("POOL_IDLE_TIMEOUT", false, "6000", "Hundredths of a second a parked connection may wait before it is closed.",
            (o, v) => o.PoolIdleTimeout = Hundredths(v)),
        new Descriptor("IO_MODE", false, "async", "async: never blocks a thread; blocking: the calling thread waits in the read (least CPU).",
            (o, v) => o.IoMode = ParseChoice<IoMode>(v)),
        new Descriptor("SOCKS_USER", false, "(the process's user name)", "User name for SOCKS5 username/password authentication.",
            (o, v) => o.SocksUser = v.Length is > 0 and <= 255 ? v : throw new FormatException("a user name of 1 to 255 characters is required")),
        new Descriptor("SOCKS_RESOLVE", false, "local", "local: resolve HOST here and try each address through the SOCKS server; remote: the SOCKS server resolves it.",
            (o, v) => o.SocksResolve = ParseChoice<SocksResolve>(v)),
        new Descriptor("FAILURE_ACTION", false, "tempfail", "What a message gets when the milter cannot be used: tempfail, accept or reject.",
            (o, v) => o.FailureAction = ParseChoice<FailureAction>(v)),
    }.ToDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);

    private static int ParseInteger(string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
        {
            throw new FormatException($"\"{value}\" is not a whole number");
        }

        if (number < min || number > max)
        {
            throw new FormatException($"{number} is out of range ({min} to {max})");
        }

        return number;
    }

    /// <summary>A duration in hundredths of a second (Messaging Server's unit), up to a day.</summary>
    private static TimeSpan Hundredths(string value) => TimeSpan.FromMilliseconds(10.0 * ParseInteger(value, 1, 8_640_000));

    private static T ParseChoice<T>(string value)
        where T : struct, Enum
    {
        if (Enum.TryParse<T>(value, ignoreCase: true, out var choice) && Enum.IsDefined(choice) && !char.IsDigit(value[0]))
        {
            return choice;
        }

        throw new FormatException($"\"{value}\" is not one of: {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
    }

    private static string ParseHost(string value)
    {
        if (value.Length == 0)
        {
            throw new FormatException("a host name or address is required");
        }

        if (value.Any(char.IsWhiteSpace))
        {
            throw new FormatException($"\"{value}\" is not a host name: it contains white space");
        }

        // An IPv6 literal may be written in brackets, as in URLs; store it bare.
        return value is ['[', .., ']'] ? value[1..^1] : value;
    }
}
