using System.Text.RegularExpressions;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Tests;

/// <summary>
/// The documentation describes what the code does: every option, metric and tested protocol row, in
/// docs/ and in etc/; and the README and docs/ hold together (short README, no dead links).
/// </summary>
public class DocumentationTests
{
    [Test]
    public void Docs_options_md_documents_every_milter_option_with_its_default_and_the_numbers_it_accepts()
    {
        var page = File.ReadAllText(Repository.Path("docs/options.md"));

        foreach (var option in MilterOptions.Descriptors.Values)
        {
            var expectedDefault = option.Default.StartsWith('(') ? option.Default : $"`{option.Default}`";
            var range = option.Range is var (min, max) ? $"{min} to {max}" : "-";
            Assert.That(page, Does.Contain($"| `{option.Name}` | {expectedDefault} | {range} |"), option.Name);
        }
    }

    [Test]
    public void Docs_operations_md_documents_every_metric_with_its_kind_unit_and_buckets()
    {
        var page = File.ReadAllText(Repository.Path("docs/operations.md"));
        var metrics = SpamFilterMilter.Diagnostics.MilterMetrics.Shared;
        var instruments = new List<System.Diagnostics.Metrics.Instrument>();
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                // This assembly's meter: a test that loaded the plug-in by path (a second copy) may have made another of that name.
                if (instrument.Meter == metrics.Meter)
                {
                    instruments.Add(instrument);
                }
            };
            listener.Start();
        }

        Assert.That(instruments, Has.Count.EqualTo(7));
        foreach (var instrument in instruments)
        {
            var kind = instrument.GetType().Name switch
            {
                "Counter`1" => "counter",
                "Histogram`1" => "histogram",
                "UpDownCounter`1" => "up-down counter",
                var other => other,
            };
            Assert.That(page, Does.Contain($"| `{instrument.Name}` | {kind}, `{instrument.Unit}` |"), instrument.Name);
        }

        Assert.That(page, Does.Contain("Buckets (seconds): " + string.Join(", ", SpamFilterMilter.Diagnostics.MilterMetrics.DurationBuckets.Select(b => b.ToString(System.Globalization.CultureInfo.InvariantCulture)))));
    }

    [Test]
    public void Docs_operations_md_lists_every_log_event_id_with_its_level()
    {
        var page = File.ReadAllText(Repository.Path("docs/operations.md"));
        var events = typeof(SpamFilterMilter.Diagnostics.MilterMetrics).Assembly.GetType("SpamFilterMilter.Diagnostics.Log")!
            .GetMethods().Select(m => m.GetCustomAttributes(false).OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>().SingleOrDefault())
            .OfType<Microsoft.Extensions.Logging.LoggerMessageAttribute>().ToList();

        Assert.That(events, Has.Count.GreaterThanOrEqualTo(10));
        foreach (var e in events)
        {
            Assert.That(page, Does.Contain($"| {e.EventId} | {e.Level} |"), e.Message);
        }
    }

    [Test]
    public void Every_test_the_protocol_table_names_exists()
    {
        var page = File.ReadAllText(Repository.Path("docs/protocol.md"));
        var table = page[page.IndexOf("## Commands and replies", StringComparison.Ordinal)..page.IndexOf("## Packets and payload layouts", StringComparison.Ordinal)];
        var tests = TestClassSources();
        var references = Regex.Matches(table, @"`(\w+Tests)(?:\.(\w+)…?)?(?:\(([^)`]*)\))?`");

        Assert.That(references, Has.Count.GreaterThan(30));
        foreach (Match reference in references)
        {
            Assert.That(tests, Does.ContainKey(reference.Groups[1].Value), reference.Value);
            if (reference.Groups[2].Success)
            {
                Assert.That(tests[reference.Groups[1].Value], Does.Match($@"\b(?:void|Task) {Regex.Escape(reference.Groups[2].Value)}\w*\("), reference.Value);
            }

            if (reference.Groups[1].Value == "ScenarioTests" && reference.Groups[3].Success)
            {
                var prefix = reference.Groups[3].Value.TrimEnd('…');
                Assert.That(Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios"), prefix + "*.scenario"), Is.Not.Empty, reference.Value);
            }
        }
    }

    [Test]
    public void Every_repository_path_the_docs_name_exists()
    {
        var files = Directory.GetFiles(Repository.Path("docs"), "*.md").Append(Repository.Path("README.md"))
            .Concat(Directory.GetFiles(Repository.Path("tests"), "README.md", SearchOption.AllDirectories).Where(f => !f.Contains("/bin/", StringComparison.Ordinal)));
        var paths = 0;

        foreach (var file in files)
        {
            foreach (Match path in Regex.Matches(File.ReadAllText(file), @"`((?:src|tests|tools|etc)/[\w./-]+)`"))
            {
                Assert.That(File.Exists(Repository.Path(path.Groups[1].Value)) || Directory.Exists(Repository.Path(path.Groups[1].Value)), Is.True,
                    $"{Path.GetRelativePath(Repository.Root, file)} names {path.Value}, which does not exist");
                paths++;
            }
        }

        Assert.That(paths, Is.GreaterThan(20), "the paths were found");
    }

    /// <summary>Every test class in tests/, by name, with the text of the file that holds it: the docs name tests of every test project.</summary>
    private static Dictionary<string, string> TestClassSources()
    {
        var classes = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(Repository.Path("tests"), "*Tests.cs", SearchOption.AllDirectories))
        {
            if (file.Contains("/bin/", StringComparison.Ordinal) || file.Contains("/obj/", StringComparison.Ordinal))
            {
                continue;
            }

            var text = File.ReadAllText(file);
            foreach (Match declaration in Regex.Matches(text, @"\bclass (\w+Tests)\b"))
            {
                classes[declaration.Groups[1].Value] = classes.GetValueOrDefault(declaration.Groups[1].Value) + text; // two projects may name a class alike
            }
        }

        return classes;
    }

    [Test]
    public void The_example_option_file_loads_and_mentions_every_option()
    {
        var path = Repository.Path("etc/milter.opt");
        var text = File.ReadAllText(path);

        var options = MilterOptions.Load(path);

        Assert.That((options.Host, options.Port), Is.EqualTo(("127.0.0.1", 8890)));
        foreach (var name in MilterOptions.Descriptors.Keys)
        {
            Assert.That(text, Does.Contain(name + " ("), $"etc/milter.opt explains {name}");
        }
    }

    [Test]
    public void The_README_stays_under_200_lines()
    {
        var lines = File.ReadAllLines(Repository.Path("README.md"));

        Assert.That(lines, Has.Length.LessThan(200), "the README says what this is and where to read on; the rest belongs in docs/");
    }

    [Test]
    public void The_README_links_every_page_in_docs()
    {
        var readme = File.ReadAllText(Repository.Path("README.md"));
        var pages = Directory.GetFiles(Repository.Path("docs"), "*.md");

        Assert.That(pages, Has.Length.GreaterThanOrEqualTo(11));
        foreach (var page in pages)
        {
            Assert.That(readme, Does.Contain($"](docs/{Path.GetFileName(page)})"), Path.GetFileName(page));
        }
    }

    [Test]
    public void Every_relative_link_in_the_README_and_docs_points_at_a_file_and_heading_that_exist()
    {
        var root = Path.GetFullPath(Repository.Path("."));
        var files = Directory.GetFiles(Repository.Path("docs"), "*.md").Prepend(Repository.Path("README.md")).Select(Path.GetFullPath).ToList();
        var links = 0;

        foreach (var file in files)
        {
            var text = string.Join('\n', OutsideCodeBlocks(File.ReadAllText(file)));
            text = Regex.Replace(text, "`[^`]*`", string.Empty); // a link inside a code span (which may wrap) is not a link
            foreach (Match link in Regex.Matches(text, @"\]\(([^)\s]+)\)"))
            {
                var target = link.Groups[1].Value;
                if (Regex.IsMatch(target, "^[A-Za-z][A-Za-z0-9+.-]*:"))
                {
                    continue; // https:, mailto:
                }

                var where = $"{Path.GetRelativePath(root, file)}: ({target})";
                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var path = hash < 0 ? target : target[..hash];
                var resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(path)));
                Assert.That(resolved, Does.StartWith(root), where);
                Assert.That(File.Exists(resolved) || Directory.Exists(resolved), Is.True, $"{where}: no such file");
                if (hash >= 0)
                {
                    Assert.That(resolved, Does.EndWith(".md"), $"{where}: an anchor needs a Markdown page");
                    Assert.That(Anchors(File.ReadAllText(resolved)), Does.Contain(target[(hash + 1)..]), $"{where}: no such heading");
                }

                links++;
            }
        }

        Assert.That(links, Is.GreaterThan(30), "the links were found");
    }

    [Test]
    public void Anchors_are_made_from_headings_as_GitHub_makes_them()
    {
        var anchors = Anchors("# Checking a milter: `spamfilter-milter`\n## Failures and `spamfilterX_optional`\n```sh\n# not a heading\n```\n## option.dat\n## option.dat\n");

        Assert.That(anchors, Is.EqualTo(new[] { "checking-a-milter-spamfilter-milter", "failures-and-spamfilterx_optional", "optiondat", "optiondat-1" }));
    }

    /// <summary>The anchors GitHub gives a page's headings: lower case, punctuation but - and _ dropped, spaces as -, repeats numbered.</summary>
    private static List<string> Anchors(string markdown)
    {
        var anchors = new List<string>();
        foreach (var line in OutsideCodeBlocks(markdown))
        {
            var heading = Regex.Match(line, @"^#{1,6}[ \t]+(.+?)[ \t]*$");
            if (!heading.Success)
            {
                continue;
            }

            var slug = Regex.Replace(heading.Groups[1].Value.ToLowerInvariant(), @"[^\p{L}\p{Mn}\p{Nd}\p{Pc} -]", string.Empty).Replace(' ', '-');
            var unique = slug;
            for (var n = 1; anchors.Contains(unique); n++)
            {
                unique = $"{slug}-{n}";
            }

            anchors.Add(unique);
        }

        return anchors;
    }

    private static IEnumerable<string> OutsideCodeBlocks(string markdown)
    {
        var inFence = false;
        foreach (var line in markdown.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            if (!inFence)
            {
                yield return line;
            }
        }
    }
}
