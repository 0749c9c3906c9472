using System.IO.Compression;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace SpamFilterMilter.Tests.Packaging;

/// <summary>
/// The packages as a new user gets them (docs/packages.md): packed from this build, then a brand-new console project
/// that restores only from them (and, for Microsoft's packages, the machine's own NuGet source) filters a message
/// through a real milter with the page's own code, and the page's dependency-injection sample builds against them. In
/// the plug-in's tests because what it proves is the plug-in's package (the folder a host loads it from by path); the
/// other packages are packed as the examples and the readme checks need them.
/// </summary>
[Category("Integration")]
public class PackageTests
{
    /// <summary>The library packages, each with whether this test project's build built it already (it references it).</summary>
    private static readonly (string Project, bool BuiltWithTheTests)[] Projects =
    [
        ("src/SpamFilterMilter.Contract/SpamFilterMilter.Contract.csproj", true),
        ("src/SpamFilterMilter/SpamFilterMilter.csproj", true),
        ("src/SpamFilterMilter.Host/SpamFilterMilter.Host.csproj", true),
        ("src/SpamFilterMilter.DependencyInjection/SpamFilterMilter.DependencyInjection.csproj", false),
        ("src/SpamFilterMilter.SmtpServer/SpamFilterMilter.SmtpServer.csproj", false),
    ];

    private static readonly TimeSpan Within = TimeSpan.FromMinutes(5);

    private TempFolder _folder = null!;

    private string Packages => PackedPackages.Folder ?? Path.Combine(_folder.Path, "packages");

    /// <summary>The one version, from Directory.Build.props.</summary>
    private static string Version { get; } =
        Regex.Match(File.ReadAllText(Repository.Path("Directory.Build.props")), "<VersionPrefix>([^<]+)</VersionPrefix>").Groups[1].Value;

    [OneTimeSetUp]
    public async Task PackThePackagesOfThisBuild()
    {
        _folder = new TempFolder();
        if (PackedPackages.Folder is not null)
        {
            return; // tests/run-tests.sh packed this build already
        }

        // This build's configuration is built already (the tests reference every project packed): pack it as it is.
        var configuration = typeof(PackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        foreach (var (project, built) in Projects)
        {
            string[] build = built ? ["--no-build"] : [];
            await RunAsync(null, "dotnet", ["pack", Repository.Path(project), "-c", configuration, .. build, "-o", Packages, "-nologo"]);
        }
    }

    [OneTimeTearDown]
    public void DeleteThePackages() => _folder.Dispose();

    [TestCase("SpamFilterMilter.Contract")]
    [TestCase("SpamFilterMilter")]
    [TestCase("SpamFilterMilter.Host")]
    [TestCase("SpamFilterMilter.DependencyInjection")]
    [TestCase("SpamFilterMilter.SmtpServer")]
    public void Each_package_has_the_one_version_its_description_its_own_readme_and_its_symbols(string id)
    {
        var nuspec = Nuspec(id);
        string? Element(string name) => nuspec.Root!.Element(nuspec.Root.Name.Namespace + "metadata")!.Element(nuspec.Root.Name.Namespace + name)?.Value;

        Assert.Multiple(() =>
        {
            Assert.That(Element("version"), Is.EqualTo(Version).And.Not.Empty);
            Assert.That(Element("description"), Does.Not.Contain("Package Description").And.Length.GreaterThan(60));
            Assert.That(Element("readme"), Is.EqualTo("README.md"));
            Assert.That(EntryText(id, "README.md"), Is.EqualTo(File.ReadAllText(Repository.Path($"src/{id}/README.md"))),
                "the project's own page, not the repository's README, whose relative links do not resolve on a feed");
            Assert.That(File.Exists(Path.Combine(Packages, $"{id}.{Version}.snupkg")), Is.True, "symbols");
        });
    }

    [Test]
    public void The_plugin_package_holds_the_assembly_to_reference_and_the_folder_to_load_by_path_without_the_Contract()
    {
        var entries = Entries("SpamFilterMilter");

        Assert.That(entries, Is.SupersetOf(new[]
        {
            "lib/net10.0/SpamFilterMilter.dll",
            "build/SpamFilterMilter.targets",
            "plugins/SpamFilterMilter/SpamFilterMilter.dll",
            "plugins/SpamFilterMilter/SpamFilterMilter.deps.json",
            "plugins/SpamFilterMilter/Microsoft.Extensions.Configuration.dll",
        }));
        Assert.That(entries.Where(e => e.EndsWith("SpamFilterMilter.Contract.dll", StringComparison.Ordinal)), Is.Empty, "the host's Contract is the one both see");
        Assert.That(entries.Where(e => e.EndsWith(".runtimeconfig.json", StringComparison.Ordinal)), Is.Empty,
            "a library loaded into its host's runtime has no runtime settings of its own to ship");
    }

    [Test]
    public void A_program_referencing_the_plugin_package_gets_the_Contract_at_run_time_too()
    {
        var nuspec = Nuspec("SpamFilterMilter");
        var contract = nuspec.Descendants(nuspec.Root!.Name.Namespace + "dependency").Single(d => (string?)d.Attribute("id") == "SpamFilterMilter.Contract");

        Assert.That((string?)contract.Attribute("version"), Is.EqualTo(Version));
        Assert.That((string?)contract.Attribute("exclude") ?? string.Empty, Does.Not.Contain("Runtime"));
    }

    [Test]
    public async Task A_new_console_project_restoring_only_these_packages_filters_a_message_through_a_real_milter_as_the_docs_show()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES", "-a", "eom=quarantine:looks like spam");
        var example = Section(File.ReadAllText(Repository.Path("docs/packages.md")), "## A message through a milter in fifteen lines");
        var program = CodeBlock(example, "csharp");
        var project = Directory.CreateDirectory(Path.Combine(_folder.Path, "Example")).FullName;
        File.WriteAllText(Path.Combine(project, "Example.csproj"), CodeBlock(example, "xml", "<Project"));
        File.WriteAllText(Path.Combine(project, "Program.cs"), program);
        File.WriteAllText(Path.Combine(project, "nuget.config"), await NuGetConfigAsync(project));
        File.WriteAllText(Path.Combine(project, "milter.opt"), $"HOST=127.0.0.1\nPORT={milter.Port}\n");
        File.WriteAllText(Path.Combine(project, "message.eml"), "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nHello Bob.\r\n");

        var output = await RunAsync(project, "dotnet", "run");

        Assert.That(output, Does.Contain("String: require [\"editheader\", \"vnd.spamfiltermilter\"];")
            .And.Contain("addheader :last \"X-Spam-Flag\" \"YES\";")
            .And.Contain("quarantine \"looks like spam\";"));
        Assert.That(program.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.LessThanOrEqualTo(16), "about fifteen lines");
        Assert.That(Directory.Exists(Path.Combine(project, "packages-cache", "spamfiltermilter", Version)), Is.True, "restored from the packed folder");
    }

