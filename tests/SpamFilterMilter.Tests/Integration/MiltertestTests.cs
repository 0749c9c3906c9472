using System.Globalization;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// The test milters under opendkim's miltertest, an MTA-side harness independent of ours
/// (tests/milters/miltertest): what they are proven to do there is what our tests rely on.
/// </summary>
[Category("Integration")]
public class MiltertestTests
{
    [Test]
    public async Task The_test_milters_pass_every_miltertest_script()
    {
        var folder = Repository.Path("tests/milters/miltertest");
        var scripts = Directory.GetFiles(folder, "*.lua").Select(Path.GetFileNameWithoutExtension).Where(n => n != "lib").Order().ToList();
        var environment = $"BASE_PORT={ServerProcess.FreePortBlock(10).ToString(CultureInfo.InvariantCulture)}";

        var (exitCode, output) = await ServerProcess.RunAsync("env", [environment, "sh", Path.Combine(folder, "run-all.sh")], TimeSpan.FromMinutes(3));

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.StartsWith("PASS: ", StringComparison.Ordinal)),
            Is.EqualTo(scripts.Select(s => $"PASS: {s}")), output);
        Assert.That(scripts, Has.Count.GreaterThanOrEqualTo(6));
    }
}
