using System.Net;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.Relay;

/// <summary>What the relay is told on its command line.</summary>
internal sealed record RelayOptions
{
    /// <summary>
    /// Where it listens for SMTP clients: one address and port or more (<c>--listen</c> given again), e.g. 0.0.0.0:25 and
    /// [::]:25 for an MX with both A and AAAA records: .NET's [::] is IPv6 alone.
    /// </summary>
    public required IReadOnlyList<IPEndPoint> Listen { get; init; }

    /// <summary>Its host name: greetings, the Received field, the EHLO it sends the next hop.</summary>
    public required string ServerName { get; init; }

    /// <summary>The option.dat whose slots filter each message.</summary>
    public required string OptionFile { get; init; }

    /// <summary>The folder a relative <c>spamfilterX_library</c> is taken from.</summary>
    public required string PluginFolder { get; init; }

    /// <summary>The channel table (imta.cnf-style), or null.</summary>
    public string? ChannelFile { get; init; }

    /// <summary>The channel messages come in on (selects with <c>sourcespamfilterXoptin</c>), or null.</summary>
    public string? SourceChannel { get; init; }

    /// <summary>The channel every recipient is routed to (selects with <c>destinationspamfilterXoptin</c>), or null.</summary>
    public string? DestinationChannel { get; init; }

    /// <summary>The next hop (its name resolved at each delivery); null when messages go to <see cref="Maildir"/>.</summary>
    public DnsEndPoint? NextHop { get; init; }

    /// <summary>
    /// Whether the next hop gets STARTTLS (<c>--next-hop-tls</c>), Postfix's <c>smtp_tls_security_level</c>: by default
    /// <see cref="NextHopTlsLevel.May"/>, opportunistic TLS, as Debian's Postfix ships it.
    /// </summary>
    public NextHopTlsLevel NextHopTls { get; init; } = NextHopTlsLevel.May;

    /// <summary>The PEM file of the authorities <see cref="NextHopTlsLevel.Verify"/> trusts (<c>--next-hop-tls-ca-file</c>); null: the system's.</summary>
    public string? NextHopTlsCaFile { get; init; }

    /// <summary>The name the next hop's certificate must bear, sent as SNI (<c>--next-hop-tls-name</c>); null: the host of <see cref="NextHop"/>.</summary>
    public string? NextHopTlsName { get; init; }

    /// <summary>The maildir messages go to; null when they go to <see cref="NextHop"/>.</summary>
    public string? Maildir { get; init; }

    /// <summary>The maildir held (quarantined) messages go to.</summary>
    public required string Quarantine { get; init; }

    /// <summary>The certificate (PEM, with its intermediates) STARTTLS is offered with; null: no STARTTLS.</summary>
    public string? TlsCertificate { get; init; }

    /// <summary>Its private key (PEM); null when it is in <see cref="TlsCertificate"/>'s file.</summary>
    public string? TlsKey { get; init; }

    /// <summary>How many sessions may be open at once, from all clients (<c>--max-connections</c>; Postfix's default_process_limit, 100); 0: no limit.</summary>
    public int MaxConnections { get; init; } = SmtpServerFilteringOptions.DefaultMaxConnections;

    /// <summary>How many sessions one client address may have open at once (<c>--max-connections-per-client</c>); 0: no limit.</summary>
    public int MaxConnectionsPerClient { get; init; } = SmtpServerFilteringOptions.DefaultMaxConnectionsPerClient;

    /// <summary>The client networks <see cref="MaxConnectionsPerClient"/> does not apply to (<c>--exempt-network</c>; default loopback).</summary>
    public IReadOnlyList<IPNetwork> ConnectionLimitExemptions { get; init; } = SmtpServerFilteringOptions.DefaultConnectionLimitExemptions;

    /// <summary>The header fields left out of each message (<c>--drop-header</c>; default Postfix's <c>message_drop_headers</c>).</summary>
    public IReadOnlyCollection<string> DroppedHeaderFields { get; init; } = SmtpFilterSession.DefaultDroppedHeaderFields;