    [TestCase(false, TestName = "{m}")]
    [TestCase(true, TestName = "{m}_also_as_a_single_file")]
    public async Task The_same_project_published_runs_from_its_publish_folder_with_the_plugin_folder_beside_it(bool singleFile)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES");
        var example = Section(File.ReadAllText(Repository.Path("docs/packages.md")), "## A message through a milter in fifteen lines");
        var project = Directory.CreateDirectory(Path.Combine(_folder.Path, singleFile ? "SingleFileExample" : "PublishedExample")).FullName;
        File.WriteAllText(Path.Combine(project, "Example.csproj"), CodeBlock(example, "xml", "<Project"));
        File.WriteAllText(Path.Combine(project, "Program.cs"), CodeBlock(example, "csharp"));
        File.WriteAllText(Path.Combine(project, "nuget.config"), await NuGetConfigAsync(project));
        var published = Path.Combine(project, "published");
        string[] single = singleFile ? ["-r", "linux-x64", "--self-contained", "false", "-p:PublishSingleFile=true"] : [];
        await RunAsync(project, "dotnet", ["publish", "-nologo", "-o", published, .. single]);
        File.WriteAllText(Path.Combine(published, "milter.opt"), $"HOST=127.0.0.1\nPORT={milter.Port}\n");
        File.WriteAllText(Path.Combine(published, "message.eml"), "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nHello Bob.\r\n");

        var output = singleFile ? await RunAsync(published, Path.Combine(published, "Example")) : await RunAsync(published, "dotnet", Path.Combine(published, "Example.dll"));

