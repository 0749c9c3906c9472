using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.ComponentModel;
using SmtpServer.Net;
using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests.Support;

/// <summary>An SmtpServer server on a loopback port the system chose, with the integration's services: started for one test.</summary>
public sealed class FilteringServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SmtpServerFiltering _filtering;
    private readonly Task _running;

    private FilteringServer(SmtpServerFiltering filtering, Task running, int port)
    {
        _filtering = filtering;
        _running = running;
        Port = port;
    }

    /// <summary>The server's name (greetings, trace field).</summary>
    public const string Name = "mx.example.com";

    public int Port { get; }

    /// <summary>Starts a server whose sessions open their filter with <paramref name="openFilter"/> (none: no filter) and store in <paramref name="store"/>.</summary>
    /// <param name="certificate">Offers STARTTLS with it: an <see cref="X509Certificate2"/>, or a <see cref="PemServerCertificate"/>.</param>
    /// <param name="listeners">SmtpServer's listeners, or others (<see cref="SmallSendBufferListeners"/>).</param>
    /// <param name="implicitTls">TLS from the connection's start (an SMTPS port, 465) rather than STARTTLS.</param>
    /// <param name="users">Offers AUTH PLAIN and LOGIN (without TLS too) to these users and passwords.</param>
    /// <param name="authenticate">Offers AUTH PLAIN and LOGIN (without TLS too), deciding with this.</param>
    /// <param name="maxMessageSize">SmtpServer's MaxMessageSize (announced as SIZE) with <paramref name="maxMessageSizeHandling"/>; 0: none.</param>
    public static async Task<FilteringServer> StartAsync(Func<ISessionContext, IFilterSession>? openFilter, IFilteredMessageStore store, bool addTraceField = true, ILoggerFactory? logs = null,
        object? certificate = null, IReadOnlyDictionary<string, string>? users = null, bool lookUpClientNames = true, bool implicitTls = false,
        EndpointListenerFactory? listeners = null, int maxConnectionsPerClient = 50, bool loopbackExempt = false, Func<string, string, bool>? authenticate = null,
        TimeSpan? readTimeout = null, TimeSpan? sessionTimeout = null, int maxRecipients = SmtpServerFilteringOptions.DefaultMaxRecipients,
        int hardErrorLimit = SmtpServerFilteringOptions.DefaultHardErrorLimit, int softErrorLimit = SmtpServerFilteringOptions.DefaultSoftErrorLimit, TimeSpan? errorSleepTime = null,
        int maxConnections = SmtpServerFilteringOptions.DefaultMaxConnections, IReadOnlyList<string>? relayDomains = null, IReadOnlyList<IPNetwork>? relayNetworks = null,
        int maxMessageSize = 0, MaxMessageSizeHandling maxMessageSizeHandling = MaxMessageSizeHandling.Strict, IReadOnlyCollection<string>? droppedHeaderFields = null)
    {
        listeners ??= new EndpointListenerFactory();
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        listeners.EndpointStarted += (_, e) => started.TrySetResult(((IPEndPoint)e.LocalEndPoint).Port);
        var filtering = new SmtpServerFiltering(new SmtpServerFilteringOptions
        {
            OpenFilter = openFilter,
            Store = store,
            AddTraceField = addTraceField,
            EndpointListenerFactory = listeners,
            LoggerFactory = logs,
            LookUpClientNames = lookUpClientNames,
            MaxConnectionsPerClient = maxConnectionsPerClient,
            // The tests' clients are all on loopback, which is exempt by default.
            ConnectionLimitExemptions = loopbackExempt ? SmtpServerFilteringOptions.DefaultConnectionLimitExemptions : [],
            ReadTimeout = readTimeout ?? SmtpServerFilteringOptions.DefaultReadTimeout,
            MaxRecipients = maxRecipients,
            MaxConnections = maxConnections,
            HardErrorLimit = hardErrorLimit,
            SoftErrorLimit = softErrorLimit,
            ErrorSleepTime = errorSleepTime ?? SmtpServerFilteringOptions.DefaultErrorSleepTime,
            RelayDomains = relayDomains,
            RelayNetworks = relayNetworks ?? SmtpServerFilteringOptions.DefaultRelayNetworks,
            DroppedHeaderFields = droppedHeaderFields ?? SpamFilterMilter.Host.Smtp.SmtpFilterSession.DefaultDroppedHeaderFields,
        });
        var builder = new SmtpServerOptionsBuilder()
            .ServerName(Name)
            .Endpoint(endpoint =>
            {
                endpoint.Endpoint(new IPEndPoint(IPAddress.Loopback, 0)).AllowUnsecureAuthentication(users is not null || authenticate is not null)
                    .SessionTimeout(sessionTimeout ?? Timeout.InfiniteTimeSpan); // SmtpServer's 2 minutes would cut a slow test's session
                if (certificate is not null)
                {
                    var factory = certificate as ICertificateFactory;
                    _ = factory is null ? endpoint.Certificate((X509Certificate2)certificate) : endpoint.Certificate(factory);
                    endpoint.SupportedSslProtocols(SslProtocols.None).IsSecure(implicitTls); // None: the system's choice, TLS 1.3 here
                }
            });
        if (maxMessageSize > 0)
        {
            builder = builder.MaxMessageSize(maxMessageSize, maxMessageSizeHandling);
        }

        var options = builder.Build();
        var services = new ServiceProvider();
        authenticate ??= users is null ? null : (user, password) => users.TryGetValue(user, out var expected) && expected == password;
        if (authenticate is not null)
        {
            services.Add(new DelegatingUserAuthenticator(authenticate));
        }

        var server = filtering.CreateServer(options, services);
        var stop = new CancellationTokenSource();
        var running = server.StartAsync(stop.Token);
        var port = await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var result = new FilteringServer(filtering, running, port);
        result._stop.Token.Register(stop.Cancel);
        return result;
    }

    /// <summary>The integration's drain: no new message, and a wait for those under way (<see cref="SmtpServerFiltering.DrainAsync"/>).</summary>
    public Task<bool> DrainAsync(CancellationToken cancellationToken = default) => _filtering.DrainAsync(cancellationToken);

    /// <summary>How many messages are under way.</summary>
    public int MessagesInFlight => _filtering.MessagesInFlight;

    /// <summary>Cancels the server's token and returns once every session's token is cancelled too (its sessions not ended yet).</summary>
    public Task CancelAsync() => _stop.CancelAsync();

    /// <summary>Waits until every session that ended has closed its filter session.</summary>
    public Task SessionsClosedAsync() => _filtering.DisposeAsync().AsTask();

    /// <summary>How many sessions that ended are still closing their filter session.</summary>
    public int ClosingSessions => _filtering.ClosingSessions;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        await _filtering.DisposeAsync();
        _stop.Dispose();
    }
}
