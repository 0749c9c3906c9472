using System.Globalization;

namespace SpamFilterMilter.Tools.Tests.Bench;

/// <summary>
/// tools/bench/cpu-split.py, the table behind run.sh PERF=1, fed samples as `perf script -F ip,sym,dso` prints them (a
/// .perf.txt in place of a recording), so that its grouping is checked where perf cannot record too. At a frequency of
/// 1,000,000 a sample is 1 µs, and with one transaction per run each sample is 1 µs per transaction.
/// </summary>
public class CpuSplitTests : TempFolderTest
{
    private const string Run = """{"transactions": 1, "seconds": 1.0, "measuredFrom": 100.0, "cpuMicrosecondsPerTransaction": 12.0}""";

    // One block per sample, leaf first, as perf script prints a call chain; a blank line between samples.
    private static readonly string[] PluginSamples =
    [
        Sample("ffffffff81a00000 tcp_sendmsg ([kernel.kallsyms])", "ffffffff81000100 __x64_sys_sendto ([kernel.kallsyms])",
            "ffffffff81000200 x64_sys_call ([kernel.kallsyms])", "ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])", "101a07 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
        Sample("ffffffff81a00000 tcp_sendmsg ([kernel.kallsyms])", "ffffffff81000100 __x64_sys_sendto ([kernel.kallsyms])",
            "ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])"),
        Sample("ffffffff81b00000 ep_poll ([kernel.kallsyms])", "ffffffff81000300 __x64_sys_epoll_wait ([kernel.kallsyms])",
            "ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])"),
        Sample("ffffffff81c00000 schedule ([kernel.kallsyms])", "ffffffff81000400 exit_to_user_mode_loop ([kernel.kallsyms])",
            "ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])"),
        Sample("ffffffffc0a00000 nf_hook ([nf_conntrack])", "ffffffff81d00000 asm_common_interrupt ([kernel.kallsyms])"),
        Sample("7f0000001000 instance void [SpamFilterMilter] SpamFilterMilter.Protocol.Session.MilterChannel+<ReadAnswerAsync>d__36`1[System.__Canon]::MoveNext()[OptimizedTier1] (/tmp/perf-4242.map)"),
        Sample("7f0000001000 instance void [SpamFilterMilter] SpamFilterMilter.Protocol.Session.MilterChannel+<ReadAnswerAsync>d__36`1[System.__Canon]::MoveNext()[OptimizedTier1] (/tmp/perf-4242.map)"),
        Sample("7f0000002000 instance valuetype [System.Runtime]System.Threading.Tasks.ValueTask`1<!!0> [SpamFilterMilter] SpamFilterMilter.Plugin.FilterSessionAdapter::RunAsync(class [SpamFilterMilter] SpamFilterMilter.Protocol.Session.MilterSession)[OptimizedTier1] (/tmp/perf-4242.map)"),
        Sample("7f0000003000 instance bool [System.Private.CoreLib] System.Collections.Generic.Dictionary`2[System.__Canon,System.__Canon]::TryGetValue(!0,!1&)[OptimizedTier1] (/tmp/perf-4242.map)"),
        Sample("7f0000004000 [unknown] (/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/System.Private.CoreLib.dll)"),
        Sample("7f0000005000 stub ReportStubBlock<VSD_DispatchStub> (/tmp/perf-4242.map)"),
        Sample("7f0000006000 [unknown] (/usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.12/libcoreclr.so)"),
        Sample("101a07 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
    ];

    private static readonly string[] CSamples =
    [
        Sample("ffffffff81a00000 tcp_recvmsg ([kernel.kallsyms])", "ffffffff81000500 ksys_read ([kernel.kallsyms])", "ffffffff8223c951 do_syscall_64 ([kernel.kallsyms])"),
        Sample("4010 connection (/tmp/sfm-bench.abc/protocol-client)"),
        Sample("101a07 __read (/usr/lib/x86_64-linux-gnu/libc.so.6)"),
    ];

    [Test]
    public async Task Each_sample_is_counted_once_under_the_system_call_or_the_code_it_ran_in_and_the_methods_table_names_declaring_type_and_method()
    {
        Write("continue-all-tcp-async-1-1", PluginSamples);
        Write("continue-all-tcp-c-1-1", CSamples);

        var lines = await SplitAsync("--functions", @"SpamFilterMilter\.Protocol\.");
        var header = Row(lines, "| milter");
        var plugin = Row(lines, "| continue-all | tcp | 1 | plug-in, async");
        var c = Row(lines, "| continue-all | tcp | 1 | C protocol client");
        string Cell(string[] row, string column) => row[Array.IndexOf(header, column)];

        Assert.Multiple(() =>
        {
            Assert.That(Cell(plugin, "sampled"), Is.EqualTo(PluginSamples.Length.ToString(CultureInfo.InvariantCulture)), "every sample counted once");
            Assert.That(Cell(plugin, "kernel"), Is.EqualTo("5"), "told by address: the module's too");
            Assert.That(Cell(plugin, "system calls"), Is.EqualTo("other 2.0, sendto 2.0, epoll_wait 1.0"),
                "the call under do_syscall_64, through x64_sys_call; the way back to user mode and an interrupt are other");
            Assert.That(Cell(plugin, "our managed code"), Is.EqualTo("3.0"), "methods declared in our assemblies, whatever types their signatures name");
            Assert.That(Cell(plugin, ".NET libraries"), Is.EqualTo("2.0"), "compiled and precompiled framework code");
            Assert.That(Cell(plugin, "runtime"), Is.EqualTo("2.0"), "stubs and libcoreclr");
            Assert.That(Cell(plugin, "C library"), Is.EqualTo("1.0"));
            Assert.That(Cell(plugin, "CPU (getrusage)"), Is.EqualTo("12"), "the client's own count, from its JSON");
            Assert.That(Cell(c, "system calls"), Is.EqualTo("read 1.0"));
            Assert.That(Cell(c, "C client"), Is.EqualTo("1.0"));
            Assert.That(Cell(c, "C library"), Is.EqualTo("1.0"));
        });

        // The methods' table: the live row only (the C client has no compiled methods), the adapter left out although
        // its signature names a Protocol type, the generic state machine named by its method.
        var columns = Row(lines, "| method");
        Assert.That(columns[2..^1], Is.EqualTo(new[] { "continue-all, 1, plug-in, async" }));
        Assert.That(Row(lines, "| all of them")[2], Is.EqualTo("2.00"));
        Assert.That(Row(lines, "| `")[1], Is.EqualTo("`SpamFilterMilter.Protocol.Session.MilterChannel+<ReadAnswerAsync>::MoveNext`"));
    }

    [Test]
    public async Task Each_row_is_the_median_of_its_runs()
    {
        Write("continue-all-tcp-async-1-1", [.. Enumerable.Repeat(Sample("101a07 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)"), 1)]);
        Write("continue-all-tcp-async-1-2", [.. Enumerable.Repeat(Sample("101a07 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)"), 5)]);
        Write("continue-all-tcp-async-1-3", [.. Enumerable.Repeat(Sample("101a07 __send (/usr/lib/x86_64-linux-gnu/libc.so.6)"), 3)]);

        var lines = await SplitAsync();
        var header = Row(lines, "| milter");

        Assert.That(Row(lines, "| continue-all")[Array.IndexOf(header, "C library")], Is.EqualTo("3.0"));
    }

    private static string Sample(params string[] frames) => string.Concat(frames.Select(f => "\t" + f + "\n"));

    private static string[] Row(IEnumerable<string> lines, string start) =>
        lines.First(l => l.StartsWith(start, StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);

    private void Write(string run, string[] samples)
    {
        File.WriteAllText(Path.Combine(Folder.Path, run + ".json"), Run);
        File.WriteAllText(Path.Combine(Folder.Path, run + ".perf.txt"), string.Join("\n", samples.Select(s => "\n" + s)));
    }

    private async Task<string[]> SplitAsync(params string[] extra)
    {
        var (exit, output, error) = await ServerProcess.RunToEndAsync("python3", [Repository.Path("tools/bench/cpu-split.py"), Folder.Path, "1000000", .. extra],
            TimeSpan.FromSeconds(60));
        Assert.That(exit, Is.Zero, error);
        return output.Split('\n');
    }
}