    /// <summary>
    /// The domains any client may send to (<c>--relay-domain</c>; <see cref="SmtpServerFilteringOptions.RelayDomains"/>);
    /// null, the default: no restriction, every recipient from every client (the next hop's relay rules decide).
    /// </summary>
    public IReadOnlyList<string>? RelayDomains { get; init; }

    /// <summary>The client networks that may send anywhere when <see cref="RelayDomains"/> restricts (<c>--relay-network</c>; default loopback).</summary>
    public IReadOnlyList<IPNetwork> RelayNetworks { get; init; } = SmtpServerFilteringOptions.DefaultRelayNetworks;

    /// <summary>How long one read from a client may wait for its next bytes (<c>--read-timeout</c>; Postfix's smtpd_timeout, 300 s).</summary>
    public TimeSpan ReadTimeout { get; init; } = SmtpServerFilteringOptions.DefaultReadTimeout;

    /// <summary>How long one session may last in all (<c>--session-timeout</c>); <see cref="Timeout.InfiniteTimeSpan"/>: no limit, the default.</summary>
    public TimeSpan SessionTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>How many recipients one message may have (<c>--max-recipients</c>; Postfix's smtpd_recipient_limit, 1000); 0: no limit.</summary>
    public int MaxRecipients { get; init; } = SmtpServerFilteringOptions.DefaultMaxRecipients;

    /// <summary>How many errors a session may make before 421 4.7.0 (<c>--hard-error-limit</c>; Postfix's smtpd_hard_error_limit, 20); 0: no limit.</summary>
    public int HardErrorLimit { get; init; } = SmtpServerFilteringOptions.DefaultHardErrorLimit;

    /// <summary>From how many errors each reply waits <see cref="ErrorSleepTime"/> (<c>--soft-error-limit</c>; Postfix's 10); 0: never.</summary>
    public int SoftErrorLimit { get; init; } = SmtpServerFilteringOptions.DefaultSoftErrorLimit;

    /// <summary>How long each reply waits past <see cref="SoftErrorLimit"/> (<c>--error-sleep-time</c>; Postfix's smtpd_error_sleep_time, 1 s).</summary>
    public TimeSpan ErrorSleepTime { get; init; } = SmtpServerFilteringOptions.DefaultErrorSleepTime;

    /// <summary>The largest message accepted, in bytes (SIZE); 0 for no limit.</summary>
    public int MaxMessageSize { get; init; }

    /// <summary>How long the next hop may take over one message by default: with the milters' MESSAGE_TIMEOUT (300 s) it
    /// stays within the 10 minutes RFC 5321 gives a client to wait for the answer to the final dot.</summary>
    public static readonly TimeSpan DefaultNextHopTimeout = TimeSpan.FromMinutes(5);

    /// <summary>How long the next hop may take over one message (<c>--next-hop-timeout</c>).</summary>
    public TimeSpan NextHopTimeout { get; init; } = DefaultNextHopTimeout;

    /// <summary>
    /// How long a stop waits for the messages under way by default: within the 35 s etc/spamfilter-relay.service gives a
    /// stop (<c>TimeoutStopSec</c>), with 10 s left for the last replies and the last metrics.
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Where the milters' metrics are sent by OTLP over HTTP (<c>--metrics-otlp</c>); null: nowhere.</summary>
    public Uri? MetricsOtlp { get; init; }

    /// <summary>How often the metrics are sent by default: OpenTelemetry's own default export interval.</summary>
    public static readonly TimeSpan DefaultMetricsInterval = TimeSpan.FromSeconds(60);

    /// <summary>How often they are sent (<c>--metrics-interval</c>).</summary>
    public TimeSpan MetricsInterval { get; init; } = DefaultMetricsInterval;

    /// <summary>How long a stop waits for the messages under way to finish (<c>--shutdown-timeout</c>; zero: not at all).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = DefaultShutdownTimeout;
}
