using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SpamFilterMilter.Tools.Tests.Bench;

/// <summary>tools/bench/run.sh, the script behind the README's figures, on a small run.</summary>
[Category("Integration")]
public class BenchScriptTests : TempFolderTest
{
    [Test]
    public async Task The_bench_script_measures_both_libmilter_milters_with_the_plug_in_and_the_C_client_one_row_per_configuration_the_median_of_its_runs_with_ratios_to_the_C_client()
    {
        var rows = await RunAsync(new() { ["MILTERS"] = "continue-all add-header", ["IO"] = "blocking c", ["CONNECTIONS"] = "2", ["REPEAT"] = "3", ["RESULTS"] = Folder.Path });

        Assert.That(rows.Select(r => (r[1], r[2], r[3], r[4])), Is.EqualTo(new[]
        {
            ("continue-all", "tcp", "2", "C protocol client"), ("continue-all", "tcp", "2", "plug-in, blocking"),
            ("add-header", "tcp", "2", "C protocol client"), ("add-header", "tcp", "2", "plug-in, blocking"),
        }));
        Assert.That(rows.Select(r => r[18]), Is.EqualTo(new[] { "-", "0", "-", "40" }), "edited: only add-header changes messages");
        Assert.That(rows.Select(r => r[19]), Is.EqualTo(new[] { "-", "0", "-", "0" }), "failures");
        Assert.That(rows.Select(r => r[15]), Is.All.Matches(@"^\d+\.\d \+ \d+\.\d$"), "context switches: waited + preempted, per transaction");
        // How often a client's thread has to wait is the scheduler's: with the milter in a session of its own, its
        // reply can be written before the client's read begins, which then does not wait (0.6 per transaction seen). The
        // pattern above makes every figure a number of zero or more; what is left is that waits are counted at all.
        Assert.That(rows.Max(r => Number(r[15].Split(" + ")[0])), Is.GreaterThan(0), "the column counts the clients' waits");
        Assert.That(rows.Select(r => Number(r[5])), Is.All.GreaterThan(0), "transactions per second");
        Assert.That(rows.Select(r => Number(r[8])), Is.All.GreaterThan(0), "p99: the C client reports it too");
        foreach (var (plugin, c) in new[] { (rows[1], rows[0]), (rows[3], rows[2]) })
        {
            Assert.That(Number(plugin[6]), Is.EqualTo(Number(plugin[5]) / Number(c[5])).Within(0.01), "throughput as a ratio to the C client's");
            // The CPU columns are whole microseconds, the ratio is of the exact figures: each rounding moves it by up to
            // 0.5 / ~150, so the two together by up to about 0.7 %.
            Assert.That(Number(plugin[14]), Is.EqualTo(Number(plugin[13]) / Number(c[13])).Within(1).Percent, "CPU as a ratio to the C client's");
            Assert.That(plugin[12], Is.EqualTo(c[11]), "the C client's waits beside ours");
            Assert.That(plugin[20], Is.Not.Empty.And.Not.EqualTo("-"), "the targets it misses, or none");
            Assert.That(c[6], Is.Empty, "the C client is the reference");
        }

        // Each row is the median of its REPEAT runs: the middle one of the three runs' figures.
        foreach (var (row, name) in new[]
        {
            (rows[0], "continue-all-tcp-c-2"), (rows[1], "continue-all-tcp-blocking-2"), (rows[2], "add-header-tcp-c-2"), (rows[3], "add-header-tcp-blocking-2"),
        })
        {
            var runs = Enumerable.Range(1, 3).Select(rep => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder.Path, $"{name}-{rep}.json"))).RootElement)
                .Select(r => r.GetProperty("transactionsPerSecond").GetDouble()).Order().ToArray();
            Assert.That(Number(row[5]), Is.EqualTo(runs[1]).Within(0.5), $"{name}: the median throughput of its three runs ({string.Join(", ", runs)})");
        }
    }

    [Test]
    public async Task The_bench_script_measures_the_other_paths_a_fresh_connection_per_message_the_pool_a_unix_socket_and_socks5_with_both_clients()
    {
        var rows = await RunAsync(new() { ["MILTERS"] = "continue-all", ["IO"] = "async c", ["CONNECTIONS"] = "2", ["PATHS"] = "fresh pool unix socks", ["REPEAT"] = "1" });

        Assert.That(rows.Select(r => (r[2], r[4])), Is.EqualTo(new[]
        {
            ("fresh", "C protocol client"), ("fresh", "plug-in, async"), ("pool", "C protocol client"), ("pool", "plug-in, async"),
            ("unix", "C protocol client"), ("unix", "plug-in, async"), ("socks", "C protocol client"), ("socks", "plug-in, async"),
        }));
        Assert.That(rows.Where(r => r[4] != "C protocol client").Select(r => r[19]), Is.All.EqualTo("0"), "failures");
        Assert.That(rows.Select(r => Number(r[5])), Is.All.GreaterThan(0), "transactions per second");
    }

    private static async Task<List<string[]>> RunAsync(Dictionary<string, string> settings)
    {
        var start = new ProcessStartInfo("bash", [Repository.Path("tools/bench/run.sh")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["N"] = "40";
        start.Environment["BASE_PORT"] = ServerProcess.FreePortBlock(5).ToString(CultureInfo.InvariantCulture);
        foreach (var (name, value) in settings)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);

        Assert.That(process.ExitCode, Is.Zero, await error);
        return [.. (await output).Split('\n').Where(l => l.StartsWith("| continue-all", StringComparison.Ordinal) || l.StartsWith("| add-header", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))];
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
