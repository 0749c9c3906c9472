using System.Globalization;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// <see cref="SpamFilterHost.ReloadAsync"/>: option.dat and each slot's option file read again without a restart. New
/// messages use the new settings; a message in flight finishes with the plug-in it started with, which is disposed
/// after it; a broken file changes nothing and says where it is broken. Messages are held inside the plug-in by a
/// gate the test opens: nothing waits for time.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class ReloadTests : SlotHostTest, IDisposable
{
    private readonly OptionFilePlugins _plugins = new();
    private readonly CapturedLogs _logs = new();

    private SpamFilterHost Host(string optionDat) =>
        SpamFilterHost.Create(SpamFilterHostOptions.Load(Folder.Write("option.dat", optionDat)), Everything, loggerFactory: _logs, loadPlugin: _plugins.Load);

    /// <summary>A host whose channel table is read from imta.cnf, <paramref name="channelTable"/>, as the relay reads its --channels.</summary>
    private SpamFilterHost HostWithTable(string optionDat, string channelTable) =>
        SpamFilterHost.Create(SpamFilterHostOptions.Load(Folder.Write("option.dat", optionDat)), ChannelTable.Load(Folder.Write("imta.cnf", channelTable)),
            loggerFactory: _logs, loadPlugin: _plugins.Load);

    /// <summary>Slot <paramref name="number"/> with the plug-in library{number}.dll and its option file library{number}.opt.</summary>
    private static string Slot(int number, string library = "tagger", string extra = "") =>
        FakePlugins.Slot(number, library + number.ToString(CultureInfo.InvariantCulture), extra);

    public void Dispose() => _logs.Dispose();

    private static async Task<IReadOnlyList<string>> TagsAsync(SpamFilterHost host) => (await host.FilterAsync(Message())).Deliveries.Single().Tags;

    /// <summary>Starts a message that waits inside its plug-in until the returned gate is opened.</summary>
    private async Task<(Task<HostResult> Message, TaskCompletionSource Gate)> HoldOneAsync(SpamFilterHost host)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _plugins.Gate = gate;
        _plugins.Entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var message = host.FilterAsync(Message());
        await _plugins.Entered.Task;
        _plugins.Gate = null;
        return (message, gate);
    }

    [Test]
    public async Task New_messages_use_the_reloaded_option_file_while_a_message_in_flight_finishes_with_the_old_plug_in_which_is_disposed_after_it()
    {
        Folder.Write("tagger1.opt", "TAG=old\n");
        await using var host = Host(Slot(1));
        var (inFlight, gate) = await HoldOneAsync(host);

        Folder.Write("tagger1.opt", "TAG=new\n");
        var reload = await host.ReloadAsync();
        var after = await TagsAsync(host);

        var (old, renewed) = (_plugins.Created[0], _plugins.Created[1]);
        Assert.That((reload.Applied, reload.MessagesInFlight), Is.EqualTo((true, 1)));
        Assert.That(after, Is.EqualTo(new[] { "[new]" }), "a message after the reload uses the new option file");
        Assert.That(old.Disposed, Is.False, "the old plug-in is still filtering a message");

        gate.SetResult();
        var held = await inFlight;

        Assert.That(held.Deliveries.Single().Tags, Is.EqualTo(new[] { "[old]" }), "the message in flight finished with the old settings");
        Assert.That((old.Disposed, old.Messages, renewed.Disposed, renewed.Messages), Is.EqualTo((true, 1, false, 1)),
            "the old plug-in is disposed once its last message has ended; the new one goes on");
        Assert.That(_logs.Entries.Select(e => e.EventId.Id), Does.Contain(5043), "the disposal of the replaced settings is logged");
    }

    [Test]
    public async Task A_message_held_in_slot_1_during_a_reload_runs_slot_2_with_the_old_settings_too()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        await using var host = Host(Slot(1) + Slot(2));
        var (inFlight, gate) = await HoldOneAsync(host);

        Folder.Write("tagger2.opt", "TAG=dos\n");
        Folder.Write("option.dat", Slot(1) + Slot(2) + Slot(3));
        Folder.Write("tagger3.opt", "TAG=tres\n");
        Assert.That((await host.ReloadAsync()).Applied, Is.True);
        gate.SetResult();

        Assert.That((await inFlight).Deliveries.Single().Tags, Is.EqualTo(new[] { "[one]", "[two]" }), "no slot of the new settings joins a message already under way");
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]", "[dos]", "[tres]" }));
    }

    [Test]
    public async Task With_no_message_in_flight_the_replaced_plug_in_is_disposed_by_the_reload_itself()
    {
        Folder.Write("tagger1.opt", "TAG=old\n");
        await using var host = Host(Slot(1));

        var reload = await host.ReloadAsync();

        Assert.That((reload.Applied, reload.MessagesInFlight, reload.Changes.Count), Is.EqualTo((true, 0, 0)), "nothing changed, but the plug-in is created anew");
        Assert.That(_plugins.Created.Select(p => p.Disposed), Is.EqualTo(new[] { true, false }));
        Assert.That(host.Slots.Single().Plugin, Is.SameAs(_plugins.Created[1]));
        Assert.That(host.Channels, Is.SameAs(Everything), "a channel table built in code is the MTA's: no file to read again");
    }

    [Test]
    public async Task A_reload_reads_the_channel_table_again_so_new_messages_are_chosen_slots_by_it_and_each_keyword_that_changed_is_said()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        await using var host = HostWithTable(Slot(1) + Slot(2), "tcp_local sourcespamfilter1\n");
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]" }), "the table the host started with opts tcp_local in to slot 1 alone");

        var table = Folder.Write("imta.cnf", "tcp_local sourcespamfilter1optin spam sourcespamfilter2\n\ntcp_intranet slave_debug disablesourcespamfilter1\n");
        var reload = await host.ReloadAsync();

        Assert.That(reload.Applied, Is.True);
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]", "[two]" }), "a message after the reload is chosen slots by the new table");
        Assert.That(reload.Changes, Is.EqualTo(new[]
        {
            $"{table}: channel tcp_intranet: disablesourcespamfilter1 added",
            $"{table}: channel tcp_local: sourcespamfilter1 -> sourcespamfilter1optin spam",
            $"{table}: channel tcp_local: sourcespamfilter2 added",
        }), "one line per spam-filter keyword, the MTA's own (slave_debug) not compared");
        Assert.That(_logs.Entries.Where(e => e.EventId.Id == 5041).Select(e => e.Message), Is.EqualTo(reload.Changes.Select(c => "reload: " + c)));
        Assert.That(host.Channels.FilePath, Is.EqualTo(table));
    }

    [Test]
    public async Task A_broken_channel_table_refuses_the_whole_reload_naming_file_line_and_keyword_and_the_settings_in_effect_stay()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        await using var host = HostWithTable(Slot(1), "tcp_local sourcespamfilter1\n");

        Folder.Write("option.dat", Slot(1) + Slot(2));
        var table = Folder.Write("imta.cnf", "tcp_local sourcespamfilter1 \\\n  sourcespamfiltr2\n");
        var reload = await host.ReloadAsync();

        Assert.That(reload.Applied, Is.False);
        var error = reload.Errors.Single();
        Assert.That((error.FilePath, error.Line, error.Option), Is.EqualTo((table, 2, "sourcespamfiltr2")));
        Assert.That(error.Problem, Does.Contain("did you mean sourcespamfilter2?"));
        Assert.That(_logs.Entries.Single(e => e.EventId.Id == 5042).Message, Does.Contain($"not reloaded: {table}:2: option sourcespamfiltr2: "));
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]" }), "neither the table nor option.dat's new slot 2 takes over");
        Assert.That((host.Options.Slots.Count, host.Channels.Find("tcp_local")!.SourceOptIn(2)), Is.EqualTo((1, (IReadOnlyList<string>?)null)));
        Assert.That(_plugins.Created.Select(p => (p.Tag, p.Disposed)), Is.EqualTo(new[] { ("one", false), ("one", true), ("two", true) }),
            "the plug-ins the refused reload made are disposed");
    }

    [Test]
    public async Task A_message_in_flight_during_a_reload_is_chosen_slots_by_the_channel_table_it_started_with()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        await using var host = HostWithTable(Slot(1) + Slot(2), "tcp_local sourcespamfilter1 sourcespamfilter2\n");
        var (inFlight, gate) = await HoldOneAsync(host); // held in slot 1: slot 2 is chosen after the reload

        Folder.Write("imta.cnf", "tcp_local sourcespamfilter1\n");
        Assert.That((await host.ReloadAsync()).Applied, Is.True);
        gate.SetResult();

        Assert.That((await inFlight).Deliveries.Single().Tags, Is.EqualTo(new[] { "[one]", "[two]" }), "the message under way keeps the table it started with");
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]" }));
    }

    [Test]
    public async Task A_reload_adds_a_slot_option_dat_turns_on_and_says_which_options_changed_without_showing_a_password()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        const string Ldap = "LDAP_HOST=ldap.invalid\nLDAP_BASE_DN=o=test\nLDAP_BIND_DN=cn=host\n";
        await using var host = Host(Slot(1) + Ldap + "LDAP_BIND_PASSWORD=old secret\n");

        Folder.Write("tagger1.opt", "TAG=uno\n");
        Folder.Write("option.dat", Slot(1, extra: "spamfilter1_optional=1\n") + Slot(2) + Ldap + "LDAP_BIND_PASSWORD=new secret\n");
        var reload = await host.ReloadAsync();

        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[uno]", "[two]" }));
        var optionDat = Path.Combine(Folder.Path, "option.dat");
        Assert.That(reload.Changes, Is.EquivalentTo(new[]
        {
            $"{optionDat}: spamfilter1_optional added (\"1\")",
            $"{optionDat}: spamfilter2_library added (\"tagger2.dll\")",
            $"{optionDat}: spamfilter2_config_file added (\"tagger2.opt\")",
            $"{optionDat}: LDAP_BIND_PASSWORD: value not shown -> value not shown",
            $"slot 1 ({Path.Combine(Folder.Path, "tagger1.opt")}): TAG: \"one\" -> \"uno\"",
            $"slot 2 ({Path.Combine(Folder.Path, "tagger2.opt")}): TAG added (\"two\")",
        }));
        Assert.That(host.Options.Slots.Select(s => (s.Number, s.Optional)), Is.EqualTo(new[] { (1, true), (2, false) }));
        Assert.That(_logs.Entries.Any(e => e.Reveals("secret")), Is.False, "the reload's log shows no password");
        Assert.That(_logs.Entries.Where(e => e.EventId.Id == 5041).Select(e => e.Message), Is.EquivalentTo(reload.Changes.Select(c => "reload: " + c)));
    }

    [Test]
    public async Task A_broken_option_dat_keeps_the_settings_in_effect_and_each_error_names_file_line_and_option()
    {
        Folder.Write("tagger1.opt", "TAG=old\n");
        await using var host = Host(Slot(1));

        var optionDat = Folder.Write("option.dat", Slot(1) + "spamfilter1_bogus=1\nspamfilter1_optional=perhaps\nno equals sign\n");
        Folder.Write("tagger1.opt", "TAG=new\n");
        var reload = await host.ReloadAsync();

        Assert.That((reload.Applied, reload.Changes), Is.EqualTo((false, Array.Empty<string>())));
        Assert.That(reload.Errors.Select(e => (e.FilePath, e.Line, e.Option)),
            Is.EqualTo(new (string, int, string?)[] { (optionDat, 3, "spamfilter1_bogus"), (optionDat, 4, "spamfilter1_optional"), (optionDat, 5, null) }),
            "every wrong line, not the first alone, in the file's order (line 5's is found by the first pass)");
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[old]" }), "new messages still use the settings in effect");
        Assert.That((_plugins.Created.Count, _plugins.Created[0].Disposed), Is.EqualTo((1, false)));
        var refused = _logs.Entries.Where(e => e.EventId.Id == 5042).Select(e => e.Message).ToList();
        Assert.That(refused, Has.Count.EqualTo(3), "one line for each");
        Assert.That(refused[0], Does.Contain($"{optionDat}:3: option spamfilter1_bogus: unknown option"));
        Assert.That(refused[1], Does.Contain($"{optionDat}:4: option spamfilter1_optional:"));
        Assert.That(refused[2], Does.Contain($"{optionDat}:5: "));
    }

    [Test]
    public async Task A_broken_plug_in_option_file_keeps_every_slot_as_it_was_and_the_plug_ins_the_reload_made_are_disposed()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("tagger2.opt", "TAG=two\n");
        await using var host = Host(Slot(1) + Slot(2));

        Folder.Write("tagger1.opt", "TAG=uno\n");
        var broken = Folder.Write("tagger2.opt", "TAG=dos\nPORT=8891\n");
        var reload = await host.ReloadAsync();

        Assert.That(reload.Applied, Is.False);
        var error = reload.Errors.Single();
        Assert.That((error.FilePath, error.Line, error.Option), Is.EqualTo((broken, 2, "PORT")));
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]", "[two]" }), "slot 1's good file does not take over alone");
        Assert.That(_plugins.Created.Select(p => (p.Tag, p.Disposed)), Is.EqualTo(new[] { ("one", false), ("two", false), ("uno", true) }));
    }

    [Test]
    public async Task A_plug_in_that_cannot_be_loaded_on_reload_is_reported_against_its_library_option_and_line()
    {
        Folder.Write("tagger1.opt", "TAG=one\n");
        Folder.Write("missing1.opt", "TAG=one\n");
        await using var host = Host(Slot(1));

        var optionDat = Folder.Write("option.dat", Slot(1, "missing"));
        var reload = await host.ReloadAsync();

        var error = reload.Errors.Single();
        Assert.That((reload.Applied, error.FilePath, error.Line, error.Option), Is.EqualTo((false, optionDat, 1, "spamfilter1_library")));
        Assert.That(error.Problem, Does.StartWith("the plug-in cannot be used: ").And.Contain("does not exist"));
        Assert.That(await TagsAsync(host), Is.EqualTo(new[] { "[one]" }));
    }

    [Test]
    public async Task Disposing_the_host_waits_for_the_message_in_flight_and_a_message_after_it_is_refused()
    {
        Folder.Write("tagger1.opt", "TAG=old\n");
        var host = Host(Slot(1));
        var (inFlight, gate) = await HoldOneAsync(host);

        var disposing = host.DisposeAsync().AsTask();

        Assert.That((disposing.IsCompleted, _plugins.Created[0].Disposed), Is.EqualTo((false, false)), "the plug-in is in use");
        Assert.ThrowsAsync<ObjectDisposedException>(() => host.FilterAsync(Message()));
        gate.SetResult();
        Assert.That((await inFlight).Deliveries.Single().Tags, Is.EqualTo(new[] { "[old]" }));
        await disposing;
        Assert.That(_plugins.Created[0].Disposed, Is.True);
    }
}
