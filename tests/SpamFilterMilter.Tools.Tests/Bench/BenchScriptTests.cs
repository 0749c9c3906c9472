using System.Diagnostics;

namespace SpamFilterMilter.Tools.Tests.Bench;

/// <summary>tools/bench/run.sh, the script behind the README's figures, on a small run.</summary>
[Category("Integration")]
public class BenchScriptTests
{
    [Test]
    public async Task The_bench_script_measures_both_libmilter_milters_with_the_plug_in_and_the_C_client_one_row_per_run()
    {
        var script = Repository.Path("tools/bench/run.sh");
        var start = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["N"] = "40";
        start.Environment["MILTERS"] = "continue-all add-header";
        start.Environment["IO"] = "blocking c";
        start.Environment["CONNECTIONS"] = "2";
        start.Environment["BASE_PORT"] = ServerProcess.FreePortBlock(3).ToString(System.Globalization.CultureInfo.InvariantCulture);

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);

        Assert.That(process.ExitCode, Is.Zero, await error);
        var rows = (await output).Split('\n').Where(l => l.StartsWith("| continue-all", StringComparison.Ordinal) || l.StartsWith("| add-header", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        Assert.That(rows.Select(r => (r[1], r[2], r[3])), Is.EqualTo(new[]
        {
            ("continue-all", "plug-in, blocking", "2"), ("continue-all", "C protocol client", "2"),
            ("add-header", "plug-in, blocking", "2"), ("add-header", "C protocol client", "2"),
        }));
        Assert.That(rows.Select(r => r[12]), Is.EqualTo(new[] { "0", "-", "40", "-" }), "edited: only add-header changes messages");
        Assert.That(rows.Select(r => r[13]), Is.EqualTo(new[] { "0", "-", "0", "-" }), "failures");
        Assert.That(rows.Select(r => double.Parse(r[4], System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture)),
            Is.All.GreaterThan(0), "transactions per second");
    }
}
