using System.Net;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Net;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.SmtpServer;
using SmtpServerHost = SmtpServer.SmtpServer;

namespace SpamFilterMilter.Relay;

/// <summary>
/// The relay while it runs: SmtpServer listening, with the SmtpServer integration and no filter of its own at the
/// commands (the slots of option.dat filter whole messages, <see cref="RelayStore"/>), the host library's
/// <see cref="SpamFilterHost"/> with every slot's plug-in loaded, and where messages go.
/// </summary>
internal sealed class RelayServer : IAsyncDisposable
{
    private readonly SpamFilterHost _host;
    private readonly SmtpServerFiltering _filtering;
    private readonly CancellationTokenSource _stop;
    private readonly Task _running;
    private readonly ILogger _logger;
    private readonly RelayMetrics? _metrics;
    private readonly RelayCertificate? _certificate;
    private readonly NextHop? _nextHop;
    private readonly RelayOptions _options;

    private RelayServer(RelayOptions options, SpamFilterHost host, SmtpServerFiltering filtering, CancellationTokenSource stop, Task running, IReadOnlyList<IPEndPoint> endPoints,
        ILogger logger, RelayMetrics? metrics, RelayCertificate? certificate, NextHop? nextHop)
    {
        _options = options;
        _host = host;
        _certificate = certificate;
        _nextHop = nextHop;
        _logger = logger;
        _metrics = metrics;
        _filtering = filtering;
        _stop = stop;
        _running = running;
        EndPoints = endPoints;
    }

    /// <summary>Where it listens, the first of <see cref="EndPoints"/>.</summary>
    public IPEndPoint EndPoint => EndPoints[0];

    /// <summary>Every address and port it listens on (the port the system chose where it was asked for 0).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; }

    /// <summary>Completes when the relay has stopped (its cancellation token fired, or it was disposed).</summary>
    public Task Completion => _running;

    /// <summary>
    /// Loads option.dat and its plug-ins and starts listening. Throws <see cref="SpamFilterConfigurationException"/>
    /// for a wrong option.dat or channel table, or a slot whose plug-in cannot be used.
    /// </summary>
    public static async Task<RelayServer> StartAsync(RelayOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.NextHop is { } hop && options.Listen.FirstOrDefault(listen => IsOwnAddress(hop, listen)) is { } own)
        {
            throw new InvalidOperationException(
                $"--next-hop {hop.Host}:{hop.Port} is the relay's own --listen {own}: every message would come back to the relay, a mail loop");
        }

