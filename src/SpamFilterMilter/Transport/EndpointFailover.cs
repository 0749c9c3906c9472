using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Transport;

/// <summary>
/// One session's way through a slot's servers: the server to try next, whether a failure passes the session on, and
/// the failure when none is left. The one rule for a session and for a probe (check-config --reach): a server that
/// fails before the milter saw any of the session is counted against it and the next in service is tried, each
/// once; a failure that is not the server's doing (another would fare no better), or the host's cancellation, ends
/// the attempt; with one server its own failure is the answer, as before there were several.
/// </summary>
internal sealed class EndpointFailover(EndpointSet endpoints)
{
    private List<(MilterEndpoint Endpoint, MilterProtocolException Failure)>? _failed; // in the order tried

    /// <summary>The server to try now, or null when none is left (each tried, out of service or being probed).</summary>
    public EndpointLease? Next() => endpoints.Acquire(_failed?.ConvertAll(f => f.Endpoint));

    /// <summary>
    /// Records that <paramref name="lease"/>'s server failed with <paramref name="failure"/> (counted against it when
    /// it is the server's doing, and the lease released) and says whether another server should be tried.
    /// </summary>
    public bool MoveOn(EndpointLease lease, MilterProtocolException failure, CancellationToken cancellationToken)
    {
        if (!MilterEndpoint.CountsAgainstServer(failure.Kind) || cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        lease.Failed(failure.Message);
        if (endpoints.All.Count == 1)
        {
            return false; // one server, as always: its own failure is the answer
        }

        (_failed ??= []).Add((lease.Endpoint, failure));
        return true;
    }

    /// <summary>True when a server failed this session (and so was counted already), false when none could take it.</summary>
    public bool AnyFailed => _failed is not null;

    /// <summary>The failure once <see cref="Next"/> found no server left: what each tried server did, and why the others were not tried.</summary>
    public MilterProtocolException Exhausted()
    {
        if (_failed is null)
        {
            return new MilterProtocolException(MilterFailureKind.Unavailable, FilterStage.Connect, null,
                $"no server can take a session: {endpoints.Unavailable()}");
        }

        var causes = string.Join("; ", _failed.Select(f => $"{f.Endpoint.Name}: {f.Failure.Message}"));
        var untried = _failed.Count < endpoints.All.Count ? $"; {endpoints.Unavailable(_failed.ConvertAll(f => f.Endpoint))}" : string.Empty;
        return new MilterProtocolException(_failed[^1].Failure.Kind, FilterStage.Connect, null, $"every server failed: {causes}{untried}");
    }
}
