using System.Diagnostics;

namespace SpamFilterMilter.Tools.Tests.Cli;

/// <summary>spamfilter-milter as an administrator gets it: dotnet pack, dotnet tool install, run.</summary>
[Category("Integration")]
public class ToolPackageTests : TempFolderTest
{
    [Test]
    public async Task The_package_installs_as_a_dotnet_tool_that_probes_a_real_milter()
    {
        var project = Repository.Path("tools/SpamFilterMilter.Cli/SpamFilterMilter.Cli.csproj");
        var packages = PackedPackages.Folder ?? Path.Combine(Folder.Path, "packages");
        var tools = Path.Combine(Folder.Path, "tools");
        await using var milter = await MilterProcess.StartLibmilterAsync("-A", "ADDHDRS");

        if (PackedPackages.Folder is null)
        {
            await RunAsync("dotnet", "pack", project, "-c", "Release", "-o", packages, "-nologo");
        }

        await RunAsync("dotnet", "tool", "install", "SpamFilterMilter.Cli", "--tool-path", tools, "--add-source", packages);
        var probe = await RunAsync(Path.Combine(tools, "spamfilter-milter"), "probe", "--host", "127.0.0.1", "--port",
            milter.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.That(probe, Does.Contain("protocol version:  6").And.Contain("may:               add and insert headers\n"));
    }

    private static async Task<string> RunAsync(string program, params string[] args)
    {
        var (exitCode, output, error) = await ServerProcess.RunToEndAsync(program, args, TimeSpan.FromMinutes(3));
        Assert.That(exitCode, Is.Zero, $"{program} {string.Join(' ', args)}:\n{output}\n{error}");
        return output;
    }
}
