using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol;

namespace SpamFilterMilter.Transport;

/// <summary>
/// Opens connections to the milter: resolves HOST and tries each address in the order DNS returned
/// them, IPv4 and IPv6 alike, until one accepts (Messaging Server's "primitive load
/// balancing/failover"). Each attempt is bounded by the timeout; a refused address fails fast.
/// </summary>
internal sealed class MilterConnector(MilterOptions options, ILogger logger, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
{
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve = resolve ?? Dns.GetHostAddressesAsync;

    public string EndpointName { get; } = options.EndpointName;

    public async ValueTask<MilterConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(options.Host, cancellationToken).ConfigureAwait(false);
        var causes = new List<string>();
        foreach (var address in addresses)
        {
            var endpoint = new IPEndPoint(address, options.Port);
            var started = Stopwatch.GetTimestamp();
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                MilterConnection.Configure(socket);
                if (options.IoMode == IoMode.Blocking)
                {
                    ConnectBlocking(socket, endpoint, cancellationToken);
                }
                else
                {
                    using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    attempt.CancelAfter(options.Timeout);
                    await socket.ConnectAsync(endpoint, attempt.Token).ConfigureAwait(false);
                }

                if (logger.IsEnabled(LogLevel.Debug))
                {
                    Log.Connected(logger, EndpointName, endpoint.ToString(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }

                return new MilterConnection(socket, endpoint.ToString());
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                var cause = $"{endpoint}: no answer within {options.Timeout.TotalSeconds:0.##} s";
                causes.Add(cause);
                Log.ConnectAttemptFailed(logger, EndpointName, cause, "timed out");
            }
            catch (SocketException e)
            {
                socket.Dispose();
                var where = endpoint.ToString();
                causes.Add($"{where}: {e.Message}");
                Log.ConnectAttemptFailed(logger, EndpointName, where, e.Message);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new MilterProtocolException(MilterFailureKind.ConnectFailed, "connect",
            $"can't connect to {EndpointName}: {string.Join("; ", causes)}");
    }

    /// <summary>
    /// A synchronous connect, so that the socket stays a plain blocking socket (an async connect would
    /// make .NET emulate blocking reads on it, which costs what blocking mode is meant to save). Linux
    /// bounds a blocking connect by SO_SNDTIMEO; the read and write timeouts are then set for the
    /// session's blocking I/O.
    /// </summary>
    private void ConnectBlocking(Socket socket, IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var timeout = (int)Math.Ceiling(options.Timeout.TotalMilliseconds);
        socket.SendTimeout = timeout;
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

        socket.ReceiveTimeout = timeout;
    }

    private async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return [literal];
        }

        try
        {
            var addresses = await _resolve(host, cancellationToken).ConfigureAwait(false);
            if (addresses.Length == 0)
            {
                throw new MilterProtocolException(MilterFailureKind.ConnectFailed, "connect", $"{host} has no addresses");
            }

            return addresses;
        }
        catch (SocketException e)
        {
            throw new MilterProtocolException(MilterFailureKind.ConnectFailed, "connect", $"can't resolve {host}: {e.Message}", e);
        }
    }
}
