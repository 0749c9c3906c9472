using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests;

/// <summary>The host's documentation describes what the code does: every option, in option.dat.sample and docs/host.md.</summary>
public class DocumentationTests
{
    [Test]
    public void Option_dat_sample_documents_every_option_with_its_default_and_loads()
    {
        var path = Repository.Path("option.dat.sample");
        var text = File.ReadAllText(path);

        foreach (var option in SpamFilterHostOptions.Descriptions)
        {
            Assert.That(text, Does.Contain($"! {option.Name} (default: {option.Default})"), option.Name);
        }

        Assert.That(SpamFilterHostOptions.Load(path).Slots.Single().Number, Is.EqualTo(1));
    }

    [Test]
    public void Docs_host_md_names_every_option_with_its_default()
    {
        var page = File.ReadAllText(Repository.Path("docs/host.md"));

        Assert.That(page, Does.StartWith("# Configuring the host\n"));
        foreach (var option in SpamFilterHostOptions.Descriptions)
        {
            var expectedDefault = option.Default == "none" ? "none" : $"`{option.Default}`";
            Assert.That(page, Does.Contain($"| `{option.Name}` | {expectedDefault} |"), option.Name);
        }
    }

    [Test]
    public void Docs_operations_md_lists_every_log_event_id_of_the_host_with_its_level()
    {
        var page = File.ReadAllText(Repository.Path("docs/operations.md"));
        var events = typeof(SpamFilterHostOptions).Assembly.GetType("SpamFilterMilter.Host.Diagnostics.HostLog")!
            .GetMethods().Select(m => m.GetCustomAttributes(false).OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>().SingleOrDefault())
            .OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>().ToList();

        Assert.That(events, Has.Count.GreaterThan(10));
        foreach (var e in events)
        {
            Assert.That(page, Does.Contain($"| {e.EventId} | {e.Level} |"), e.Message);
        }
    }

    [Test]
    public void The_sample_option_dat_in_etc_loads_with_the_reference_hosts_plugin_folder()
    {
        var options = SpamFilterHostOptions.Load(Repository.Path("etc/option.dat"), "/opt/host/plugins");

        var slot = options.Slots.Single();
        Assert.That(slot.Library, Is.EqualTo("/opt/host/plugins/SpamFilterMilter/SpamFilterMilter.dll"));
        Assert.That(slot.ConfigFile, Is.EqualTo(Repository.Path("etc/milter.opt")));
        Assert.That(slot.VerdictRules.Single().Pattern.Text, Is.EqualTo("*quarantine \"*"));
        Assert.That(options.Directory.File, Is.EqualTo(Repository.Path("etc/directory.ldif")));
    }
}
