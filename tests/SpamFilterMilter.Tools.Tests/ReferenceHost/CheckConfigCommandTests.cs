using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Cli;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Tools.Tests.ReferenceHost;

/// <summary>
/// check-config in the reference host and in spamfilter-milter on etc/'s configuration: the same findings, one line
/// each, the same summary, and the same exit status (<see cref="ToolExitCode"/>); the reference host as installed.
/// </summary>
[Category("Integration")]
public class CheckConfigCommandTests : TempFolderTest
{
    private static readonly string Plugins = Path.Combine(AppContext.BaseDirectory, "plugins");

    /// <summary>etc/'s files copied next to each other, milter.opt pointing at <paramref name="port"/>.</summary>
    private string CopyEtc(int port)
    {
        foreach (var name in new[] { "option.dat", "imta.cnf", "directory.ldif" })
        {
            File.Copy(Repository.Path("etc/" + name), Path.Combine(Folder.Path, name));
        }

        Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=500\n");
        return Folder.Path;
    }

    /// <summary>The installed reference host's check-config (both tools compile the same command line).</summary>
    private static async Task<(int Exit, string Output)> ReferenceHostAsync(string folder, bool reach) =>
        await RunAsync(Path.Combine(AppContext.BaseDirectory, "SpamFilterMilter.ReferenceHost"),
            CheckConfigArgs(folder, reach ? ["--reach"] : []));

    private static async Task<(int Exit, string Output, string Error)> CliAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await SpamFilterMilter.Cli.CommandLine.RunAsync(args,
            new Terminal(() => Stream.Null, output, error, ErrorIsTerminal: false, _ => NullLoggerFactory.Instance));
        return (exit, output.ToString(), error.ToString());
    }

    private static string[] CheckConfigArgs(string folder, params string[] more) =>
        ["check-config", "--options", Path.Combine(folder, "option.dat"), "--channels", Path.Combine(folder, "imta.cnf"), "--plugins", Plugins, .. more];

    [Test]
    public async Task With_reach_a_good_configuration_says_what_it_loaded_and_reached_and_exits_with_0_in_both_tools()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var folder = CopyEtc(milter.Port);

        var (exit, output) = await ReferenceHostAsync(folder, reach: true);
        var cli = await CliAsync(CheckConfigArgs(folder, "--reach"));

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.Success), output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(3), output);
        Assert.That(lines[0], Is.EqualTo(
            $"ok: slot 1: {Path.Combine(Plugins, "SpamFilterMilter", "SpamFilterMilter.dll")} loaded as milter 127.0.0.1:{milter.Port}, option file {Path.Combine(folder, "milter.opt")}"));
        Assert.That(lines[1], Does.StartWith($"ok: slot 1: reached milter 127.0.0.1:{milter.Port} (connected to 127.0.0.1:{milter.Port}): protocol version 6, actions "));
        Assert.That(lines[2], Is.EqualTo("check-config: 0 problems, 0 notes; 1 slot checked, milters reached: 1 of 1"));
        Assert.That((cli.Exit, cli.Output, cli.Error), Is.EqualTo((exit, output, "")), "spamfilter-milter check-config says the same");
        Assert.That(milter.Transcript().Where(l => l.Event is "connect" or "mail"), Is.Empty, "no message was sent");
    }

    [Test]
    public async Task Problems_are_one_line_each_naming_file_line_and_option_and_exit_with_1_in_both_tools()
    {
        var folder = CopyEtc(1);
        File.AppendAllText(Path.Combine(folder, "option.dat"), "spamfilter9_library=x.dll\n");
        Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=99999999999\n");

        var (exit, output) = await ReferenceHostAsync(folder, reach: false);
        var cli = await CliAsync(CheckConfigArgs(folder));

        var optionDat = Path.Combine(folder, "option.dat");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(lines, Has.Length.EqualTo(3), output);
        Assert.That(lines[0], Is.EqualTo($"problem: {optionDat}:{File.ReadAllLines(optionDat).Length}: option spamfilter9_library: the slot number must be 1 to 8"),
            "the line appended last");
        Assert.That(lines[1], Is.EqualTo($"problem: slot 1: {Path.Combine(folder, "milter.opt")}:2: option PORT: 99999999999 is too large: out of range (1 to 65535)"));
        Assert.That(lines[^1], Is.EqualTo("check-config: 2 problems, 0 notes; 1 slot checked, milters not reached (--reach reaches them)"));
        Assert.That((cli.Exit, cli.Output), Is.EqualTo((exit, output)), "spamfilter-milter check-config says the same");
    }

    [Test]
    public async Task With_a_source_channel_both_tools_say_what_opts_its_messages_in_to_each_slot_or_that_nothing_does()
    {
        var folder = CopyEtc(1);

        var (exit, output) = await RunAsync(Path.Combine(AppContext.BaseDirectory, "SpamFilterMilter.ReferenceHost"),
            CheckConfigArgs(folder, "--source-channel", "tcp_intranet", "--destination-channel", "ims-ms"));
        var local = await CliAsync(CheckConfigArgs(folder, "--source-channel", "tcp_local", "--destination-channel", "ims-ms"));
        var intranet = await CliAsync(CheckConfigArgs(folder, "--source-channel", "tcp_intranet", "--destination-channel", "ims-ms"));

        Assert.That(output, Does.Contain("note: slot 1: filters no message: source channel tcp_intranet has disablesourcespamfilter1\n"),
            "etc/imta.cnf turns slot 1 off for the intranet's mail");
        Assert.That(local.Output, Does.Contain("ok: slot 1: filters the senders, users and domains the directory opts in (LDAP_SOURCE_OPTIN1, LDAP_OPTIN1, LDAP_DOMAIN_ATTR_OPTIN1)\n"));
        Assert.That((exit, local.Exit), Is.EqualTo((0, 0)), "notes are no problems");
        Assert.That((intranet.Exit, intranet.Output), Is.EqualTo((exit, output)), "spamfilter-milter check-config says the same");
    }

    [Test]
    public async Task The_installed_tools_exit_with_the_same_status_for_the_same_thing()
    {
        var folder = CopyEtc(1);
        var referenceHost = Path.Combine(AppContext.BaseDirectory, "SpamFilterMilter.ReferenceHost");
        var cli = Path.Combine(AppContext.BaseDirectory, "spamfilter-milter");
        string[] fine = ["check-config", "--options", Path.Combine(folder, "option.dat"), "--plugins", Plugins];
        string[] usage = ["check-config", "--colour"];
        var broken = Folder.Write("broken.dat", "spamfilter1_library=x.dll\n");
        string[] problems = ["check-config", "--options", broken];

        foreach (var tool in new[] { referenceHost, cli })
        {
            Assert.That((await RunAsync(tool, fine)).Exit, Is.EqualTo(0), tool);
            Assert.That((await RunAsync(tool, problems)).Exit, Is.EqualTo(1), tool);
            Assert.That((await RunAsync(tool, usage)).Exit, Is.EqualTo(2), tool);
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string program, string[] args)
    {
        var (exit, output) = await ServerProcess.RunAsync(program, args, TimeSpan.FromSeconds(60));
        return (exit, output);
    }
}
