using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// The host as a whole: its log, the opt-in directory it is given or makes, plug-ins that cannot be created,
/// messages filtered concurrently, disposing, and what its warnings may say.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class SpamFilterHostTests : SlotHostTest
{
    [Test]
    public async Task The_log_says_what_each_slot_did_and_why()
    {
        var result = await FilterThroughAsync("require \"fileinto\"; fileinto \"Junk\";");

        Assert.That(result.Log, Is.EqualTo(new[]
        {
            "slot 1 (fake a): for every recipient: source channel tcp_local has sourcespamfilter1optin spam",
            "slot 1 (fake a): runs for <bob@example.com> with opt-in spam",
            "slot 1 (fake a): verdict string: require \"fileinto\"; fileinto \"Junk\";",
            "slot 1 (fake a): runs spamfilter1_string_action (data:,$U)",
            "slot 1 (fake a):   fileinto \"Junk\"",
            "slot 1 (fake a): fileinto Junk, implicit keep cancelled",
            "result for <bob@example.com>: deliver to folder Junk",
        }));
    }

    [Test]
    public void An_opt_in_attribute_without_a_directory_is_an_error_when_the_host_starts()
    {
        Plugins.Add("a", FilterVerdict.Default);

        var e = Assert.Throws<SpamFilterConfigurationException>(() => Plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n")))!;

        Assert.That((e.Option, e.Problem), Is.EqualTo(("LDAP_DOMAIN_ATTR_OPTIN1", "needs a directory: set DIRECTORY_FILE or LDAP_HOST")));
    }

    [Test]
    public async Task An_opt_in_attribute_may_use_a_directory_the_MTA_brings_and_the_host_leaves_it_to_the_MTA()
    {
        Plugins.Add("a", FakePlugins.Verdict("addtag \"[A]\";"));
        var directory = new Mock<IOptInDirectory>();
        var disposable = directory.As<IDisposable>();
        directory.Setup(d => d.FindUserAsync("bob@example.com", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new DirectoryEntry("uid=bob", [KeyValuePair.Create("mailAntiUBEService", (IReadOnlyList<string>)["spam"])]));

        var host = Plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object);
        var result = await host.FilterAsync(FakePlugins.Message(Text, "bob@example.com", "carol@example.com"));
        await host.DisposeAsync();

        Assert.That(Plugins.Calls.Single().Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(Plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "spam" }));
        Assert.That(result.For("bob@example.com").Tags, Is.EqualTo(new[] { "[A]" }));
        directory.Verify(d => d.FindUserAsync("carol@example.com", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()), Times.Once);
        disposable.Verify(d => d.Dispose(), Times.Never, "the MTA's directory is the MTA's to dispose");
    }

    [Test]
    public async Task A_plugin_whose_Create_throws_with_spamfilterX_optional_1_lets_the_message_go_on_and_later_slots_run()
    {
        var broken = new Mock<ISpamFilterPluginFactory>();
        broken.Setup(f => f.Create(It.IsAny<SpamFilterPluginContext>())).Throws(new InvalidOperationException("constructor broken"));
        Plugins.Add("b", FakePlugins.Verdict("addtag \"[B]\";"));
        var options = SpamFilterHostOptions.Load(Folder.Write("option.dat", FakePlugins.Slot(1, "a", "spamfilter1_optional=1\n") + FakePlugins.Slot(2, "b")));
        await using var host = SpamFilterHost.Create(options, Everything, loadPlugin: path => path.EndsWith("a.dll", StringComparison.Ordinal) ? broken.Object : Plugins.Load(path));

        var result = await host.FilterAsync(Message());

        Assert.That(host.Slots[0].LoadFailure, Is.EqualTo("constructor broken"));
        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Tags), Is.EqualTo((Disposition.Deliver, new[] { "[B]" })));
        Assert.That(result.Runs[0].Effect, Is.EqualTo("failure ignored (spamfilter1_optional=1)"));
    }

    [Test]
    public async Task Messages_filtered_concurrently_each_get_their_own_result()
    {
        // Each plug-in call echoes its message's own marker back as a header; it takes a moment, so that calls overlap.
        // The first call also waits (10 s at most) for a second to start: on two busy cores the thread pool may run
        // one task at a time for a while, and a host that serialised its calls must fail here, not a slow machine.
        var running = 0;
        var mostAtOnce = 0;
        var started = 0;
        using var secondStarted = new ManualResetEventSlim();
        var plugin = Plugins.Add("a", call =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref mostAtOnce, now);
            switch (Interlocked.Increment(ref started))
            {
                case 1:
                    secondStarted.Wait(TimeSpan.FromSeconds(10));
                    break;
                case 2:
                    secondStarted.Set();
                    break;
            }

            Thread.Sleep(20);
            Interlocked.Decrement(ref running);
            return FakePlugins.Verdict($"require \"editheader\"; addheader :last \"X-Echo\" \"{call.Message.Split("X-Id: ")[1].Split("\r\n")[0]}\";");
        });
        await using var host = Plugins.Host(Folder, FakePlugins.Slot(1, "a"), Everything);

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            host.FilterAsync(Message($"X-Id: {i}\r\nSubject: hello\r\n\r\nBody {i}\r\n", $"r{i}@example.com")))));

        for (var i = 0; i < results.Length; i++)
        {
            var delivery = results[i].Deliveries.Single();
            Assert.That(delivery.Recipients, Is.EqualTo(new[] { $"r{i}@example.com" }));
            Assert.That(Body(delivery), Is.EqualTo($"X-Id: {i}\r\nSubject: hello\r\nX-Echo: {i}\r\n\r\nBody {i}\r\n"));
            Assert.That(results[i].Log.Count(l => l.StartsWith("slot 1", StringComparison.Ordinal)), Is.EqualTo(6), "each result has only its own log");
        }

        Assert.That(Plugins.Calls, Has.Count.EqualTo(64));
        Assert.That(mostAtOnce, Is.GreaterThan(1), "the messages really were filtered at the same time");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    [Test]
    public async Task Disposing_the_host_disposes_every_plugin_even_when_one_fails_and_logs_the_failure()
    {
        var first = Plugins.Add("a", FilterVerdict.Default);
        first.Setup(p => p.DisposeAsync()).Throws(new InvalidOperationException("dispose broken"));
        var second = Plugins.Add("b", FilterVerdict.Default);
        var logs = new CapturedLogs();
        var host = Plugins.Host(Folder, FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"), logs: logs);

        await host.DisposeAsync();

        first.Verify(p => p.DisposeAsync(), Times.Once);
        second.Verify(p => p.DisposeAsync(), Times.Once);
        var entry = logs.Entries.Single(e => e.EventId.Id == 5030);
        Assert.That((entry.Level, entry.Message, entry.Exception?.Message), Is.EqualTo((Microsoft.Extensions.Logging.LogLevel.Warning, "slot 1: disposing the plug-in failed", "dispose broken")));
    }

    [Test]
    public async Task A_plug_in_that_cannot_be_used_is_logged_with_its_cause_and_with_a_stack_only_when_that_is_not_a_configuration_error()
    {
        var milterOpt = Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\nTIMEOUT=soon\nDEBUG=7\n");
        var missing = Path.Combine(Folder.Path, "nowhere.dll");
        var optionDat = Folder.Write("option.dat", $"spamfilter1_library={DeployedPlugin.Path}\nspamfilter1_config_file={milterOpt}\n"
            + $"spamfilter2_library={missing}\nspamfilter2_config_file={milterOpt}\n");
        var logs = new CapturedLogs();

        await using (var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(optionDat), loggerFactory: logs))
        {
            Assert.That(host.LoadProblems.Select(p => (p.FilePath, p.Line, p.Option)), Is.EqualTo(new[]
            {
                (milterOpt, 3, (string?)"TIMEOUT"), // the plug-in's own option file
                (optionDat, 3, "spamfilter2_library"), // option.dat's line that names a plug-in that is not there
            }), "what a reload refuses, for a host that would rather not start");
        }

        var entries = logs.Entries.Where(e => e.EventId.Id == 5001).ToList();
        Assert.That(entries.Select(e => e.Level), Is.All.EqualTo(Microsoft.Extensions.Logging.LogLevel.Error));
        Assert.That((entries[0].Message, entries[0].Exception), Is.EqualTo(
            ($"slot 1: the plug-in {DeployedPlugin.Path} cannot be used: {milterOpt}:3: option TIMEOUT: \"soon\" is not a whole number; "
                + $"{milterOpt}:4: option DEBUG: 7 is too large: out of range (0 to 2)", (Exception?)null)),
            "the file, line and option of every wrong line say it all");
        Assert.That((entries[1].Message, entries[1].Exception), Is.EqualTo(
            ($"slot 2: the plug-in {missing} cannot be used: The plug-in {missing} does not exist.", (Exception?)null)),
            "a plug-in that cannot be loaded says why in one line, as a configuration error does");
    }

    [Test]
    public async Task Warnings_name_no_address_header_or_Sieve_text_and_the_details_go_to_debug()
    {
        Plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"Secret Header\" \"bob@example.com\";"));
        var directory = new Mock<IOptInDirectory>();
        directory.Setup(d => d.FindUserAsync(It.IsAny<string>(), It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new OptInDirectoryException("LDAP ldap://ldap:389/o=example (anonymous): looking up a user: The LDAP server is unavailable."));
        var logs = new CapturedLogs();
        await using (var host = Plugins.Host(Folder, FakePlugins.Slot(1, "a"), Everything, logs: logs))
        {
            await host.FilterAsync(Message());
        }

        await using (var host = Plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object, logs: logs))
        {
            await host.FilterAsync(Message());
        }

        var warnings = logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning).ToList();
        Assert.That(warnings.Select(w => w.Message), Is.EqualTo(new[]
        {
            "slot 1: the action spamfilter1_string_action failed at line 1, column 23",
            "the opt-in directory could not be asked for a user; the message is refused for now: "
                + "LDAP ldap://ldap:389/o=example (anonymous): looking up a user: The LDAP server is unavailable.",
        }));
        Assert.That(warnings.Select(w => w.AllText), Has.None.Contains("bob@example.com").And.None.Contains("Secret Header"));
        Assert.That(warnings[1].Exception, Is.Null, "every message of an outage logs this: its cause in the text, no stack");
        Assert.That(logs.Entries.Single(e => e.EventId.Id == 5021).Exception, Is.Not.Null, "the stack at Debug");
        var debug = logs.Entries.Where(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Debug).ToList();
        Assert.That(debug.Select(d => d.AllText), Has.Some.Contains("\"Secret Header\" is not a header field name"));
        Assert.That(debug.Select(d => d.Message), Has.Some.EqualTo("the opt-in directory could not be asked for user bob@example.com"));
    }
}
