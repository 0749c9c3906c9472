using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Net;
using SmtpServer.Storage;
using SpamFilterMilter.Host.Smtp;
using SmtpServerHost = SmtpServer.SmtpServer;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// Puts milters in front of an SmtpServer (cosullivan/SmtpServer 11) server the way Postfix's <c>smtpd_milters</c> puts
/// them in front of smtpd: each SMTP session gets its own filter session (<see cref="SmtpServerFilteringOptions.OpenFilter"/>,
/// e.g. <c>plugin.OpenSession()</c>), each command is answered with the filter's reply as Postfix gives it (the host
/// library's <c>SmtpFilterSession</c> owns those rules), a 421 closes the session, and a message the filter lets through
/// goes, with the verdict's edits applied, to the application's <see cref="IFilteredMessageStore"/>.
/// <para>
/// It plugs into SmtpServer through three services (<see cref="AddTo"/>): an endpoint listener that wraps SmtpServer's
/// own (a session starts and ends with its connection; every reply passes through it, so a refusal is written with
/// the filter's exact text and a 421 ends the session), a mailbox filter (MAIL and RCPT) and a message store (the end of
/// DATA). docs/smtpserver.md lists what SmtpServer 11.1.0 lets through and what it does not.
/// </para>
/// </summary>
public sealed class SmtpServerFiltering : IAsyncDisposable
{
    private readonly FilteringListenerFactory _listeners;

    /// <summary>Creates the integration; <see cref="AddTo"/> or <see cref="CreateServer"/> puts it in a server.</summary>
    public SmtpServerFiltering(SmtpServerFilteringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Store);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ClientNameLookupTimeout, TimeSpan.Zero, nameof(options.ClientNameLookupTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxConnectionsPerClient, nameof(options.MaxConnectionsPerClient));
        var dropped = SmtpFilterSession.CheckDroppedHeaderFields(options.DroppedHeaderFields ?? throw new ArgumentNullException(nameof(options), "DroppedHeaderFields is null."));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxConnections, nameof(options.MaxConnections));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRecipients, nameof(options.MaxRecipients));
        ArgumentOutOfRangeException.ThrowIfNegative(options.HardErrorLimit, nameof(options.HardErrorLimit));
        ArgumentOutOfRangeException.ThrowIfNegative(options.SoftErrorLimit, nameof(options.SoftErrorLimit));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ErrorSleepTime, TimeSpan.Zero, nameof(options.ErrorSleepTime));
        // Past int.MaxValue milliseconds (about 24.8 days) a timer cannot be armed: every read or wait would throw.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.ErrorSleepTime, LongestTimer, nameof(options.ErrorSleepTime));
        if ((options.ReadTimeout <= TimeSpan.Zero || options.ReadTimeout > LongestTimer) && options.ReadTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ReadTimeout, "ReadTimeout must be positive and at most int.MaxValue milliseconds, or Timeout.InfiniteTimeSpan.");
        }
        _listeners = new FilteringListenerFactory(options, dropped);
        MailboxFilterFactory = new FilteringMailboxFilter();
        MessageStoreFactory = new FilteringMessageStore();
    }

    /// <summary>The longest a timer can be armed for: int.MaxValue milliseconds.</summary>
    private static readonly TimeSpan LongestTimer = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The endpoint listener factory to register (it wraps the one in the options, else SmtpServer's own).</summary>
    public IEndpointListenerFactory EndpointListenerFactory => _listeners;

    /// <summary>The mailbox filter factory to register: MAIL and RCPT go to the filter.</summary>
    public IMailboxFilterFactory MailboxFilterFactory { get; }

    /// <summary>The message store factory to register: the message goes to the filter, then to the application's store.</summary>
    public IMessageStoreFactory MessageStoreFactory { get; }

    /// <summary>
    /// Registers the three services in SmtpServer's service provider (replacing any endpoint listener factory, mailbox
    /// filter or message store registered there before: give an endpoint listener factory of your own in the options).
    /// Where no authenticator of the application's is registered, SmtpServer's default one, which takes any user with
    /// any password, is replaced too: SMTP AUTH is not offered, and refused (else the milters would be told that anyone
    /// who tried was an authenticated sender). Register an <c>IUserAuthenticator</c> before this call to offer it.
    /// </summary>
    public void AddTo(ServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Add(EndpointListenerFactory);
        services.Add(MailboxFilterFactory);
        services.Add(MessageStoreFactory);
        if (NoAuthentication.IsSmtpServersDefault(services))
        {
            NoAuthentication.PutInPlace(services);
        }
    }

    /// <summary>
    /// Creates an SmtpServer server with these services added to <paramref name="services"/> (a new provider when null:
    /// give one to add an authenticator or a command factory of your own; without an authenticator, no SMTP AUTH, see
    /// <see cref="AddTo"/>).
    /// </summary>
    public SmtpServerHost CreateServer(ISmtpServerOptions options, ServiceProvider? services = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        services ??= new ServiceProvider();
        AddTo(services);
        var server = new SmtpServerHost(options, services);
        AnswerFaultedSessions(server);
        return server;
    }

    /// <summary>
    /// Has each session of <paramref name="server"/> that SmtpServer ends on an exception (its <c>SessionFaulted</c>: a MAIL
    /// with a repeated parameter, or parameters over about 4 KB, make its parser throw) logged (event 6026) and answered
    /// <c>421 4.3.0 Error: internal error</c> before the connection closes, where SmtpServer would close it in silence.
    /// <see cref="CreateServer"/> does it; call it for a server made with <see cref="AddTo"/>.
    /// </summary>
    public static void AnswerFaultedSessions(SmtpServerHost server)
    {
        ArgumentNullException.ThrowIfNull(server);
        server.SessionFaulted += (_, e) => FilteredSession.Find(e.Context)?.Faulted(e.Exception);
    }

    /// <summary>
    /// The first half of a graceful stop: from now on a new connection is greeted with <c>421</c> and a new message
    /// (MAIL) is answered <c>421 4.3.2</c>, both closing their session, while every message already under way (its MAIL
    /// accepted) goes on to the reply to its final dot. Completes with true once none is left, or with false when
    /// <paramref name="cancellationToken"/> fires first (the caller's deadline). Then stop the server (cancel the token
    /// it was started with): a message still under way is answered <c>421 4.3.2</c>, and the client keeps it either way.
    /// SmtpServer's own <c>Shutdown()</c> ends the sessions at once, messages included.
    /// </summary>
    public Task<bool> DrainAsync(CancellationToken cancellationToken = default) => _listeners.Messages.DrainAsync(cancellationToken);

    /// <summary>How many messages are under way, from an accepted MAIL to the reply to their final dot (or RSET).</summary>
    public int MessagesInFlight => _listeners.Messages.Count;

    /// <summary>
    /// Waits until every session's filter session is closed. Call it once the server has stopped (its sessions end
    /// with their connections, and each closes its filter session as it ends).
    /// </summary>
    public async ValueTask DisposeAsync() => await _listeners.WhenClosedAsync().ConfigureAwait(false);

    /// <summary>How many sessions that ended are still closing their filter session (for tests).</summary>
    internal int ClosingSessions => _listeners.ClosingCount;
}
