using System.Net;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Net;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer;

/// <summary>What <see cref="SmtpServerFiltering"/> filters with and where the filtered messages go.</summary>
public sealed class SmtpServerFilteringOptions
{
    /// <summary>
    /// Opens the filter session of one SMTP session (<c>_ =&gt; plugin.OpenSession()</c>): it hears every command of the
    /// session and is closed and disposed when the session ends. Null: no filter at the commands; every message goes to
    /// <see cref="Store"/> as it came (an application that filters whole messages there, as the relay does).
    /// </summary>
    public Func<ISessionContext, IFilterSession>? OpenFilter { get; init; }

    /// <summary>The application's store: it gets every message the filter lets through (delivered or held).</summary>
    public required IFilteredMessageStore Store { get; init; }

    /// <summary>
    /// Whether the server puts its own <c>Received:</c> field on top of each message (default true, as RFC 5321 §4.4
    /// asks): the milters do not see it, yet their header positions count it, as Postfix's do.
    /// </summary>
    public bool AddTraceField { get; init; } = true;

    /// <summary>
    /// The header fields left out of each message before the filter sees it and before it is stored, as Postfix's
    /// <c>message_drop_headers</c> (<see cref="SmtpFilterSession.DroppedHeaderFields"/>): by default Postfix's, <c>Bcc</c>,
    /// <c>Content-Length</c>, <c>Resent-Bcc</c> and <c>Return-Path</c>, from the message's own header section (any case);
    /// a filter's own are kept. Empty: every field is kept.
    /// </summary>
    public IReadOnlyCollection<string> DroppedHeaderFields { get; init; } = SmtpFilterSession.DefaultDroppedHeaderFields;

    /// <summary>
    /// Whether each client's host name is looked up before the milter hears of the connection (default true, as Postfix's
    /// <c>smtpd_peername_lookup</c>): its address's PTR name, confirmed by a forward lookup, becomes <c>{client_name}</c> and
    /// goes into the <c>Received:</c> field; a name that does not confirm is <c>{client_ptr}</c> only. Spam filters score a
    /// client without one. False: every client is <c>unknown</c>, and no lookup delays the greeting.
    /// </summary>
    public bool LookUpClientNames { get; init; } = true;

