using System.Globalization;
using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Options;

/// <summary>The packet size offered with SMFIP_MDS_*.</summary>
public enum OfferMds
{
    /// <summary>Offer nothing: 64 KiB - 1, what sendmail and Postfix use.</summary>
    None,

    /// <summary>Offer SMFIP_MDS_256K (256 KiB - 1).</summary>
    Size256K,

    /// <summary>Offer SMFIP_MDS_1M (1 MiB - 1).</summary>
    Size1M,
}

/// <summary>Who resolves HOST when connecting through SOCKS.</summary>
public enum SocksResolve
{
    /// <summary>The plug-in: each address is asked of the SOCKS server in DNS order, as without SOCKS.</summary>
    Local,

    /// <summary>The SOCKS server (the name is sent as is, for servers that see a different DNS).</summary>
    Remote,
}

/// <summary>How the plug-in waits for the milter's replies.</summary>
public enum IoMode
{
    /// <summary>Asynchronous I/O: a waiting call holds no thread. The safe default for any host.</summary>
    Async,

    /// <summary>
    /// Blocking I/O on the calling thread, as sendmail and Postfix do: 5-13 % less CPU per message at
    /// one connection, from 17 % less to 7 % more at 8, more at 32 and 128 (docs/options.md), but a
    /// slow milter holds the caller's thread for up to COMMAND_TIMEOUT or CONTENT_TIMEOUT. For hosts
    /// that give each SMTP session its own thread.
    /// </summary>
    Blocking,
}

/// <summary>What a message gets when the milter cannot be used (FAILURE_ACTION).</summary>
public enum FailureAction
{
    /// <summary>Answer 451 4.7.1: the sender retries later (the default, as in Postfix before 3.11).</summary>
    TempFail,

    /// <summary>Deliver as if the milter were not configured.</summary>
    Accept,

    /// <summary>Answer 550 5.7.1: refuse the message.</summary>
    Reject,

    /// <summary>
    /// Answer 421 4.7.1 and close the SMTP session (<see cref="StageDecision.ClosesSession"/>): Postfix's
    /// <c>milter_default_action = shutdown</c>, its default since 3.11. The sender retries later, on a new connection.
    /// </summary>
    Shutdown,
}

/// <summary>When the queue id (macro <c>i</c>) is first sent (QUEUE_ID_TIMING).</summary>
public enum QueueIdTiming
{
    /// <summary>
    /// As Postfix: once the MTA has a queue file, from the RCPT after the first accepted recipient on, then at DATA, each
    /// header, the end of headers, each body packet and the end of the message; not at MAIL.
    /// </summary>
    Postfix,

    /// <summary>As sendmail: from MAIL on (sendmail gives an envelope its id when it is made).</summary>
    Sendmail,
}

/// <summary>
/// The validated contents of a milter option file (<c>spamfilterX_config_file</c>). Every option is
/// described once in <see cref="Descriptors"/>: name, default and parser. Unknown options, bad
/// numbers and missing required options are errors naming the file, line and option.
/// </summary>
public sealed partial class MilterOptions
{
    /// <summary>
    /// Name or address of the milter host; each address it resolves to is tried in DNS order. Or several milter servers
    /// separated by commas, each optionally <c>host:port</c> (<c>[IPv6]:port</c>) or <c>unix:/path</c>: messages are
    /// spread over those in service, and one that keeps failing is taken out for a while (<see cref="BreakerThreshold"/>).
    /// </summary>
    public string Host { get; set; } = string.Empty;

    /// <summary>TCP port of the milter (not used for a UNIX-domain socket); with several servers, of those HOST names without a port.</summary>
    public int Port { get; set; }

    /// <summary>The milter's UNIX-domain socket (HOST=unix:/path or local:/path); null for TCP.</summary>
    public string? UnixSocketPath { get; set; }

    /// <summary>0: warnings and failures; 1: one line per message; 2: also every packet, decoded and in hex.</summary>
    public int Debug { get; set; }

    /// <summary>The least log level <see cref="Debug"/> asks for: Warning (0), Information (1, a line per message), Debug (2, every packet).</summary>
    public Microsoft.Extensions.Logging.LogLevel DebugLogLevel => Debug switch
    {
        0 => Microsoft.Extensions.Logging.LogLevel.Warning,
        1 => Microsoft.Extensions.Logging.LogLevel.Information,
        _ => Microsoft.Extensions.Logging.LogLevel.Debug,
    };

