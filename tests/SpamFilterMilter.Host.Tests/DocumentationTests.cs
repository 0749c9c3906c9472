using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests;

/// <summary>The host's documentation describes what the code does: every option, in option.dat.sample and the README.</summary>
public class DocumentationTests
{
    [Test]
    public void Option_dat_sample_documents_every_option_with_its_default_and_loads()
    {
        var path = Repository.Path("option.dat.sample");
        var text = File.ReadAllText(path);

        foreach (var option in HostOptions.Descriptions)
        {
            Assert.That(text, Does.Contain($"! {option.Name} (default: {option.Default})"), option.Name);
        }

        Assert.That(HostOptions.Load(path).Slots.Single().Number, Is.EqualTo(1));
    }

    [Test]
    public void The_README_ends_with_the_host_section_naming_every_option()
    {
        var readme = File.ReadAllText(Repository.Path("README.md"));
        var start = readme.IndexOf("\n## Configuring the host", StringComparison.Ordinal);

        Assert.That(start, Is.GreaterThan(0));
        var section = readme[start..];
        Assert.That(section.IndexOf("\n## ", 1, StringComparison.Ordinal), Is.EqualTo(-1), "it is the last section");
        foreach (var option in HostOptions.Descriptions)
        {
            Assert.That(section, Does.Contain($"`{option.Name}`"), option.Name);
        }
    }

    [Test]
    public void The_sample_option_dat_in_etc_loads_with_the_reference_hosts_plugin_folder()
    {
        var options = HostOptions.Load(Repository.Path("etc/option.dat"), "/opt/host/plugins");

        var slot = options.Slots.Single();
        Assert.That(slot.Library, Is.EqualTo("/opt/host/plugins/SpamFilterMilter/SpamFilterMilter.dll"));
        Assert.That(slot.ConfigFile, Is.EqualTo(Repository.Path("etc/milter.opt")));
        Assert.That(slot.VerdictRules.Single().Pattern.Text, Is.EqualTo("*quarantine \"*"));
        Assert.That(options.Directory.File, Is.EqualTo(Repository.Path("etc/directory.ldif")));
    }
}
