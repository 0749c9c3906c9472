using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Transport;

/// <summary>
/// The milter servers of one slot (HOST, one or several) and which one a session gets. A server whose probe is due
/// gets the next session (one at a time); otherwise the server in service with the fewest sessions under way ("least
/// outstanding"), ties taken in turn. Least outstanding rather than plain round robin: a wedged or slow server keeps
/// the sessions it has, so it stops getting new ones before its breaker has seen enough failures to open, while a
/// fast one takes more. With one server and no breaker (BREAKER_THRESHOLD 0, the default for one) every session gets
/// it, as before there were several. Thread-safe; one per plug-in instance.
/// </summary>
internal sealed class EndpointSet : IAsyncDisposable
{
    private readonly MilterEndpoint[] _endpoints;
    private readonly Lock _gate = new();
    private int _next;

    public EndpointSet(MilterOptions options, ILogger logger, MilterMetrics metrics, TimeProvider time, int slot = 0)
    {
        _endpoints = [.. options.Servers.Select(server => new MilterEndpoint(options, server, logger, metrics, time, slot))];
        Telemetry = _endpoints.Length == 1 ? _endpoints[0].Telemetry : MilterTelemetry.ForServers(metrics, options.Host);
    }

    /// <summary>Every server, in HOST's order.</summary>
    public IReadOnlyList<MilterEndpoint> All => _endpoints;

    /// <summary>What is recorded when no server could take a message: the server's own with one, the list's with several.</summary>
    public MilterTelemetry Telemetry { get; }

    /// <summary>
    /// A server for a session, held until the lease is released; null when none can take it (every one out of service,
    /// being probed by another session, or in <paramref name="tried"/>).
    /// </summary>
    public EndpointLease? Acquire(IReadOnlyCollection<MilterEndpoint>? tried = null)
    {
        lock (_gate)
        {
            var start = _next;
            _next = (_next + 1) % _endpoints.Length;
            MilterEndpoint? best = null;
            for (var i = 0; i < _endpoints.Length; i++)
            {
                var endpoint = _endpoints[(start + i) % _endpoints.Length];
                if (tried?.Contains(endpoint) == true)
                {
                    continue;
                }

                if (endpoint.Breaker.TryStartProbe())
                {
                    return new EndpointLease(endpoint, probe: true);
                }

                if (endpoint.Breaker.IsClosed && (best is null || endpoint.Outstanding < best.Outstanding))
                {
                    best = endpoint;
                }
            }

            return best is null ? null : new EndpointLease(best, probe: false);
        }
    }

    /// <summary>
    /// Why <see cref="Acquire"/> found none: each server (but those in <paramref name="except"/>) out of service with the
    /// time left, or being probed.
    /// </summary>
    public string Unavailable(IReadOnlyCollection<MilterEndpoint>? except = null) => string.Join("; ", _endpoints.Where(e => except?.Contains(e) != true).Select(e => e.Breaker.State switch
    {
        BreakerState.Open => $"{e.Name} out of service for {e.Breaker.BackoffLeft.TotalSeconds:0.#} s more",
        BreakerState.HalfOpen => $"{e.Name} being probed",
        _ => $"{e.Name} tried",
    }));

    public async ValueTask DisposeAsync()
    {
        foreach (var endpoint in _endpoints)
        {
            await endpoint.DisposeAsync().ConfigureAwait(false);
        }
    }
}
