using SpamFilterMilter.Diagnostics;

namespace SpamFilterMilter.Transport;

/// <summary>
/// Counts one connection open (spamfilter.milter.client.connection.count), in its state, until its stream is disposed,
/// whoever disposes it: a <see cref="MilterConnection"/>'s stream, .NET's or <see cref="ReactorStream"/>, closes it. A
/// connection changes state only where one owner has it (a session, or the pool).
/// </summary>
internal sealed class ConnectionCount
{
    private readonly MilterTelemetry _telemetry;
    private readonly Lock _gate = new();
    private string _state = MilterTelemetry.Active;
    private bool _open = true;

    public ConnectionCount(MilterTelemetry telemetry)
    {
        _telemetry = telemetry;
        telemetry.CountConnection(_state, +1);
    }

    public void MoveTo(string state)
    {
        lock (_gate)
        {
            if (!_open || ReferenceEquals(state, _state))
            {
                return;
            }

            _telemetry.CountConnection(_state, -1);
            _telemetry.CountConnection(state, +1);
            _state = state;
        }
    }

    /// <summary>No longer counted; later calls do nothing.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_open)
            {
                _open = false;
                _telemetry.CountConnection(_state, -1);
            }
        }
    }
}
