namespace SpamFilterMilter.Transport;

/// <summary>
/// A session's hold on one server: counted as outstanding until <see cref="Release"/>; the session's outcomes go to
/// the server's breaker, the first one as the probe's when the session is the probe.
/// </summary>
internal sealed class EndpointLease
{
    private readonly bool _probe;
    private bool _reported;
    private bool _released;

    internal EndpointLease(MilterEndpoint endpoint, bool probe)
    {
        Endpoint = endpoint;
        _probe = probe;
        endpoint.Hold();
    }

    public MilterEndpoint Endpoint { get; }

    /// <summary>The server answered a message (or a session) without failing.</summary>
    public void Succeeded()
    {
        Endpoint.Breaker.Succeeded(_probe && !_reported);
        _reported = true;
    }

    /// <summary>The server failed (<paramref name="cause"/>); the lease is released.</summary>
    public void Failed(string cause)
    {
        if (_released)
        {
            return;
        }

        Endpoint.Failed(_probe && !_reported, cause);
        _reported = true;
        Release();
    }

    /// <summary>The session is done with the server. A probe that told nothing gives its turn to the next session.</summary>
    public void Release()
    {
        if (_released)
        {
            return;
        }

        _released = true;
        Endpoint.Let();
        if (_probe && !_reported)
        {
            Endpoint.Breaker.ProbeAbandoned();
        }
    }
}
