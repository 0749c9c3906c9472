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
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(options.Timeout);
                await socket.ConnectAsync(endpoint, attempt.Token).ConfigureAwait(false);
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
