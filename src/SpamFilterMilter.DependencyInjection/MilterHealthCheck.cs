using Microsoft.Extensions.Diagnostics.HealthChecks;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.DependencyInjection;

/// <summary>
/// Healthy when the milter answers as it would for the next message: the plug-in connects (DNS order, SOCKS, the
/// socket the options name), negotiates and quits (<see cref="MilterPlugin.ProbeAsync"/>, what
/// <c>spamfilter-milter probe</c> does). The description says what was negotiated, or why it could not be.
/// </summary>
internal sealed class MilterHealthCheck(MilterPlugin plugin) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            var negotiated = await plugin.ProbeAsync(cancellationToken).ConfigureAwait(false);
            var data = new Dictionary<string, object>
            {
                ["endpoint"] = negotiated.Endpoint,
                ["remote"] = negotiated.Remote,
                ["version"] = negotiated.Version,
                ["actions"] = negotiated.DescribeActions(),
                ["steps"] = negotiated.DescribeSteps(),
            };
            return HealthCheckResult.Healthy($"milter {negotiated.Endpoint}: protocol {negotiated.Version}, actions {negotiated.DescribeActions()}", data);
        }
        catch (IOException e)
        {
            // As the CLI's probe says it: the milter, then the reason (MilterProtocolException and SocksException are IOExceptions).
            return new HealthCheckResult(context.Registration.FailureStatus, $"{plugin.Description}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested)
        {
            // The registration's timeout (or the caller) ended the probe. Left to it, the health check service would say
            // only "A timeout occurred while running check."; the milter's name and the bound tell an administrator more.
            var bound = context.Registration.Timeout == Timeout.InfiniteTimeSpan ? "" : $" ({context.Registration.Timeout.TotalSeconds:0.###} s)";
            return new HealthCheckResult(context.Registration.FailureStatus, $"{plugin.Description}: no answer before the health check's timeout{bound}", e);
        }
    }
}