    /// <summary>The session's own defaults: the options start from them, so the two cannot drift apart.</summary>
    private static readonly MilterSessionSettings SessionDefaults = new();

    /// <summary>
    /// Bound on every connect, write and read on the milter connection: the default of <see cref="ConnectTimeout"/>,
    /// <see cref="CommandTimeout"/> and <see cref="ContentTimeout"/>, so that an option file with TIMEOUT alone (a
    /// Messaging Server one) means what it always meant.
    /// </summary>
    public TimeSpan Timeout { get; set; } = SessionDefaults.CommandTimeout;

    /// <summary>Bound on connecting, all DNS addresses together (each gets an equal share of what is left); <see cref="Timeout"/> unless set.</summary>
    public TimeSpan ConnectTimeout
    {
        get => _connectTimeout ?? Timeout;
        set => _connectTimeout = value;
    }

    private TimeSpan? _connectTimeout;

    /// <summary>
    /// Bound on each write and read of a command outside the message content (OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA,
    /// UNKNOWN, ABORT): Postfix's <c>milter_command_timeout</c>; <see cref="Timeout"/> unless set.
    /// </summary>
    public TimeSpan CommandTimeout
    {
        get => _commandTimeout ?? Timeout;
        set => _commandTimeout = value;
    }

    private TimeSpan? _commandTimeout;

    /// <summary>
    /// Bound on each write and read of the message content (each header, the end of headers, each body packet, the end
    /// of the message): Postfix's <c>milter_content_timeout</c>; <see cref="Timeout"/> unless set.
    /// </summary>
    public TimeSpan ContentTimeout
    {
        get => _contentTimeout ?? Timeout;
        set => _contentTimeout = value;
    }

    private TimeSpan? _contentTimeout;

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

    /// <summary>
    /// Where a replacement body over <see cref="MessageBodyBuilder.DefaultMemoryLimit"/> bytes (1 MiB) is kept while the
    /// host applies it (one temporary file per body); null: the system's temporary folder (<see cref="Path.GetTempPath"/>).
    /// </summary>
    public string? BodySpillDirectory { get; set; }

    /// <summary>Longest SMTP reply text accepted from the milter, in characters.</summary>
    public int MaxReplyText { get; set; } = SessionDefaults.MaxReplyText;

    /// <summary>Which larger packet size to offer in OPTNEG (SMFIP_MDS_256K / SMFIP_MDS_1M); the milter decides.</summary>
    public OfferMds OfferMds { get; set; } = OfferMds.None;

    /// <summary>Negotiated connections kept for reuse between sessions (SMFIC_QUIT_NC); 0 keeps none.</summary>
    public int PoolSize { get; set; }