        Assert.That(output, Does.Contain("addheader :last \"X-Spam-Flag\" \"YES\";"));
        Assert.That(File.Exists(Path.Combine(published, "plugins", "SpamFilterMilter", "SpamFilterMilter.dll")), Is.True);
    }

    [Test]
    public async Task The_dependency_injection_sample_builds_in_a_new_project_restoring_only_these_packages()
    {
        var example = Section(File.ReadAllText(Repository.Path("docs/packages.md")), "## Dependency injection and configuration");
        var project = Directory.CreateDirectory(Path.Combine(_folder.Path, "DependencyInjectionExample")).FullName;
        var hosting = Regex.Match(File.ReadAllText(Repository.Path("Directory.Packages.props")), "\"Microsoft.Extensions.Hosting\" Version=\"([^\"]+)\"").Groups[1].Value;
        File.WriteAllText(Path.Combine(project, "DependencyInjectionExample.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="SpamFilterMilter.DependencyInjection" Version="{Version}" />
                <PackageReference Include="Microsoft.Extensions.Hosting" Version="{hosting}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(project, "Program.cs"), CodeBlock(example, "csharp"));
        File.WriteAllText(Path.Combine(project, "nuget.config"), await NuGetConfigAsync(project));

        await RunAsync(project, "dotnet", "build", "-nologo", "-o", Path.Combine(project, "out"));

        Assert.That(File.Exists(Path.Combine(project, "out", "DependencyInjectionExample.dll")), Is.True, "the page's own code, usings included, compiles");
        Assert.That(Directory.Exists(Path.Combine(project, "packages-cache", "spamfiltermilter.dependencyinjection", Version)), Is.True, "restored from the packed folder");
    }

    /// <summary>
    /// Restores the SpamFilterMilter packages only from the packed folder and everything else only from the machine's
    /// own NuGet sources, into a package cache of the project's own (no earlier restore of the same version can stand in).
    /// </summary>
    private async Task<string> NuGetConfigAsync(string project)
    {
        var listed = await RunAsync(_folder.Path, "dotnet", "nuget", "list", "source", "--format", "short");
        var machine = listed.Split('\n').Where(l => l.StartsWith("E ", StringComparison.Ordinal)).Select(l => l[2..].Trim()).ToList();
        Assert.That(machine, Is.Not.Empty, "the machine has a NuGet source for Microsoft's packages");
        return new XDocument(new XElement("configuration",
            new XElement("config", new XElement("add", new XAttribute("key", "globalPackagesFolder"), new XAttribute("value", Path.Combine(project, "packages-cache")))),
            new XElement("packageSources", new XElement("clear"),
                new XElement("add", new XAttribute("key", "spamfiltermilter"), new XAttribute("value", Packages)),
                machine.Select((url, i) => new XElement("add", new XAttribute("key", $"machine{i + 1}"), new XAttribute("value", url)))),
            new XElement("packageSourceMapping", new XElement("clear"),
                new XElement("packageSource", new XAttribute("key", "spamfiltermilter"),
                    new XElement("package", new XAttribute("pattern", "SpamFilterMilter")), new XElement("package", new XAttribute("pattern", "SpamFilterMilter.*"))),
                machine.Select((_, i) => new XElement("packageSource", new XAttribute("key", $"machine{i + 1}"), new XElement("package", new XAttribute("pattern", "*"))))))).ToString();
    }

    private XDocument Nuspec(string id)
    {
        using var package = ZipFile.OpenRead(Path.Combine(Packages, $"{id}.{Version}.nupkg"));
        using var stream = package.GetEntry(id + ".nuspec")!.Open();
        return XDocument.Load(stream);
    }

    private List<string> Entries(string id)
    {
        using var package = ZipFile.OpenRead(Path.Combine(Packages, $"{id}.{Version}.nupkg"));
        return [.. package.Entries.Select(e => e.FullName)];
    }

    private string EntryText(string id, string entry)
    {
        using var package = ZipFile.OpenRead(Path.Combine(Packages, $"{id}.{Version}.nupkg"));
        using var reader = new StreamReader(package.GetEntry(entry)!.Open());
        return reader.ReadToEnd();
    }

    /// <summary>The part of a Markdown page from <paramref name="heading"/> to the next heading of its level.</summary>
    private static string Section(string page, string heading)
    {
        var start = page.IndexOf(heading + "\n", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), $"docs/packages.md has \"{heading}\"");
        var end = page.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
        return end < 0 ? page[start..] : page[start..end];
    }

    /// <summary>The first code block in <paramref name="language"/> whose text starts with <paramref name="startsWith"/>.</summary>
    private static string CodeBlock(string section, string language, string startsWith = "")
    {
        foreach (Match block in Regex.Matches(section, $"```{language}\n(.*?)```", RegexOptions.Singleline))
        {
            if (block.Groups[1].Value.StartsWith(startsWith, StringComparison.Ordinal))
            {
                return block.Groups[1].Value;
            }
        }

        Assert.Fail($"no ```{language} block starting with {startsWith}");
        return string.Empty;
    }

    private static async Task<string> RunAsync(string? workingDirectory, string program, params string[] arguments)
    {
        var (exitCode, output) = await ServerProcess.RunAsync(program, arguments, Within, workingDirectory);
        Assert.That(exitCode, Is.Zero, $"{program} {string.Join(' ', arguments)}:\n{output}");
        return output;
    }
}
