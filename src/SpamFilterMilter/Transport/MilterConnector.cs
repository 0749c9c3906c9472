using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Transport;

/// <summary>
/// Opens connections to the milter, directly or through a SOCKS5 server. HOST is resolved and each
/// address tried in the order DNS returned them, IPv4 and IPv6 alike, until one accepts (Messaging
/// Server's "primitive load balancing/failover"); through SOCKS each address is asked of the SOCKS
/// server in turn (or the name is passed on, with SOCKS_RESOLVE=remote). CONNECT_TIMEOUT bounds the
/// whole: each attempt gets an equal share of what is left, so a silent first address cannot use up
/// the time of a working second one, while a refusing address fails at once and leaves its share to
/// the next.
/// </summary>
internal sealed class MilterConnector(MilterOptions options, MilterServer server, ILogger logger, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null,
    MilterTelemetry? telemetry = null, string? logName = null)
{
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve = resolve ?? Dns.GetHostAddressesAsync;

    public string EndpointName { get; } = server.Name;

    /// <summary>The milter as log lines name it: the endpoint, with the host's slot when it gave one.</summary>
    private string LogName { get; } = logName ?? server.Name;

    /// <summary>Where the connections are counted and the endpoint's telemetry recorded.</summary>
    public MilterTelemetry Telemetry { get; } = telemetry ?? TelemetryFor(server, MilterMetrics.Shared);

    /// <summary>
    /// The telemetry of <paramref name="server"/>, on <paramref name="metrics"/>: <c>server.address</c> is its host as
    /// HOST names it (or the socket's path), <c>server.port</c> its port (none for a UNIX-domain socket).
    /// </summary>
    public static MilterTelemetry TelemetryFor(MilterServer server, MilterMetrics metrics) =>
        server.UnixSocketPath is { } path ? new MilterTelemetry(metrics, path, port: null) : new MilterTelemetry(metrics, server.Host, server.Port);

    private bool Blocking => options.IoMode == IoMode.Blocking;

    public async ValueTask<MilterConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var deadline = Deadline.After(options.ConnectTimeout);
        MilterConnection connection;
        try
        {
            connection = server.UnixSocketPath is { } path ? await ConnectUnixAsync(path, deadline, cancellationToken).ConfigureAwait(false)
                : options.SocksHost is null ? await ConnectDirectAsync(deadline, cancellationToken).ConfigureAwait(false)
                : await ConnectThroughSocksAsync(deadline, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (MilterProtocolException or OperationCanceledException))
        {
            // What the runtime refuses (a name DNS cannot take, a socket path too long, …) is a failure to connect,
            // not an exception for the host: the options catch the known cases first.
            throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null,
                $"can't connect to {EndpointName}: {e.GetType().Name}: {e.Message}", e);
        }

        if (logger.IsEnabled(LogLevel.Debug))
        {
            // Once per connection, naming where it really goes ("… through SOCKS server …"), name resolution and handshake included.
            Log.Connected(logger, LogName, connection.Remote, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return connection;
    }

    /// <summary>A milter on this machine, on a UNIX-domain socket (sendmail's local:, Postfix's unix:).</summary>
    private async ValueTask<MilterConnection> ConnectUnixAsync(string path, Deadline deadline, CancellationToken cancellationToken)
    {
        var causes = new List<string>();
        var endpoint = new UnixDomainSocketEndPoint(path);
        var (socket, stream) = await TryConnectAsync(endpoint, deadline.Remaining, causes, cancellationToken).ConfigureAwait(false)
            ?? throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null, $"can't connect to {EndpointName}: {Because(causes, EndpointName)}");
        return new MilterConnection(socket, stream, endpoint, EndpointName, Telemetry);
    }

    private async ValueTask<MilterConnection> ConnectDirectAsync(Deadline deadline, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(server.Host, deadline, cancellationToken).ConfigureAwait(false);
        var causes = new List<string>();
        for (var i = 0; i < addresses.Length; i++)
        {
            var endpoint = new IPEndPoint(addresses[i], server.Port);
            if (await TryConnectAsync(endpoint, deadline.Remaining / (addresses.Length - i), causes, cancellationToken).ConfigureAwait(false) is var (socket, stream))
            {
                return new MilterConnection(socket, stream, endpoint, endpoint.ToString(), Telemetry);
            }
        }

        throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null,
            $"can't connect to {EndpointName}: {Because(causes, EndpointName)}");
    }

    /// <summary>
    /// Why every attempt failed, each cause naming the address it tried; one cause that names <paramref name="named"/>
    /// itself (an address given as such, a UNIX socket, a SOCKS server's one address) without that name again.
    /// </summary>
    private static string Because(List<string> causes, string named) =>
        causes is [var only] && only.StartsWith(named + ": ", StringComparison.Ordinal) ? only[(named.Length + 2)..] : string.Join("; ", causes);

    /// <summary>
    /// Through SOCKS5: for each destination (each address of HOST, or its name), connect to the SOCKS
    /// server (each of its addresses in turn) and ask it for the milter. A destination the SOCKS server
    /// cannot reach passes to the next; a refused password or a broken SOCKS server ends the attempt.
    /// </summary>
    private async ValueTask<MilterConnection> ConnectThroughSocksAsync(Deadline deadline, CancellationToken cancellationToken)
    {
        var proxies = await ResolveAsync(options.SocksHost!, deadline, cancellationToken).ConfigureAwait(false);
        Socks5Destination[] destinations = options.SocksResolve == SocksResolve.Remote && !IPAddress.TryParse(server.Host, out _)
            ? [new Socks5Destination(null, server.Host, server.Port)]
            : [.. (await ResolveAsync(server.Host, deadline, cancellationToken).ConfigureAwait(false)).Select(a => new Socks5Destination(a, null, server.Port))];
        var causes = new List<string>();
        for (var i = 0; i < destinations.Length; i++)
        {
            var attempt = Deadline.After(deadline.Remaining / (destinations.Length - i));
            (Socket Socket, ReactorStream? Stream)? connected = null;
            IPEndPoint? proxy = null;
            for (var p = 0; p < proxies.Length && connected is null; p++)
            {
                proxy = new IPEndPoint(proxies[p], options.SocksPort);
                connected = await TryConnectAsync(proxy, attempt.Remaining / (proxies.Length - p), causes, cancellationToken).ConfigureAwait(false);
            }

            if (connected is not var (socket, stream))
            {
                break; // the SOCKS server itself cannot be reached: another destination would not help
            }

            var tunnelled = false;
            try
            {
                await Socks5Tunnel.EstablishAsync(socket, destinations[i], options.SocksUser, options.SocksPassword, Blocking,
                    attempt.Remaining, cancellationToken, stream).ConfigureAwait(false);
                if (Blocking)
                {
                    socket.SendTimeout = socket.ReceiveTimeout = Milliseconds(options.CommandTimeout);
                }

                tunnelled = true;
                return new MilterConnection(socket, stream, proxy!, $"{destinations[i]} through SOCKS server {proxy}", Telemetry);
            }
            catch (SocksException e) when (e.DestinationUnreachable)
            {
                causes.Add($"{destinations[i]} through {proxy}: {e.Message}");
                Log.ConnectAttemptFailed(logger, LogName, destinations[i].ToString(), e.Message);
            }
            catch (SocksException e)
            {
                throw new MilterProtocolException(MilterFailureKind.Socks, FilterStage.Connect, null, $"SOCKS server {proxy}: {e.Message}", e);
            }
            catch (TimeoutException e)
            {
                causes.Add($"{destinations[i]} through {proxy}: {e.Message}");
            }
            finally
            {
                if (!tunnelled)
                {
                    (stream as IDisposable ?? socket).Dispose();
                }
            }
        }

        var socksServer = $"{options.SocksHost}:{options.SocksPort}";
        throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null,
            $"can't connect to {EndpointName} through SOCKS server {socksServer}: {Because(causes, socksServer)}");
    }

    /// <summary>
    /// One connect bounded by <paramref name="bound"/>: the socket, and with async I/O on Linux the stream
    /// <see cref="IoReactor"/> serves it through; null (and a cause) when it fails.
    /// </summary>
    private async ValueTask<(Socket Socket, ReactorStream? Stream)?> TryConnectAsync(EndPoint endpoint, TimeSpan bound, List<string> causes, CancellationToken cancellationToken)
    {
        if (bound <= TimeSpan.Zero)
        {
            causes.Add($"{endpoint}: not tried, CONNECT_TIMEOUT ({options.ConnectTimeout.TotalSeconds:0.##} s) used up");
            return null;
        }

        var where = endpoint is UnixDomainSocketEndPoint ? EndpointName : endpoint.ToString() ?? EndpointName;
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var connected = false;
        ReactorStream? stream = null;
        try
        {
            MilterConnection.Configure(socket);
            if (Blocking)
            {
                ConnectBlocking(socket, endpoint, bound, cancellationToken);
            }
            else
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(bound);
                if (IoReactor.ForNewConnection(options.IoThreads) is { } reactor)
                {
                    stream = await ReactorStream.ConnectAsync(reactor, socket, endpoint, bound, attempt.Token).ConfigureAwait(false);
                }
                else
                {
                    await socket.ConnectAsync(endpoint, attempt.Token).ConfigureAwait(false);
                }
            }

            if (MilterConnection.IsConnectedToItself(socket, endpoint))
            {
                causes.Add($"{where}: connected to itself (nothing listens there, and the port is in the local ephemeral range)");
                Log.ConnectAttemptFailed(logger, LogName, where, "connected to itself");
                return null;
            }

            connected = true;
            return (socket, stream);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            causes.Add($"{where}: no answer within {bound.TotalSeconds:0.##} s");
            Log.ConnectAttemptFailed(logger, LogName, where, "timed out");
            return null;
        }
        catch (SocketException e)
        {
            // .NET maps ENOENT, a socket file that is not there, to the words for an address: "Cannot assign requested address".
            // And it appends the endpoint to its message (a bare path for a UNIX socket): the cause names it in front already.
            var said = endpoint.ToString() is { Length: > 0 } address && e.Message.EndsWith(" " + address, StringComparison.Ordinal)
                ? e.Message[..^(address.Length + 1)]
                : e.Message;
            var why = endpoint is UnixDomainSocketEndPoint && e.SocketErrorCode == SocketError.AddressNotAvailable
                ? $"no such socket ({server.UnixSocketPath} does not exist: is the milter running?)"
                : said;
            causes.Add($"{where}: {why}");
            Log.ConnectAttemptFailed(logger, LogName, where, why);
            return null;
        }
        finally
        {
            if (!connected)
            {
                // A reactor stream owns the socket and is watched: disposing it stops the watch, then closes the socket.
                if (stream is not null)
                {
                    stream.Dispose();
                }
                else
                {
                    socket.Dispose();
                }
            }
        }
    }

    /// <summary>
    /// A synchronous connect, so that the socket stays a plain blocking socket (an async connect would
    /// make .NET emulate blocking reads on it, which costs what blocking mode is meant to save). Linux
    /// bounds a blocking connect by SO_SNDTIMEO; the read and write timeouts are then set for the
    /// session's blocking I/O.
    /// </summary>
    private void ConnectBlocking(Socket socket, EndPoint endpoint, TimeSpan bound, CancellationToken cancellationToken)
    {
        socket.SendTimeout = Milliseconds(bound);
        using var cancel = cancellationToken.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket);
        try
        {
            socket.Connect(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.InProgress or SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new OperationCanceledException("connect timed out", e); // handled as a timeout by the caller
        }
        catch (ObjectDisposedException) when (cancellationToken.IsCancellationRequested)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw;
        }

        socket.SendTimeout = socket.ReceiveTimeout = Milliseconds(options.CommandTimeout);
    }

    private static int Milliseconds(TimeSpan span) => Math.Max(1, (int)Math.Ceiling(span.TotalMilliseconds));

    private async ValueTask<IPAddress[]> ResolveAsync(string host, Deadline deadline, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return [literal];
        }

        using var resolving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        resolving.CancelAfter(deadline.Remaining);
        try
        {
            var addresses = await _resolve(host, resolving.Token).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null, $"{host} has no addresses");
            }

            return addresses;
        }
        catch (SocketException e)
        {
            throw new MilterProtocolException(MilterFailureKind.ConnectFailed, FilterStage.Connect, null, $"can't resolve {host}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MilterProtocolException(MilterFailureKind.Timeout, FilterStage.Connect, null, $"can't resolve {host}: no answer within CONNECT_TIMEOUT", e);
        }
    }
}