    /// <summary>How long the greeting waits for a client's names (default 10 s); past it the client is <c>unknown</c>.</summary>
    public TimeSpan ClientNameLookupTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many sessions one client address may have open at once (default 50, Postfix's
    /// <c>smtpd_client_connection_count_limit</c>; 0: no limit). One more is greeted
    /// <c>421 4.7.0 &lt;server&gt; Error: too many connections from &lt;address&gt;</c>, as Postfix greets it, and closed; its
    /// filter is never opened.
    /// </summary>
    public int MaxConnectionsPerClient { get; init; } = DefaultMaxConnectionsPerClient;

    /// <summary>The default of <see cref="MaxConnectionsPerClient"/>: Postfix's.</summary>
    public const int DefaultMaxConnectionsPerClient = 50;

    /// <summary>
    /// The client networks <see cref="MaxConnectionsPerClient"/> does not apply to (default: loopback, 127.0.0.0/8 and
    /// ::1, as Postfix exempts <c>$mynetworks</c>, by default the machine itself): local applications and a content
    /// filter's reinjection are not limited. The count is one for all the server's endpoints.
    /// </summary>
    public IReadOnlyList<IPNetwork> ConnectionLimitExemptions { get; init; } = DefaultConnectionLimitExemptions;

    /// <summary>The default of <see cref="ConnectionLimitExemptions"/>: loopback, 127.0.0.0/8 and ::1.</summary>
    public static IReadOnlyList<IPNetwork> DefaultConnectionLimitExemptions { get; } = Loopback();

    /// <summary>
    /// How long one read from the client may wait for its next bytes (default 300 s, Postfix's <c>smtpd_timeout</c>): a
    /// command, the message after DATA, a STARTTLS handshake. Past it the client is answered
    /// <c>421 4.4.2 &lt;server&gt; Error: timeout exceeded</c>, as Postfix answers it, and the session ends. It bounds
    /// each read, not the session: a long message that keeps coming is read to its end however long it takes.
    /// <see cref="Timeout.InfiniteTimeSpan"/>: no limit. SmtpServer's own <c>CommandWaitTimeout</c> (5 minutes for a whole
    /// command line) and the endpoint's <c>SessionTimeout</c> (2 minutes for the whole session by default!) still apply
    /// on their own: set them longer (the relay sets no session limit by default); either one ending a session is
    /// answered and logged as a timeout too, never as the server stopping.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = DefaultReadTimeout;

    /// <summary>The default of <see cref="ReadTimeout"/>: Postfix's <c>smtpd_timeout</c>, 300 s.</summary>
    public static TimeSpan DefaultReadTimeout { get; } = TimeSpan.FromSeconds(300);

    /// <summary>
    /// How many recipients one message may have (default 1000, Postfix's <c>smtpd_recipient_limit</c>; 0: no limit). One
    /// more is answered <c>452 4.5.3 Error: too many recipients</c>, as Postfix answers it, and never reaches the filter:
    /// a client sends the others in a later message. Such a refusal is not counted as an error
    /// (<see cref="HardErrorLimit"/>) for the first 1000 of a message, as Postfix's <c>smtpd_recipient_overshoot_limit</c>.
    /// </summary>
    public int MaxRecipients { get; init; } = DefaultMaxRecipients;

    /// <summary>The default of <see cref="MaxRecipients"/>: Postfix's.</summary>
    public const int DefaultMaxRecipients = 1000;

    /// <summary>
    /// How many errors a session may make (default 20, Postfix's <c>smtpd_hard_error_limit</c>; 0: no limit): each reply
    /// of 4xx or 5xx to the client counts (an unknown command, bad syntax, a refused sender or recipient), and so does
    /// each HELO, EHLO, RSET, NOOP, VRFY or ETRN past 100 (Postfix's <c>smtpd_junk_command_limit</c>); a message accepted forgives them all, as
    /// Postfix forgives them. At the limit the reply is followed by <c>421 4.7.0 &lt;server&gt; Error: too many errors</c>
    /// and the session ends. SmtpServer ends a session after <c>MaxRetryCount</c> (5) errors in a row of its own, in
    /// silence: set it above this limit (the relay does).
    /// </summary>
    public int HardErrorLimit { get; init; } = DefaultHardErrorLimit;

    /// <summary>The default of <see cref="HardErrorLimit"/>: Postfix's.</summary>
    public const int DefaultHardErrorLimit = 20;

    /// <summary>
    /// From how many errors on each reply waits <see cref="ErrorSleepTime"/> first (default 10, Postfix's
    /// <c>smtpd_soft_error_limit</c>; 0: never): a client that guesses addresses one RCPT after another is slowed down.
    /// </summary>
    public int SoftErrorLimit { get; init; } = DefaultSoftErrorLimit;

    /// <summary>The default of <see cref="SoftErrorLimit"/>: Postfix's.</summary>
    public const int DefaultSoftErrorLimit = 10;

    /// <summary>How long each reply waits past <see cref="SoftErrorLimit"/> (default 1 s, Postfix's <c>smtpd_error_sleep_time</c>).</summary>
    public TimeSpan ErrorSleepTime { get; init; } = DefaultErrorSleepTime;

    /// <summary>The default of <see cref="ErrorSleepTime"/>: Postfix's.</summary>
    public static TimeSpan DefaultErrorSleepTime { get; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many sessions may be open at once, from all clients and on all the server's endpoints (default 100, as
    /// Postfix's <c>default_process_limit</c> bounds its smtpd processes; 0: no limit). At the limit no connection is
    /// accepted until a session ends, as Postfix's master stops accepting: a new client waits in the system's listen
    /// queue (and gives up after its own connect timeout, then tries its next MX), rather than being greeted 421. The
    /// listen queue is the system's (.NET listens with a backlog of <c>SOMAXCONN</c>, <c>net.core.somaxconn</c>: 4096).
    /// </summary>
    public int MaxConnections { get; init; } = DefaultMaxConnections;

    /// <summary>The default of <see cref="MaxConnections"/>: Postfix's <c>default_process_limit</c>.</summary>
    public const int DefaultMaxConnections = 100;

    /// <summary>
    /// The domains any client may send to (Postfix's <c>relay_domains</c> with <c>reject_unauth_destination</c>): a
    /// recipient elsewhere, from a client neither in <see cref="RelayNetworks"/> nor authenticated, is answered
    /// <c>554 5.7.1 &lt;rcpt&gt;: Relay access denied</c>, as Postfix answers it, and counts as an error
    /// (<see cref="HardErrorLimit"/>); the filter never hears of it. <c>example.com</c> is that domain alone,
    /// <c>.example.com</c> its subdomains (give both for both), letter case aside: as Postfix's explicit style, without
    /// its <c>parent_domain_matches_subdomains</c>, which Postfix itself means to retire. An address literal
    /// (<c>user@[192.0.2.1]</c>) is never one. Default null: no restriction, every recipient from every client, as before;
    /// an empty list: only <see cref="RelayNetworks"/> and authenticated clients may send at all (an outgoing relay).
    /// </summary>
    public IReadOnlyList<string>? RelayDomains { get; init; }

    /// <summary>
    /// The client networks that may send to any domain when <see cref="RelayDomains"/> restricts the others (Postfix's
    /// <c>mynetworks</c> with <c>permit_mynetworks</c>; default loopback, 127.0.0.0/8 and ::1, as Postfix's
    /// <c>mynetworks_style = host</c> trusts the machine itself). Kept apart from <see cref="ConnectionLimitExemptions"/>:
    /// exempting a busy network from a connection count risks little, letting it relay anywhere is a grant of trust. A
    /// client that authenticated (an <c>IUserAuthenticator</c> registered) may send anywhere too, as
    /// <c>permit_sasl_authenticated</c>.
    /// </summary>
    public IReadOnlyList<IPNetwork> RelayNetworks { get; init; } = DefaultRelayNetworks;

    /// <summary>The default of <see cref="RelayNetworks"/>: loopback, 127.0.0.0/8 and ::1.</summary>
    public static IReadOnlyList<IPNetwork> DefaultRelayNetworks { get; } = Loopback();

    /// <summary>The endpoint listener factory whose connections are filtered (default: SmtpServer's own).</summary>
    public IEndpointListenerFactory? EndpointListenerFactory { get; init; }

    /// <summary>Where the integration logs (event ids 6000 to 6099); none when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Loopback, IPv4 and IPv6: a new list each time, so that the two defaults made of it stay apart.</summary>
    private static IPNetwork[] Loopback() => [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];
}
