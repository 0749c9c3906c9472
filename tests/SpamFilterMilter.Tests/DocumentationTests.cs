using SpamFilterMilter.Options;
using SpamFilterMilter.ReferenceHost;

namespace SpamFilterMilter.Tests;

/// <summary>The documentation describes what the code does: every option, in the README and in etc/.</summary>
public class DocumentationTests
{
    private static string Repository(string relative) =>
        Path.Combine(RepositoryPaths.Find("etc").Parent!.FullName, relative);

    [Test]
    public void The_README_documents_every_milter_option_with_its_default()
    {
        var readme = File.ReadAllText(Repository("README.md"));

        foreach (var option in MilterOptions.Descriptors.Values)
        {
            var expectedDefault = option.Default.StartsWith('(') ? option.Default : $"`{option.Default}`";
            Assert.That(readme, Does.Contain($"| `{option.Name}` | {expectedDefault} |"), option.Name);
        }
    }

    [Test]
    public void The_example_option_file_loads_and_mentions_every_option()
    {
        var path = Repository("etc/milter.opt");
        var text = File.ReadAllText(path);

        var options = MilterOptions.Load(path);

        Assert.That((options.Host, options.Port), Is.EqualTo(("127.0.0.1", 8890)));
        foreach (var name in MilterOptions.Descriptors.Keys)
        {
            Assert.That(text, Does.Contain(name + " ("), $"etc/milter.opt explains {name}");
        }
    }
}
