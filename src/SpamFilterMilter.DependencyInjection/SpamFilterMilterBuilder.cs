using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SpamFilterMilter.DependencyInjection;

/// <summary>One milter added by <c>services.AddSpamFilterMilter(...)</c>, to add its health check.</summary>
public sealed class SpamFilterMilterBuilder
{
    internal SpamFilterMilterBuilder(IServiceCollection services, string? name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>The service collection the milter was added to.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The milter's name (its services' key and its options' name); null for the unnamed milter.</summary>
    public string? Name { get; }

    /// <summary>
    /// Adds a health check on this milter to <c>services.AddHealthChecks()</c>: healthy when the milter accepts a
    /// connection and negotiates (<see cref="SpamFilterMilterHealthChecksBuilderExtensions.AddSpamFilterMilterCheck"/>).
    /// </summary>
    /// <param name="checkName">The check's name; default <c>spamfilter-milter</c>, or <c>spamfilter-milter:</c> and the milter's name.</param>
    /// <param name="failureStatus">What an unreachable milter reports; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (a readiness endpoint, say).</param>
    /// <param name="timeout">A bound of the check's own; without one, the option file's CONNECT_TIMEOUT and COMMAND_TIMEOUT (both TIMEOUT by default) bound it.</param>
    /// <returns>This builder.</returns>
    public SpamFilterMilterBuilder AddHealthCheck(string? checkName = null, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        Services.AddHealthChecks().AddSpamFilterMilterCheck(Name, checkName, failureStatus, tags, timeout);
        return this;
    }
}