        var logger = loggerFactory.CreateLogger("SpamFilterMilter.Relay");
        var hostOptions = SpamFilterHostOptions.Load(options.OptionFile, options.PluginFolder);
        var channels = options.ChannelFile is null ? null : ChannelTable.Load(options.ChannelFile);
        // The CA file is read now: one that cannot be used stops the relay, naming it.
        var nextHop = options.NextHop is null ? null : new NextHop(options.NextHop, options.ServerName, options.NextHopTimeout, NextHop.TlsFor(options), logger);
        // Read before anything starts: a certificate that cannot be used stops the relay now, naming the file.
        var certificate = options.TlsCertificate is null ? null : new RelayCertificate(options.TlsCertificate, options.TlsKey, logger);
        var maildir = options.Maildir is null ? null : new Maildir(options.Maildir);
        var quarantine = new Maildir(options.Quarantine);
        maildir?.Prepare(); // a maildir that cannot be written stops the relay now, not every message later
        quarantine.Prepare();
        // The metrics before the plug-ins: an up-down counter a plug-in sets as it starts (its servers' circuit breakers)
        // would otherwise be missed, and read one less ever after.
        var metrics = options.MetricsOtlp is { } url ? RelayMetrics.Start(url, options.MetricsInterval, logger) : null;
        SpamFilterHost? host = null;
        try
        {
            host = SpamFilterHost.Create(hostOptions, channels, loggerFactory: loggerFactory); // logs a slot it cannot load (5001)
            if (host.LoadProblems is { Count: > 0 } problems)
            {
                // The host library would run on and fail that slot's messages; the relay refuses to start, as a reload refuses
                // the same file, so that a service manager sees the mistake at once: every slot's, each of its bad lines.
                throw SpamFilterConfigurationException.Combine([.. problems.SelectMany(p => p.AllProblems)]);
            }

            WarnOfSlotsNeverChosen(host, options, logger);

            var listeners = new EndpointListenerFactory();
            var started = new TaskCompletionSource<IReadOnlyList<IPEndPoint>>(TaskCreationOptions.RunContinuationsAsynchronously);
            var listening = new List<IPEndPoint>();
            listeners.EndpointStarted += (_, e) =>
            {
                lock (listening)
                {
                    listening.Add((IPEndPoint)e.LocalEndPoint);
                    if (listening.Count == options.Listen.Count)
                    {
                        started.TrySetResult([.. listening]);
                    }
                }
            };
            var filtering = new SmtpServerFiltering(new SmtpServerFilteringOptions
            {
                Store = new RelayStore(host, options, nextHop, maildir, quarantine, logger),
                EndpointListenerFactory = listeners,
                LoggerFactory = loggerFactory,
                MaxConnections = options.MaxConnections,
                MaxConnectionsPerClient = options.MaxConnectionsPerClient,
                ConnectionLimitExemptions = options.ConnectionLimitExemptions,
                RelayDomains = options.RelayDomains,
                RelayNetworks = options.RelayNetworks,
                DroppedHeaderFields = options.DroppedHeaderFields,
                ReadTimeout = options.ReadTimeout,
                MaxRecipients = options.MaxRecipients,
                HardErrorLimit = options.HardErrorLimit,
                SoftErrorLimit = options.SoftErrorLimit,
                ErrorSleepTime = options.ErrorSleepTime,
            });
            var builder = new SmtpServerOptionsBuilder()
                .ServerName(options.ServerName)
                .CustomSmtpGreeting(_ => $"220 {options.ServerName} ESMTP spamfilter-relay")
                // A command line must come whole within about the read timeout; the integration bounds each read by it and
                // answers first (a second later here), so that 6030 names the read timeout, as the docs say.
                .CommandWaitTimeout(options.ReadTimeout == Timeout.InfiniteTimeSpan ? options.ReadTimeout : options.ReadTimeout + TimeSpan.FromSeconds(1))
                // SmtpServer ends a session after MaxRetryCount errors of its own in a row, in silence: the integration's
                // error limit, which counts every error as Postfix does and says 421 4.7.0, comes first (and a limit of
                // int.MaxValue must not wrap to a negative count, which SmtpServer takes for none left).
                .MaxRetryCount(options.HardErrorLimit > 0 ? (int)Math.Min((long)options.HardErrorLimit + 1, int.MaxValue) : 1000);
            foreach (var listen in options.Listen)
            {
                builder = builder.Endpoint(endpoint =>
                {
                    // SmtpServer's default is 2 minutes for the whole session, which cut a long message in the middle:
                    // none by default, as Postfix has none; each read is bounded instead (--read-timeout).
                    endpoint.Endpoint(listen).SessionTimeout(options.SessionTimeout);
                    if (certificate is not null)
                    {
                        // None: the system's choice, TLS 1.2 and 1.3 (SmtpServer's default is TLS 1.2 alone).
                        endpoint.Certificate(certificate.Pem).SupportedSslProtocols(System.Security.Authentication.SslProtocols.None);
                    }
                });
            }

            if (options.MaxMessageSize > 0)
            {
                // Announced as SIZE; the integration reads each message against it and answers one over it 552 5.3.4 after
                // its final dot, as Postfix does, holding no more of it than this. Strict: SmtpServer's own bound on a
                // command line (it never sees a message's bytes); so 0 cannot mean "none" here.
                builder = builder.MaxMessageSize(options.MaxMessageSize, MaxMessageSizeHandling.Strict);
            }

            var serverOptions = builder.Build();
            var server = filtering.CreateServer(serverOptions);
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var running = server.StartAsync(stop.Token);
            if (await Task.WhenAny(started.Task, running).ConfigureAwait(false) != started.Task)
            {
                stop.Dispose();
                var cause = running.Exception?.GetBaseException();
                throw new InvalidOperationException($"cannot listen on {string.Join(" and ", options.Listen)}: {cause?.Message ?? "the server stopped"}", cause);
            }

            var endPoints = await started.Task.ConfigureAwait(false);
            RelayLog.Listening(logger, string.Join(" and ", endPoints), options.ServerName, hostOptions.FilePath, host.Slots.Count,
                nextHop is not null ? $"next hop {nextHop} (--next-hop-tls {options.NextHopTls.ToString().ToLowerInvariant()})" : $"maildir {maildir!.Root}");
            if (options.RelayDomains is null && endPoints.Any(endPoint => !IPAddress.IsLoopback(endPoint.Address)))
            {
                // Reachable from other machines and no --relay-domain: only the next hop's rules stand between this relay
                // and an open relay. Said once, at the start, where the administrator looks.
                RelayLog.NoRelayDomains(logger, string.Join(" and ", endPoints.Where(endPoint => !IPAddress.IsLoopback(endPoint.Address))));
            }

            certificate?.Started();
            return new RelayServer(options, host, filtering, stop, running, endPoints, logger, metrics, certificate, nextHop);
        }
        catch
        {
            // Whatever stops the start (a slot it cannot load, an address it cannot listen on) leaves nothing running.
            if (host is not null)
            {
                await host.DisposeAsync().ConfigureAwait(false);
            }

            metrics?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether <paramref name="nextHop"/> is where the relay itself listens: the same address and port, or, when it listens
    /// on every address of a family, a loopback or wildcard address of that family on the same port (<c>localhost</c> is
    /// 127.0.0.1). A name other than localhost is not resolved here: the hop count limit (554 5.4.0) still ends such a loop.
    /// </summary>
    internal static bool IsOwnAddress(DnsEndPoint nextHop, IPEndPoint listen)
    {
        if (nextHop.Port != listen.Port)
        {
            return false;
        }

        var hop = nextHop.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
            : IPAddress.TryParse(nextHop.Host, out var literal) ? Unmapped(literal) : null;
        var own = Unmapped(listen.Address);
        var wildcard = own.Equals(IPAddress.Any) || own.Equals(IPAddress.IPv6Any); // .NET's [::] is IPv6 alone
        return hop is not null
            && (hop.Equals(own)
                || (wildcard && hop.AddressFamily == own.AddressFamily && IPAddress.IsLoopback(hop)));

        static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }

    /// <summary>
    /// Reads option.dat, each slot's option file and the channel table (<c>--channels</c>) again, as SIGHUP asks: new
    /// messages use them, messages in flight finish with the old ones; a broken file changes nothing. The host library
    /// logs what changed, or why not; a slot the new settings let nothing opt in to is warned of again (7014). The TLS
    /// certificate and the next hop's CA file are read again too, each on its own: one that cannot be used keeps the
    /// one in use (7017, 7022).
    /// </summary>
    public async Task<HostReload> ReloadAsync(CancellationToken cancellationToken = default)
    {
        _certificate?.Reload(); // certbot's deploy hook reloads the service after a renewal
        _nextHop?.ReloadAuthorities(_options); // a CA rotated at the next hop: no restart, which would drop sessions
        var reload = await _host.ReloadAsync(cancellationToken).ConfigureAwait(false);
        if (reload.Applied)
        {
            WarnOfSlotsNeverChosen(_host, _options, _logger);
        }

        return reload;
    }

    /// <summary>A Warning (7014) for each slot nothing can opt the relay's messages in to: it would let every message through unfiltered in silence.</summary>
    private static void WarnOfSlotsNeverChosen(SpamFilterHost host, RelayOptions options, ILogger logger)
    {
        foreach (var (slot, why) in host.SlotsNothingOptsIn(options.SourceChannel, options.DestinationChannel))
        {
            RelayLog.SlotNeverChosen(logger, slot, why);
        }
    }

    /// <summary>
    /// Stops gracefully (SIGTERM): new connections and messages are answered 421 4.3.2 at once, the messages under way
    /// may finish within <paramref name="drainFor"/> (no longer once <paramref name="hurry"/> fires: a second signal),
    /// then whatever is left is answered 421 4.3.2 and every session closes. <see cref="DisposeAsync"/> follows.
    /// </summary>
    public async Task StopAsync(string why, TimeSpan drainFor, CancellationToken hurry)
    {
        RelayLog.Stopping(_logger, why, _filtering.MessagesInFlight, drainFor.TotalSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(hurry);
        deadline.CancelAfter(drainFor);
        if (await _filtering.DrainAsync(deadline.Token).ConfigureAwait(false))
        {
            RelayLog.Drained(_logger);
        }
        else
        {
            RelayLog.DrainCut(_logger, _filtering.MessagesInFlight,
                hurry.IsCancellationRequested ? $"at a second {why}" : $"after {drainFor.TotalSeconds} s");
        }

        await _stop.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>Stops listening, ends the sessions (a message under way is answered 421 4.3.2), closes every filter and disposes the plug-ins.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _running.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        if (_certificate is not null)
        {
            await _certificate.DisposeAsync().ConfigureAwait(false);
        }

        await _filtering.DisposeAsync().ConfigureAwait(false);
        await _host.DisposeAsync().ConfigureAwait(false);
        _metrics?.Dispose();
        _stop.Dispose();
    }
}