    /// <summary>How long a parked connection may wait before it is closed instead of reused.</summary>
    public TimeSpan PoolIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Consecutive failures after which a server is taken out of service for <see cref="BreakerBackoff"/> (its circuit
    /// breaker opens); 0 never takes one out. Null: 3 when <see cref="Host"/> names several servers, 0 when it names
    /// one, which then behaves as it always did (every message tries it).
    /// </summary>
    public int? BreakerThreshold { get; set; }

    /// <summary>How long a server taken out of service waits before one message probes it.</summary>
    public TimeSpan BreakerBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest back-off: it doubles each time a probe fails, up to this (at least <see cref="BreakerBackoff"/>).</summary>
    public TimeSpan BreakerMaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The servers HOST names, in its order, each with its port.</summary>
    internal IReadOnlyList<MilterServer> Servers => UnixSocketPath is { } path ? [new MilterServer(Host, 0, path)]
        : !MilterServer.IsList(Host) ? [new MilterServer(Host, Port, null)]
        : [.. MilterServer.ParseList(Host).Select(e => new MilterServer(e.Host, e.Port ?? Port, e.UnixSocketPath))];

    /// <summary>The breaker threshold in force: <see cref="BreakerThreshold"/>, or its default for the number of servers.</summary>
    internal int EffectiveBreakerThreshold => BreakerThreshold ?? (Servers.Count > 1 ? 3 : 0);

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

    /// <summary>
    /// With <see cref="IoMode.Async"/> on Linux, how many I/O threads serve this milter's connections (<c>IO_THREADS</c>);
    /// null for the default, four per core (at least 4, at most 32). Milters given the same count share its threads.
    /// Not used with <see cref="IoMode.Blocking"/>, where each connection is read on the thread that calls the plug-in.
    /// </summary>
    public int? IoThreads { get; set; }

    /// <summary>What every message gets when the milter cannot be used: tempfail (default), accept, reject or shutdown.</summary>
    public FailureAction FailureAction { get; set; } = FailureAction.TempFail;

    /// <summary>The macros sent with CONNECT (CONNECT_MACROS, Postfix's <c>milter_connect_macros</c>), unless the milter asks for its own list.</summary>
    public IReadOnlyList<string> ConnectMacros { get; set; } = MacroLists.Default[MacroStage.Connect];

    /// <summary>The macros sent with HELO (HELO_MACROS, Postfix's <c>milter_helo_macros</c>), unless the milter asks for its own list.</summary>
    public IReadOnlyList<string> HeloMacros { get; set; } = MacroLists.Default[MacroStage.Helo];

    /// <summary>The macros sent with MAIL (MAIL_MACROS, Postfix's <c>milter_mail_macros</c>), unless the milter asks for its own list.</summary>
    public IReadOnlyList<string> MailMacros { get; set; } = MacroLists.Default[MacroStage.Mail];

    /// <summary>The macros sent with RCPT (RCPT_MACROS, Postfix's <c>milter_rcpt_macros</c>), unless the milter asks for its own list.</summary>
    public IReadOnlyList<string> RcptMacros { get; set; } = MacroLists.Default[MacroStage.Rcpt];

    /// <summary>The macros sent with DATA (DATA_MACROS, Postfix's <c>milter_data_macros</c>), unless the milter asks for its own list.</summary>
    public IReadOnlyList<string> DataMacros { get; set; } = MacroLists.Default[MacroStage.Data];

    /// <summary>
    /// The macros sent before each header and the end of headers (EOH_MACROS, Postfix's <c>milter_end_of_header_macros</c>),
    /// unless the milter asks for its own list.
    /// </summary>
    public IReadOnlyList<string> EndOfHeaderMacros { get; set; } = MacroLists.Default[MacroStage.EndOfHeaders];

    /// <summary>
    /// The macros sent before each body packet and the end of the message (EOM_MACROS, Postfix's
    /// <c>milter_end_of_data_macros</c>), unless the milter asks for its own list.
    /// </summary>
    public IReadOnlyList<string> EndOfMessageMacros { get; set; } = MacroLists.Default[MacroStage.EndOfMessage];

    /// <summary>The macros sent with an unknown command (UNKNOWN_MACROS, Postfix's <c>milter_unknown_command_macros</c>): none by default.</summary>
    public IReadOnlyList<string> UnknownMacros { get; set; } = MacroLists.Default[MacroStage.Unknown];

    /// <summary>When the queue id (macro <c>i</c>) is first sent: from the first accepted recipient on (Postfix, the default) or from MAIL on (sendmail).</summary>
    public QueueIdTiming QueueIdTiming { get; set; } = QueueIdTiming.Postfix;

    /// <summary>The configured lists by stage, as the session takes them.</summary>
    internal MacroLists MacroLists => new([ConnectMacros, HeloMacros, MailMacros, RcptMacros, DataMacros, EndOfMessageMacros, EndOfHeaderMacros, UnknownMacros]);

    /// <summary>Where these options came from (for log lines and errors); "options set in code" when made in code.</summary>
    public string SourcePath { get; set; } = "options set in code";

    /// <summary>The milter endpoint as log lines name it.</summary>
    public string EndpointName => string.Join(",", Servers.Select(s => s.Name));

    /// <summary>True when every server HOST names has its own port or is a UNIX-domain socket: PORT may be left out.</summary>
    private bool NeedsNoPort => UnixSocketPath is not null
        || (MilterServer.IsList(Host) && MilterServer.ParseList(Host).All(e => e.Port is not null || e.UnixSocketPath is not null));

    /// <summary>What is wrong with SOCKS_HOST beside <paramref name="servers"/> (the file's rule and <see cref="Validate"/>'s), or null.</summary>
    private string? SocksProblem(IReadOnlyList<MilterServer> servers) =>
        SocksHost is not null && servers.Any(s => s.UnixSocketPath is not null) ? "a SOCKS server cannot reach a UNIX-domain socket" : null;

    /// <summary>Reads and validates an option file.</summary>
    /// <exception cref="SpamFilterConfigurationException">The file cannot be read or is wrong: the first problem, naming file,
    /// line and option, carrying every other one (<see cref="SpamFilterConfigurationException.MoreProblems"/>).</exception>
    public static MilterOptions Load(string path)
    {
        return FromConfiguration(new ConfigurationBuilder().AddMilterOptionFile(path).Build());
    }

    /// <summary>
    /// Validates options from any configuration: an option file added as a source
    /// (<see cref="OptionFileConfigurationExtensions.AddMilterOptionFile"/>), an appsettings section with the option
    /// file's names as keys, in-memory values. Errors are <see cref="SpamFilterConfigurationException"/>s naming
    /// <paramref name="sourceName"/>, the option and, for an option file, the line.
    /// </summary>
    public static MilterOptions FromConfiguration(IConfiguration configuration, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var files = (configuration as IConfigurationRoot)?.Providers.OfType<OptionFileConfigurationProvider>().ToArray() ?? [];
        return FromConfiguration(configuration, sourceName ?? (files.Length == 1 ? files[0].Path : "(configuration)"),
            name => files.Select(f => f.Lines.TryGetValue(name, out var line) ? line : 0).FirstOrDefault(line => line > 0));
    }

    /// <summary>
    /// For a value that did not parse and holds what looks like a comment after it (<c>PORT=8890   # the sample
    /// milter</c>): that only a whole line is a comment. Nothing otherwise.
    /// </summary>
    private static string CommentHint(string? value) =>
        value is not null && System.Text.RegularExpressions.Regex.IsMatch(value, @"\s[#!]")
            ? " (a comment is a line of its own, starting with # or !)"
            : string.Empty;

    /// <summary>As <see cref="FromConfiguration(IConfiguration, string?)"/>; <paramref name="lineOf"/> tells the line an option came from, 0 if unknown.</summary>
    internal static MilterOptions FromConfiguration(IConfiguration configuration, string sourcePath, Func<string, int> lineOf)
    {
        // Every bad line is found, not just the first: the first is thrown, carrying the others (check-config lists them all).
        var options = new MilterOptions { SourcePath = sourcePath };
        var problems = new List<SpamFilterConfigurationException>();
        foreach (var entry in configuration.GetChildren())
        {
            var name = entry.Key.ToUpperInvariant();
            if (!Descriptors.TryGetValue(name, out var descriptor))
            {
                problems.Add(new SpamFilterConfigurationException(sourcePath, lineOf(entry.Key), name, OptionFile.ClosestName(name, Descriptors.Keys) is { } meant
                    ? $"unknown option (did you mean {meant}?)"
                    : $"unknown option (known options: {string.Join(", ", Descriptors.Keys)})"));
                continue;
            }

            if (entry.Value is null && entry.GetChildren().Any())
            {
                // An appsettings list or object: every value is one string, as the option file writes it.
                problems.Add(new SpamFilterConfigurationException(sourcePath, lineOf(entry.Key), name, "takes one value written as in the option file, not a list or a section"));
                continue;
            }

            try
            {
                descriptor.Apply(options, entry.Value ?? string.Empty);
            }
            catch (FormatException e)
            {
                problems.Add(new SpamFilterConfigurationException(sourcePath, lineOf(entry.Key), name, e.Message + CommentHint(entry.Value), e));
            }
        }

        foreach (var descriptor in Descriptors.Values.Where(d => d.Required))
        {
            if (configuration[descriptor.Name] is null or "" && !(descriptor.Name == "PORT" && options.NeedsNoPort)
                && !problems.Any(p => p.Option == descriptor.Name)) // HOST= is told once, at its line
            {
                problems.Add(new SpamFilterConfigurationException(sourcePath, 0, descriptor.Name, "required option is missing"));
            }
        }

        if (problems.Count > 0)
        {
            throw InFileOrder(problems); // the rules below need HOST and PORT read
        }

        var servers = options.Servers;
        if (servers.All(s => s.UnixSocketPath is not null) && configuration["PORT"] is { Length: > 0 })
        {
            problems.Add(new SpamFilterConfigurationException(sourcePath, lineOf("PORT"), "PORT", "does not apply: HOST names a UNIX-domain socket"));
        }

        if (options.SocksProblem(servers) is { } socks)
        {
            problems.Add(new SpamFilterConfigurationException(sourcePath, lineOf("SOCKS_HOST"), "SOCKS_HOST", socks));
        }

        return problems.Count > 0 ? throw InFileOrder(problems) : options;

        // A configuration lists its keys in its own order (sorted); an administrator reads the file top down.
        static SpamFilterConfigurationException InFileOrder(List<SpamFilterConfigurationException> problems) =>
            SpamFilterConfigurationException.Combine([.. SpamFilterConfigurationException.InFileOrder(problems)]);
    }
}
