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

    [TestCase("same")]
    [TestCase("split")]
    public async Task With_PIN_the_bench_script_runs_the_milter_on_the_last_CPU_and_both_clients_beside_it_or_on_the_first_as_the_kernel_records(string pin)
    {
        var (allowed, first, last) = AllowedCpus();
        if (first == last)
        {
            Assert.Ignore($"one CPU to run on ({allowed}): nothing to bind apart");
        }

        var rows = await RunAsync(new() { ["PIN"] = pin, ["MILTERS"] = "continue-all", ["IO"] = "blocking c", ["CONNECTIONS"] = "1", ["REPEAT"] = "1", ["RESULTS"] = Folder.Path });

        Assert.That(rows.Select(r => r[4]), Is.EqualTo(new[] { "C protocol client", "plug-in, blocking" }));
        foreach (var name in new[] { "continue-all-tcp-c-1-1", "continue-all-tcp-blocking-1-1" })
        {
            var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder.Path, $"{name}.json"))).RootElement;
            Assert.That(run.GetProperty("milterCpus").GetString(), Is.EqualTo(last), $"{name}: the milter");
            Assert.That(run.GetProperty("clientCpus").GetString(), Is.EqualTo(pin == "same" ? last : first), $"{name}: the client");
        }
    }

    [Test]
    public async Task On_one_CPU_the_milter_s_CPU_it_reports_for_a_run_is_its_measured_transactions_alone_so_client_and_milter_fit_in_the_run_s_time()
    {
        // Bound to one CPU, a transaction's time is at least the client's CPU and the milter's for it: a milter figure that
        // also counted bench's warm-up (when the milter works more per transaction) came to more than that.
        var (_, _, last) = AllowedCpus();
        await RunAsync(new() { ["PIN"] = "same", ["MILTERS"] = "continue-all", ["IO"] = "async c", ["CONNECTIONS"] = "1", ["REPEAT"] = "1", ["N"] = "4000", ["RESULTS"] = Folder.Path });

        foreach (var name in new[] { "continue-all-tcp-c-1-1", "continue-all-tcp-async-1-1" })
        {
            var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder.Path, $"{name}.json"))).RootElement;
            Assert.That(run.GetProperty("milterCpus").GetString(), Is.EqualTo(last), $"{name}: bound to one CPU, with the client");
            var client = run.GetProperty("cpuMicrosecondsPerTransaction").GetDouble();
            var milter = run.GetProperty("milterCpuMicrosecondsPerTransaction").GetDouble();
            var transaction = 1e6 / run.GetProperty("transactionsPerSecond").GetDouble();
            Assert.That(milter, Is.GreaterThan(0), name);
            // 4 %: the milter's clock ticks are 10 ms, read every 20 ms around a run of about a second.
            Assert.That(client + milter, Is.LessThanOrEqualTo(transaction * 1.04), $"{name}: client {client} µs + milter {milter} µs against {transaction:0.0} µs per transaction");
        }
    }

    [Test]
    public async Task With_PERF_the_bench_script_also_says_where_each_client_s_CPU_went_in_its_measured_run_from_recordings_it_keeps()
    {
        if (!await PerfRecordsAsync())
        {
            Assert.Ignore("perf cannot record the kernel's side on this machine (not installed, not root and perf_event_paranoid above 1, or refused)");
        }

        var output = await RunScriptAsync(new()
        {
            ["PERF"] = "1", ["PERF_FUNCTIONS"] = @"SpamFilterMilter\.Protocol\.", ["PERF_WARM"] = "20000",
            ["MILTERS"] = "continue-all", ["IO"] = "async c", ["CONNECTIONS"] = "1", ["REPEAT"] = "1", ["N"] = "400", ["RESULTS"] = Folder.Path,
        });
        var lines = output.Split('\n');
        var heading = Array.FindIndex(lines, l => l.StartsWith("Where each client's CPU went", StringComparison.Ordinal));
        Assert.That(heading, Is.GreaterThan(0), output);
        var split = lines[(heading + 1)..].Where(l => l.StartsWith("| continue-all", StringComparison.Ordinal)).Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        var header = lines[(heading + 1)..].First(l => l.StartsWith("| milter", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        string Cell(string[] row, string column) => row[Array.IndexOf(header, column)];

        Assert.That(split.Select(r => Cell(r, "client")), Is.EqualTo(new[] { "C protocol client", "plug-in, async" }));
        var (c, plugin) = (split[0], split[1]);
        var warm = lines[(heading + 1)..].Where(l => l.StartsWith("| warm", StringComparison.Ordinal)).Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        Assert.That(warm.Select(r => Cell(r, "client")), Is.EqualTo(new[] { "plug-in, async", "plug-in, blocking" }), "PERF_WARM: the same code with no network");
        Assert.That(warm.Select(r => Number(Cell(r, "kernel"))), Is.All.LessThan(0.05 * Number(Cell(plugin, "kernel"))), "warm: no network, no system call per exchange");

        // PERF_FUNCTIONS: the self time of the session's methods, the live row and the two warm ones.
        var methods = lines.SkipWhile(l => !l.StartsWith("Self time of the methods matching", StringComparison.Ordinal)).ToList();
        var columns = methods.First(l => l.StartsWith("| method", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        Assert.That(columns[2..^1], Is.EqualTo(new[] { "continue-all, 1, plug-in, async", "warm, 1, plug-in, async", "warm, 1, plug-in, blocking" }));
        var all = methods.First(l => l.StartsWith("| all of them", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        Assert.That(all[2..^1].Select(Number), Is.All.GreaterThan(0));
        Assert.That(methods.Where(l => l.StartsWith("| `", StringComparison.Ordinal)), Is.Not.Empty.And.All.Contains("SpamFilterMilter.Protocol."));
        foreach (var row in split)
        {
            // Only the measured run's samples count: a window that took in bench's warm-up (over ten times as many
            // transactions) or missed the run would put the sampled CPU far from what the client counted itself.
            Assert.That(Number(Cell(row, "sampled")), Is.InRange(0.3 * Number(Cell(row, "CPU (getrusage)")), 1.5 * Number(Cell(row, "CPU (getrusage)"))), string.Join(" | ", row));
            Assert.That(Number(Cell(row, "kernel")), Is.GreaterThan(0));
        }

        Assert.That(Cell(c, "system calls"), Does.Contain("write").And.Contain("read"), "the C client writes and reads");
        Assert.That(Cell(plugin, "system calls"), Does.Contain("sendto").And.Contain("epoll_wait"), "async: a send, then the event loop's wait");
        Assert.That(Number(Cell(plugin, "our managed code")), Is.GreaterThan(0), "the plug-in's compiled methods are named (the perf map kept with the recording)");
        Assert.That(Number(Cell(c, "our managed code")), Is.Zero);
        Assert.That(Directory.GetFiles(Folder.Path, "*.perf.data").Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            "continue-all-tcp-c-1-1.perf.data", "continue-all-tcp-async-1-1.perf.data", "warm-inmemory-async-1-1.perf.data", "warm-inmemory-blocking-1-1.perf.data",
        }));
        Assert.That(Directory.GetFiles(Folder.Path, "*.perf-*.map").Select(m => Path.GetFileName(m)[..Path.GetFileName(m).IndexOf(".perf-", StringComparison.Ordinal)]),
            Is.EquivalentTo(new[] { "continue-all-tcp-async-1-1", "warm-inmemory-async-1-1", "warm-inmemory-blocking-1-1" }), "the symbol maps of bench and of the warm loops, moved out of /tmp");
    }

    /// <summary>
    /// Whether perf can record here, the kernel's side included: as root, or with perf_event_paranoid at 1 or below
    /// (above it perf falls back to user-mode samples only, and the kernel's columns would be empty).
    /// </summary>
    private static async Task<bool> PerfRecordsAsync()
    {
        var paranoid = File.Exists("/proc/sys/kernel/perf_event_paranoid")
            ? int.Parse(File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim(), CultureInfo.InvariantCulture) : 2;
        if (Environment.UserName != "root" && paranoid > 1)
        {
            return false;
        }

        var data = Path.Combine(Path.GetTempPath(), $"sfm-perf-probe-{Guid.NewGuid():N}.data");
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("perf", ["record", "-q", "-o", data, "--", "true"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            await probe.WaitForExitAsync();
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // not installed
        }
        finally
        {
            File.Delete(data);
        }
    }

    /// <summary>The CPUs run.sh may use, this process's, and the first and the last of them, which PIN takes.</summary>
    private static (string Allowed, string First, string Last) AllowedCpus()
    {
        var allowed = File.ReadLines("/proc/self/status").Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal))["Cpus_allowed_list:".Length..].Trim();
        return (allowed, System.Text.RegularExpressions.Regex.Match(allowed, @"^\d+").Value, System.Text.RegularExpressions.Regex.Match(allowed, @"\d+$").Value);
    }

    private static async Task<List<string[]>> RunAsync(Dictionary<string, string> settings) =>
        [.. (await RunScriptAsync(settings)).Split('\n').Where(l => l.StartsWith("| continue-all", StringComparison.Ordinal) || l.StartsWith("| add-header", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries))];

    private static async Task<string> RunScriptAsync(Dictionary<string, string> settings)
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
        return await output;
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Number, CultureInfo.InvariantCulture);
}
