using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Tests.Support;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// check-config's check (<see cref="ConfigurationCheck"/>): every problem of option.dat, the channel table, the directory
/// and each slot's plug-in and option file, one finding each naming file, line and option; the milters reached on request.
/// </summary>
public class ConfigurationCheckTests : TempFolderTest
{
    private readonly FakePlugins _plugins = new();

    private Task<ConfigurationReport> CheckAsync(string optionDat, string? channels = null, bool reach = false, string? source = null, string? destination = null) =>
        ConfigurationCheck.RunAsync(Folder.Write("option.dat", optionDat), channels is null ? null : Folder.Write("imta.cnf", channels),
            pluginDirectory: null, reach, source, destination, loadPlugin: _plugins.Load);

    private static string[] Lines(ConfigurationReport report, FindingKind kind) =>
        [.. report.Findings.Where(f => f.Kind == kind).Select(f => f.ToString())];

    [Test]
    public async Task With_the_relays_channels_each_slot_says_what_opts_its_messages_in_and_one_nothing_opts_in_is_a_note_in_7014s_words()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));
        _plugins.Add("b", FakePlugins.Verdict("keep;"));
        _plugins.Add("c", FakePlugins.Verdict("keep;"));
        const string Table = "tcp_relay sourcespamfilter1optin spam,virus disablesourcespamfilter3\n\ntcp_local destinationspamfilter2\n";

        var report = await CheckAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b") + FakePlugins.Slot(3, "c") + FakePlugins.Slot(4, "a"), Table,
            source: "tcp_relay", destination: "tcp_local");

        Assert.That(Lines(report, FindingKind.Passed).Where(l => l.Contains("filters", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "ok: slot 1: filters every message: source channel tcp_relay has sourcespamfilter1optin spam,virus",
            "ok: slot 2: filters every recipient: destination channel tcp_local has destinationspamfilter2",
        }));
        Assert.That(Lines(report, FindingKind.Note), Is.EqualTo(new[]
        {
            "note: slot 3: filters no message: source channel tcp_relay has disablesourcespamfilter3",
            "note: slot 4: filters no message: nothing opts one in (no sourcespamfilter4optin for source channel tcp_relay, "
                + "no destinationspamfilter4optin for destination channel tcp_local, no LDAP_*OPTIN4 with a directory)",
        }));
        Assert.That(report.ExitCode, Is.EqualTo(ToolExitCode.Success), "a note, as 7014 is a warning the relay starts with");
    }

    [Test]
    public async Task A_named_channel_the_table_does_not_define_is_a_note_and_without_a_table_every_slot_filters_nothing_by_channel()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var typo = await CheckAsync(FakePlugins.Slot(1, "a"), "tcp_relay sourcespamfilter1\n", source: "tcp_rleay");
        var noTable = await CheckAsync(FakePlugins.Slot(1, "a"), source: "tcp_relay");

        Assert.That(Lines(typo, FindingKind.Note), Is.EqualTo(new[]
        {
            $"note: {Path.Combine(Folder.Path, "imta.cnf")}: --source-channel tcp_rleay is not in the channel table: no keyword of it opts a slot in or out",
            "note: slot 1: filters no message: nothing opts one in (no sourcespamfilter1optin for source channel tcp_rleay, "
                + "no destinationspamfilter1optin for a destination channel (none named), no LDAP_*OPTIN1 with a directory)",
        }));
        Assert.That(Lines(noTable, FindingKind.Note)[0], Is.EqualTo("note: --source-channel tcp_relay: no channel table (--channels) to find its keywords in"));
        Assert.That(Lines(noTable, FindingKind.Note), Has.Some.StartWith("note: slot 1: filters no message: "), "without a table no channel opts slot 1 in");
    }

    [Test]
    public async Task Without_a_source_or_destination_channel_no_slot_is_judged_by_channel_and_a_wrong_table_judges_none()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var unnamed = await CheckAsync(FakePlugins.Slot(1, "a"), "tcp_relay sourcespamfilter1\n");
        var wrong = await CheckAsync(FakePlugins.Slot(1, "a"), "tcp_relay sourcespamfilter9\n", source: "tcp_relay");

        Assert.That(unnamed.Findings.Any(f => f.Text.StartsWith("filters", StringComparison.Ordinal)), Is.False, "an MTA names a channel per message");
        Assert.That(wrong.Findings.Select(f => f.ToString()), Has.None.Contains("filters"), "the table's problem is the finding, not a guess from half of it");
        Assert.That(Problems(wrong), Has.Length.EqualTo(1));
    }

    private static string[] Problems(ConfigurationReport report) =>
        [.. report.Findings.Where(f => f.Kind == FindingKind.Problem).Select(f => f.ToString())];

    [Test]
    public async Task A_configuration_without_problems_says_each_slot_loaded_and_exits_with_0()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));
        _plugins.Add("b", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        Assert.That(report.Findings.Select(f => f.ToString()), Is.EqualTo(new[]
        {
            $"ok: slot 1: {Folder.Path}/a.dll loaded as fake a, option file {Folder.Path}/a.opt",
            $"ok: slot 2: {Folder.Path}/b.dll loaded as fake b, option file {Folder.Path}/b.opt",
        }));
        Assert.That(report.Summary, Is.EqualTo("check-config: 0 problems, 0 notes; 2 slots checked, milters not reached (--reach reaches them)"));
        Assert.That(report.ExitCode, Is.EqualTo(ToolExitCode.Success));
    }

    [Test]
    public async Task Every_bad_line_of_option_dat_is_one_finding_and_the_good_slots_are_still_checked()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));
        var optionDat = FakePlugins.Slot(1, "a")
            + "spamfilter1 optional yes\n" // no '=': the lines after it are still read and judged
            + "spamfilter9_library=x.dll\n"
            + "spamfilter1_null_action=data:,keep\n"
            + "SPAMFILTER_MESSAGE_BUDGET=99999999999\n"
            + "spamfilter2_verdict_0=spam\n";

        var report = await CheckAsync(optionDat);

        var optionFile = Path.Combine(Folder.Path, "option.dat");
        Assert.That(Problems(report), Is.EqualTo(new[]
        {
            $"problem: {optionFile}:3: expected option=value, but the line has no '=' (its text is not shown: it may hold a password)",
            $"problem: {optionFile}:4: option spamfilter9_library: the slot number must be 1 to 8",
            $"problem: {optionFile}:5: option spamfilter1_null_action: the Sieve script is wrong: line 1, column 5: expected \";\" after keep, found the end of the script",
            $"problem: {optionFile}:6: option SPAMFILTER_MESSAGE_BUDGET: \"99999999999\" is too large (at most 86400)",
            $"problem: {optionFile}:7: option spamfilter2_verdict_0: has no spamfilter2_action_0",
        }));
        Assert.That(report.Findings.Any(f => f is { Kind: FindingKind.Passed, Slot: 1 }), "slot 1 is loaded and checked, without its bad lines");
        Assert.That(report.ExitCode, Is.EqualTo(ToolExitCode.ProblemsFound));
        Assert.That(report.Summary, Does.StartWith("check-config: 5 problems, 0 notes; 1 slot checked"));
    }

    [Test]
    public async Task A_plug_in_that_cannot_be_loaded_is_a_problem_of_its_slot_at_the_option_dat_line_that_names_it()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(3, "missing"));

        Assert.That(Problems(report), Is.EqualTo(new[]
        {
            $"problem: slot 3: {Folder.Path}/option.dat:3: option spamfilter3_library: the plug-in cannot be used: The plug-in {Folder.Path}/missing.dll does not exist.",
        }));
    }

    [Test]
    public async Task A_plug_ins_bad_option_file_is_named_with_its_line_and_option()
    {
        var milterOpt = Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=8890\nTIMEOUT=99999999999\n");

        var report = await ConfigurationCheck.RunAsync(
            Folder.Write("option.dat", $"spamfilter2_library={DeployedPlugin.Path}\nspamfilter2_config_file=milter.opt\n"), null, null, reach: false);

        Assert.That(Problems(report), Is.EqualTo(new[] { $"problem: slot 2: {milterOpt}:3: option TIMEOUT: 99999999999 is too large: out of range (1 to 8640000)" }));
        var finding = report.Findings.Single();
        Assert.That((finding.File, finding.Line, finding.Option, finding.Slot), Is.EqualTo((milterOpt, 3, "TIMEOUT", 2)));
    }

    [Test]
    public async Task Every_bad_line_of_a_plug_ins_option_file_is_reported_not_just_the_first()
    {
        var milterOpt = Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=eighty\nTIMEOUT=99999999999\nCOLOUR=blue\n");

        var report = await ConfigurationCheck.RunAsync(
            Folder.Write("option.dat", $"spamfilter2_library={DeployedPlugin.Path}\nspamfilter2_config_file=milter.opt\n"), null, null, reach: false);

        Assert.That(report.Findings.Select(f => (f.Kind, f.Line, f.Option, f.Slot)), Is.EqualTo(new[]
        {
            (FindingKind.Problem, 2, "PORT", 2), (FindingKind.Problem, 3, "TIMEOUT", 2), (FindingKind.Problem, 4, "COLOUR", 2),
        }));
        Assert.That(report.Summary, Does.StartWith("check-config: 3 problems"));
    }

    [Test]
    public async Task A_folder_given_as_a_plug_ins_option_file_is_said_to_be_a_folder()
    {
        Directory.CreateDirectory(Path.Combine(Folder.Path, "milter.opt"));

        var report = await ConfigurationCheck.RunAsync(
            Folder.Write("option.dat", $"spamfilter1_library={DeployedPlugin.Path}\nspamfilter1_config_file=milter.opt\n"), null, null, reach: false);

        Assert.That(Problems(report), Is.EqualTo(new[] { $"problem: slot 1: {Folder.Path}/milter.opt: is a folder; the option file must be a file" }));
    }

    [Test]
    public async Task An_option_dat_that_is_not_UTF_8_is_one_problem_naming_its_line()
    {
        var path = Path.Combine(Folder.Path, "option.dat");
        File.WriteAllBytes(path, [.. "spamfilter1_library=a.dll\n! Ren"u8, 0xE9, .. "\n"u8]);

        var report = await ConfigurationCheck.RunAsync(path, null, null, reach: false, loadPlugin: _plugins.Load);

        Assert.That(Problems(report), Is.EqualTo(new[] { $"problem: {path}:2: is not UTF-8 text: byte 0xE9 cannot be read as UTF-8 (save the option file as UTF-8)" }));
        Assert.That(report.Slots, Is.Zero);
    }

    [Test]
    public async Task The_channel_table_is_checked_and_a_keyword_for_a_slot_that_is_off_is_a_note()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a"), "tcp_local smtp sourcespamfilter2optin spam\ntcp-daemon\n");

        var note = report.Findings.Single(f => f.Kind == FindingKind.Note);
        Assert.That(note.ToString(), Is.EqualTo($"note: {Folder.Path}/imta.cnf:1: channel tcp_local has keywords for slot 2, which option.dat does not turn on"));
        Assert.That(report.ExitCode, Is.EqualTo(ToolExitCode.Success), "a note is no problem");
    }

    [Test]
    public async Task A_bad_channel_table_and_an_opt_in_option_without_a_directory_are_problems()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), "tcp_local smtp sourcespamfilter9optin spam\n");

        Assert.That(Problems(report), Has.Length.EqualTo(2));
        Assert.That(Problems(report)[0], Does.StartWith($"problem: {Folder.Path}/imta.cnf:1: ").And.Contain("sourcespamfilter9optin").And.EndWith("the slot number must be 1 to 8"));
        Assert.That(Problems(report)[1], Is.EqualTo($"problem: {Folder.Path}/option.dat: option LDAP_OPTIN1: needs a directory: set DIRECTORY_FILE or LDAP_HOST"));
    }

    [Test]
    public async Task A_directory_file_that_cannot_be_read_is_a_problem_naming_it_and_the_option_dat_line_that_names_it()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a", "DIRECTORY_FILE=missing.ldif\n"));

        Assert.That(Problems(report).Single(), Does.Match($@"^problem: {Regex.Escape(Folder.Path)}/option\.dat:[1-9]\d*: option DIRECTORY_FILE: {Regex.Escape(Folder.Path)}/missing\.ldif: cannot read the directory file: "));
    }

    [Test]
    public async Task Reaching_a_plug_in_that_cannot_be_reached_without_a_message_is_a_note()
    {
        _plugins.Add("a", FakePlugins.Verdict("keep;"));

        var report = await CheckAsync(FakePlugins.Slot(1, "a"), reach: true);

        Assert.That(report.Findings[^1].ToString(),
            Is.EqualTo("note: slot 1: fake a cannot be reached without a message (the plug-in does not implement IReachableSpamFilterPlugin)"));
        Assert.That(report.Summary, Does.EndWith("1 slot checked, milters reached: 0 of 1"), "a note is not a milter reached");
    }

    [Test]
    [Category("Integration")]
    public async Task With_reach_every_milter_is_connected_to_and_negotiated_with_and_one_that_is_down_is_a_problem()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var closed = ServerProcess.FreePort();
        Folder.Write("up.opt", $"HOST=127.0.0.1\nPORT={milter.Port}\nTIMEOUT=500\n");
        var down = Folder.Write("down.opt", $"HOST=127.0.0.1\nPORT={closed}\nTIMEOUT=500\n");
        var optionDat = $"spamfilter1_library={DeployedPlugin.Path}\nspamfilter1_config_file=up.opt\n"
            + $"spamfilter2_library={DeployedPlugin.Path}\nspamfilter2_config_file=down.opt\n";

        var report = await ConfigurationCheck.RunAsync(Folder.Write("option.dat", optionDat), null, null, reach: true);

        var lines = report.Findings.Select(f => f.ToString()).ToList();
        Assert.That(lines, Has.Some.StartsWith($"ok: slot 1: reached milter 127.0.0.1:{milter.Port} (connected to 127.0.0.1:{milter.Port}): protocol version 6"));
        Assert.That(lines, Has.Some.StartsWith($"problem: slot 2: {down}: milter 127.0.0.1:{closed} cannot be reached: can't connect to 127.0.0.1:{closed}"));
        Assert.That(report.ExitCode, Is.EqualTo(ToolExitCode.ProblemsFound));
        Assert.That(milter.Transcript().Count(l => l.Event == "negotiate"), Is.EqualTo(1), "negotiated, and no message sent");
        Assert.That(milter.Transcript().Where(l => l.Event is "connect" or "mail" or "eom"), Is.Empty);
    }

    [Test]
    [Category("Integration")] // a real slapd on loopback
    public async Task With_reach_an_LDAP_directory_is_bound_and_searched_and_a_wrong_password_or_base_is_a_problem_found_now()
    {
        await using var slapd = await SlapdServer.StartAsync(SlapdServer.LdifFile("entries.ldif"));
        string Ldap(string password, string baseDn) =>
            $"LDAP_HOST=127.0.0.1\nLDAP_PORT={slapd.Port}\nLDAP_BIND_DN={SlapdServer.RootDn}\nLDAP_BIND_PASSWORD={password}\nLDAP_BASE_DN={baseDn}\n";

        var good = await CheckAsync(Ldap(SlapdServer.RootPassword, SlapdServer.Suffix), reach: true);
        var wrongPassword = await CheckAsync(Ldap("not-the-password", SlapdServer.Suffix), reach: true);
        var wrongBase = await CheckAsync(Ldap(SlapdServer.RootPassword, "o=nowhere"), reach: true);
        var notAsked = await CheckAsync(Ldap("not-the-password", SlapdServer.Suffix), reach: false);

        Assert.That(good.Findings.Select(f => f.ToString()), Is.EqualTo(new[]
        {
            $"ok: reached LDAP ldap://127.0.0.1:{slapd.Port}/{SlapdServer.Suffix} (bind {SlapdServer.RootDn}): bound and searched LDAP_BASE_DN",
        }));
        Assert.That(Problems(wrongPassword).Single(), Does.StartWith($"problem: {Folder.Path}/option.dat: the opt-in directory cannot be asked: LDAP ").And.Not.Contain("not-the-password"));
        Assert.That(Problems(wrongBase).Single(), Does.StartWith($"problem: {Folder.Path}/option.dat: the opt-in directory cannot be asked: LDAP "));
        Assert.That(notAsked.Findings, Is.Empty, "without --reach the server is not asked");
    }
}
