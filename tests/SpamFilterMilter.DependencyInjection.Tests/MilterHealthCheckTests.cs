using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SpamFilterMilter.DependencyInjection.Tests;

/// <summary>The health check negotiates with a real milter, and reports a milter it cannot reach with the reason.</summary>
[Category("Integration")]
public class MilterHealthCheckTests
{
    private static IConfiguration Settings(int port) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { ["SpamFilterMilter:HOST"] = "127.0.0.1", ["SpamFilterMilter:PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["SpamFilterMilter:TIMEOUT"] = "1000" })
        .Build().GetSection("SpamFilterMilter");

    [Test]
    public async Task A_libmilter_milter_that_negotiates_is_healthy_and_says_what_it_asked_for()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-A", "ADDHDRS,QUARANTINE");
        var services = new ServiceCollection().AddLogging();
        services.AddSpamFilterMilter(Settings(milter.Port)).AddHealthCheck();
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        var entry = report.Entries["spamfilter-milter"];
        Assert.That((entry.Status, entry.Description), Is.EqualTo((HealthStatus.Healthy, $"milter 127.0.0.1:{milter.Port}: protocol 6, actions ADDHDRS|QUARANTINE")));
        Assert.That(entry.Data["version"], Is.EqualTo(6u));
        Assert.That((await milter.TranscriptAfterAsync("negotiate")).Select(l => l.Event), Does.Contain("negotiate"), "the milter saw the negotiation");
    }

    [Test]
    public async Task A_closed_port_is_unhealthy_with_the_reason_the_probe_gives_and_the_attempt_in_the_containers_log()
    {
        var port = ClosedPort();
        var logs = new CapturedLogs();
        var services = new ServiceCollection().AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(logs).AddLogging();
        services.AddSpamFilterMilter(Settings(port), "spam");
        services.AddHealthChecks().AddSpamFilterMilterCheck("spam");
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        var entry = report.Entries["spamfilter-milter:spam"];
        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(entry.Description, Does.StartWith($"milter 127.0.0.1:{port}: can't connect to 127.0.0.1:{port}"));
        Assert.That(entry.Exception, Is.InstanceOf<IOException>());
        Assert.That(logs.Entries.Select(e => (e.Category, e.EventId.Id)), Does.Contain(("SpamFilterMilter", 1002)), "the failed attempt, in the container's log");
    }

    [Test]
    public async Task A_milter_that_never_answers_is_unhealthy_at_the_checks_timeout_with_the_milter_named_not_the_generic_text()
    {
        // A listener that never accepts: the connection completes in its backlog, the negotiation gets no answer, and the
        // option file's TIMEOUT (10 s) is longer than the check's own bound.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var services = new ServiceCollection().AddLogging();
        services.AddSpamFilterMilter(Settings(port)).AddHealthCheck(timeout: TimeSpan.FromMilliseconds(300));
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        var entry = report.Entries["spamfilter-milter"];
        Assert.That(entry.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(entry.Description, Is.EqualTo($"milter 127.0.0.1:{port}: no answer before the health check's timeout (0.3 s)"));
        Assert.That(entry.Duration, Is.LessThan(TimeSpan.FromSeconds(9)), "the check's own bound, not the option file's TIMEOUT");
    }

    /// <summary>A loopback port nothing listens on: one that was just free.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
