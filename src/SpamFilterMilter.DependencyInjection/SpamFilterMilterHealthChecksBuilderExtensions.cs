using Microsoft.Extensions.Diagnostics.HealthChecks;
using SpamFilterMilter.DependencyInjection;
using SpamFilterMilter.Plugin;

// The namespace of IHealthChecksBuilder's own Add* methods.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The health check of a milter added with <c>services.AddSpamFilterMilter(...)</c>.</summary>
public static class SpamFilterMilterHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a check that connects to the milter and negotiates, then quits, as <c>spamfilter-milter probe</c> does:
    /// healthy when it answers (the description says which protocol version and actions), <paramref name="failureStatus"/>
    /// with the reason when it cannot be reached or negotiation fails.
    /// </summary>
    /// <param name="builder">The health checks.</param>
    /// <param name="milterName">The milter's name as given to AddSpamFilterMilter; null for the unnamed milter.</param>
    /// <param name="checkName">The check's name; default <c>spamfilter-milter</c>, or <c>spamfilter-milter:</c> and the milter's name.</param>
    /// <param name="failureStatus">What an unreachable milter reports; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (a readiness endpoint, say).</param>
    /// <param name="timeout">A bound of the check's own; without one, the option file's CONNECT_TIMEOUT and COMMAND_TIMEOUT (both TIMEOUT by default) bound it.</param>
    /// <returns>The health checks.</returns>
    public static IHealthChecksBuilder AddSpamFilterMilterCheck(
        this IHealthChecksBuilder builder,
        string? milterName = null,
        string? checkName = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            checkName ?? (milterName is null ? "spamfilter-milter" : "spamfilter-milter:" + milterName),
            services => new MilterHealthCheck(milterName is null
                ? services.GetRequiredService<MilterPlugin>()
                : services.GetRequiredKeyedService<MilterPlugin>(milterName)),
            failureStatus,
            tags,
            timeout));
    }
}
