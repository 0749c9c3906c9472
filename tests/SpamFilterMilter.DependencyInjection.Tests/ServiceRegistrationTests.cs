using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.DependencyInjection.Tests;

/// <summary>What a container resolves after AddSpamFilterMilter, and what it hands the plug-in.</summary>
public class ServiceRegistrationTests
{
    private static IConfiguration Settings(string prefix, string host, int port) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { [$"{prefix}:HOST"] = host, [$"{prefix}:PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        .Build().GetSection(prefix);

    [Test]
    public async Task The_milter_is_one_singleton_resolved_as_ISpamFilterPlugin_and_as_MilterPlugin()
    {
        await using var provider = new ServiceCollection().AddSpamFilterMilter(Settings("Milter", "milter.example.com", 8890)).Services.BuildServiceProvider();

        var plugin = provider.GetRequiredService<ISpamFilterPlugin>();

        Assert.That(plugin, Is.SameAs(provider.GetRequiredService<MilterPlugin>()).And.SameAs(provider.GetRequiredService<ISpamFilterPlugin>()));
        Assert.That(plugin.Description, Is.EqualTo("milter milter.example.com:8890"));
    }

    [Test]
    public async Task Named_milters_are_keyed_services_each_with_its_own_options()
    {
        var services = new ServiceCollection();
        services.AddSpamFilterMilter(Settings("Spam", "spam.example.com", 783), "spam");
        services.AddSpamFilterMilter(Settings("Dkim", "dkim.example.com", 8891), "dkim");
        await using var provider = services.BuildServiceProvider();

        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredKeyedService<ISpamFilterPlugin>("spam").Description, Is.EqualTo("milter spam.example.com:783"));
            Assert.That(provider.GetRequiredKeyedService<MilterPlugin>("dkim").Description, Is.EqualTo("milter dkim.example.com:8891"));
            Assert.That(provider.GetService<ISpamFilterPlugin>(), Is.Null, "no unnamed milter was added");
        });
    }

    [Test]
    public void A_milter_name_added_twice_is_refused()
    {
        var services = new ServiceCollection();
        services.AddSpamFilterMilter(Settings("Spam", "h", 1), "spam");

        var error = Assert.Throws<InvalidOperationException>(() => services.AddSpamFilterMilter(Settings("Other", "h", 2), "spam"))!;

        Assert.That(error.Message, Is.EqualTo("A milter named \"spam\" was already added."));
    }

    [Test]
    public async Task The_plugin_logs_through_the_containers_logger_factory_and_measures_through_its_meter_factory()
    {
        var logs = new CapturedLogs();
        var services = new ServiceCollection().AddSingleton<ILoggerFactory>(logs).AddMetrics();
        services.AddSpamFilterMilter(Settings("Milter", "h", 1));
        await using var provider = services.BuildServiceProvider();

        var plugin = provider.GetRequiredService<MilterPlugin>();
        plugin.Context.Logger.Log(LogLevel.Warning, default, "through the container", null, (text, _) => text);

        Assert.That(logs.Entries.Select(e => (e.Category, e.Message)), Is.EqualTo(new[] { (Diagnostics.Log.Category, "through the container") }));
        Assert.That(plugin.Context.MeterFactory, Is.SameAs(provider.GetRequiredService<IMeterFactory>()));
    }

    [Test]
    public async Task Without_logging_in_the_container_the_plugin_writes_its_own_log_as_when_loaded_by_path()
    {
        await using var provider = new ServiceCollection().AddSpamFilterMilter(Settings("Milter", "h", 1)).Services.BuildServiceProvider();

        var plugin = provider.GetRequiredService<MilterPlugin>();

        Assert.That((plugin.Context.Logger.IsEnabled(LogLevel.Warning), plugin.Context.Logger.IsEnabled(LogLevel.Information)), Is.EqualTo((true, false)),
            "standard error, at the level DEBUG=0 selects");
        Assert.That(plugin.Context.MeterFactory, Is.Null);
    }

    [Test]
    public void A_container_disposed_synchronously_closes_the_plugin_once_without_throwing()
    {
        var services = new ServiceCollection().AddMetrics();
        services.AddSpamFilterMilter(Settings("Milter", "h", 1));
        var provider = services.BuildServiceProvider();
        var meterFactory = provider.GetRequiredService<IMeterFactory>();
        long endpointsInService = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // This container's meter only: other tests' plug-ins count their own servers.
            if (instrument.Meter.Scope == meterFactory && instrument.Name == "spamfilter.milter.client.endpoint.count")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, delta, _, _) => Interlocked.Add(ref endpointsInService, delta));
        listener.Start();

        _ = provider.GetRequiredService<ISpamFilterPlugin>(); // also resolves MilterPlugin: the container holds it as both
        Assert.That(Interlocked.Read(ref endpointsInService), Is.EqualTo(1), "the plug-in counts its server in when made");

        Assert.DoesNotThrow(provider.Dispose, "using var provider = services.BuildServiceProvider() disposes synchronously");
        Assert.That(Interlocked.Read(ref endpointsInService), Is.Zero, "disposed once, its server counted out once");
    }
}
