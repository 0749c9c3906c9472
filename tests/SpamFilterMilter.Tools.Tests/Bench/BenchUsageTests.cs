namespace SpamFilterMilter.Tools.Tests.Bench;

/// <summary>
/// The benchmark and soak scripts take environment variables, not arguments: --help prints the usage their header
/// comment is, and anything else is refused at once (run.sh would otherwise start its half hour of runs). The Python
/// tables say what is wrong in one line rather than with a traceback.
/// </summary>
public class BenchUsageTests : TempFolderTest
{
    [TestCase("tools/bench/run.sh", "PERF=1 MILTERS=continue-all CONNECTIONS=32 tools/bench/run.sh")]
    [TestCase("tools/bench/pool.sh", "N=50 C=8 TIMEOUT=50 IO=async tools/bench/pool.sh")]
    [TestCase("tools/soak/run.sh", "SECONDS_EACH=60 CONNECTIONS=64 tools/soak/run.sh")]
    public async Task A_script_prints_its_usage_with_help_and_refuses_an_argument_it_does_not_take(string script, string usageLine)
    {
        var help = await RunAsync("bash", Repository.Path(script), "--help");
        var wrong = await RunAsync("bash", Repository.Path(script), "now");

        Assert.That(help.ExitCode, Is.Zero, help.Error);
        Assert.That(help.Output, Does.Contain(usageLine).And.Not.Contain("set -euo pipefail"));
        Assert.That(help.Output.Split('\n'), Has.None.StartsWith("#"), "the comment's own marks are left out");
        Assert.That((wrong.ExitCode, wrong.Output), Is.EqualTo((2, "")), "nothing built, nothing run");
        Assert.That(wrong.Error, Does.Contain("takes no arguments, only environment variables"));
    }

    [TestCase("tools/bench/cpu-split.py", new string[0], 2, "tools/bench/cpu-split.py RESULTS_FOLDER [FREQUENCY] [--functions REGEX]")]
    [TestCase("tools/bench/cpu-split.py", new[] { "/no/such/results" }, 2, "/no/such/results: not a folder (give run.sh's RESULTS folder)")]
    [TestCase("tools/bench/cpu-split.py", new[] { "{folder}", "often" }, 2, "often: not a sampling frequency in Hz")]
    [TestCase("tools/bench/cpu-split.py", new[] { "{folder}", "--functions" }, 2, "--functions needs a regular expression")]
    [TestCase("tools/bench/table.py", new[] { "continue-all" }, 2, "tools/bench/table.py \"MILTERS\" \"PATHS\" FOLDER...")]
    [TestCase("tools/bench/table.py", new[] { "continue-all", "tcp", "/no/such/results" }, 2, "/no/such/results: not a folder")]
    public async Task A_table_script_given_a_wrong_command_line_says_what_is_wrong_without_a_traceback(string script, string[] arguments, int exit, string said)
    {
        var run = await RunAsync("python3", [Repository.Path(script), .. arguments.Select(a => a.Replace("{folder}", Folder.Path, StringComparison.Ordinal))]);

        Assert.That(run.ExitCode, Is.EqualTo(exit));
        Assert.That(run.Error, Does.Contain(said).And.Not.Contain("Traceback"));
    }

    [TestCase("tools/bench/cpu-split.py")]
    [TestCase("tools/bench/table.py")]
    public async Task A_table_script_prints_its_usage_with_help(string script)
    {
        var run = await RunAsync("python3", Repository.Path(script), "--help");

        Assert.That((run.ExitCode, run.Error), Is.EqualTo((0, "")));
        Assert.That(run.Output, Does.Contain(script));
    }

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(string program, params string[] arguments) =>
        ServerProcess.RunToEndAsync(program, arguments, TimeSpan.FromSeconds(60));
}
