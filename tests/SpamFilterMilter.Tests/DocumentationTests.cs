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
    public void The_README_documents_every_metric_with_its_kind_and_unit()
    {
        var readme = File.ReadAllText(Repository("README.md"));
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(SpamFilterMilter.Diagnostics.MilterTelemetry).TypeHandle);
        var instruments = new List<System.Diagnostics.Metrics.Instrument>();
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == SpamFilterMilter.Diagnostics.MilterTelemetry.Name)
                {
                    instruments.Add(instrument);
                }
            };
            listener.Start();
        }

        Assert.That(instruments, Has.Count.EqualTo(5));
        foreach (var instrument in instruments)
        {
            var kind = instrument.GetType().Name switch
            {
                "Counter`1" => "counter",
                "Histogram`1" => "histogram",
                "UpDownCounter`1" => "up-down counter",
                var other => other,
            };
            Assert.That(readme, Does.Contain($"| `{instrument.Name}` | {kind}, `{instrument.Unit}` |"), instrument.Name);
        }
    }

    [Test]
    public void Every_test_the_protocol_table_names_exists()
    {
        var readme = File.ReadAllText(Repository("README.md"));
        var table = readme[readme.IndexOf("## Protocol support", StringComparison.Ordinal)..readme.IndexOf("## When the milter misbehaves", StringComparison.Ordinal)];
        var tests = typeof(DocumentationTests).Assembly.GetTypes().Where(t => t.Name.EndsWith("Tests", StringComparison.Ordinal)).ToDictionary(t => t.Name);
        var references = System.Text.RegularExpressions.Regex.Matches(table, @"`(\w+Tests)(?:\.(\w+)…?)?(?:\(([^)`]*)\))?`");

        Assert.That(references, Has.Count.GreaterThan(30));
        foreach (System.Text.RegularExpressions.Match reference in references)
        {
            Assert.That(tests, Does.ContainKey(reference.Groups[1].Value), reference.Value);
            if (reference.Groups[2].Success)
            {
                var methods = tests[reference.Groups[1].Value].GetMethods().Select(m => m.Name);
                Assert.That(methods, Has.Some.StartsWith(reference.Groups[2].Value), reference.Value);
            }

            if (reference.Groups[1].Value == "ScenarioTests" && reference.Groups[3].Success)
            {
                var prefix = reference.Groups[3].Value.TrimEnd('…');
                Assert.That(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios"), prefix + "*.scenario"), Is.Not.Empty, reference.Value);
            }
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
