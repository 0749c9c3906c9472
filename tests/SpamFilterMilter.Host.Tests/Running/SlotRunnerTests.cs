using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// One slot's run: verdict to action (null, string, the verdict/action pairs, the failure verdict's own),
/// spamfilterX_optional when the plug-in or its action fails, and what the plug-in is given.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class SlotRunnerTests : SlotHostTest
{
    [Test]
    public async Task A_default_verdict_runs_nothing_and_the_message_is_delivered_unchanged()
    {
        Plugins.Add("a", FilterVerdict.Default);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_null_action=data:,discard;\n"));

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Keep, Body(delivery)), Is.EqualTo((Disposition.Deliver, true, Text)));
        Assert.That(result.Runs.Single().Effect, Is.EqualTo("nothing to do"));
    }

    [Test]
    public async Task A_null_verdict_runs_spamfilterX_null_action()
    {
        Plugins.Add("a", new FilterVerdict { Kind = VerdictKind.Null });

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_null_action=data:,require \"fileinto\"; fileinto \"SPAM_CAN\";\n"));

        Assert.That(result.Deliveries.Single().Folders, Is.EqualTo(new[] { "SPAM_CAN" }));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("spamfilter1_null_action"));
    }

    [Test]
    public async Task A_null_verdict_without_a_null_action_keeps_the_message()
    {
        Plugins.Add("a", new FilterVerdict { Kind = VerdictKind.Null });

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Keep), Is.EqualTo((Disposition.Deliver, true)));
        Assert.That(result.Runs.Single().Effect, Is.EqualTo("no action (keep)"));
    }

    [Test]
    public async Task A_string_verdict_runs_spamfilterX_string_action_with_U_replaced_by_the_verdict()
    {
        Plugins.Add("a", FakePlugins.Verdict("True ; 18.3 / 5.0"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_string_action=data:,require [\"addheader\"];addheader \"Spam-test: $U\";\n"));

        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo(Text.Replace("\r\n\r\n", "\r\nSpam-test: True ; 18.3 / 5.0\r\n\r\n", StringComparison.Ordinal)));
        Assert.That(result.Runs.Single().Script, Is.EqualTo("require [\"addheader\"];addheader \"Spam-test: True ; 18.3 / 5.0\";"));
    }

    [Test]
    public async Task By_default_a_string_verdict_is_run_as_the_Sieve_it_is()
    {
        var result = await FilterThroughAsync("require \"ereject\";\nereject \"554 5.7.1 Virus found\";");

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Reply), Is.EqualTo((Disposition.Reject, new SmtpReply(554, "5.7.1", "Virus found"))));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("spamfilter1_string_action"));
    }

    [Test]
    public async Task Verdict_pairs_are_tried_in_M_order_and_the_first_match_wins()
    {
        Plugins.Add("a", FakePlugins.Verdict("virus found: Eicar"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a",
            "spamfilter1_verdict_0=*spam*\nspamfilter1_action_0=data:,discard;\n" +
            "spamfilter1_verdict_1=VIRUS*\nspamfilter1_action_1=data:,require \"fileinto\"; fileinto \"$U\";\n" +
            "spamfilter1_verdict_2=*\nspamfilter1_action_2=data:,discard;\n"));

        Assert.That(result.Deliveries.Single().Folders, Is.EqualTo(new[] { "virus found: Eicar" }));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("spamfilter1_action_1"));
    }

    [Test]
    public async Task A_string_verdict_no_pair_matches_runs_the_string_action()
    {
        Plugins.Add("a", FakePlugins.Verdict("clean"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a",
            "spamfilter1_verdict_0=spam\nspamfilter1_action_0=data:,discard;\nspamfilter1_string_action=data:,addtag \"[$U]\";\n"));

        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[clean]" }));
    }

    [Test]
    public async Task An_empty_string_action_leaves_a_string_verdict_without_effect()
    {
        Plugins.Add("a", FakePlugins.Verdict("discard;"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_string_action=\n"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.Deliver));
    }

    private static FilterVerdict Failure(string text) => new()
    {
        Kind = VerdictKind.Failure,
        Text = text,
        Failure = new FilterFailure("milter 127.0.0.1:8890", FilterStage.Connect, "connection refused"),
    };

    [Test]
    public async Task A_failure_verdict_applies_its_action_when_the_slot_is_not_optional()
    {
        Plugins.Add("a", Failure("# milter failure: milter 127.0.0.1:8890: connect: connection refused\nrequire \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Service unavailable - try again later\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_optional=0\n"));

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Reply!.ToString()), Is.EqualTo((Disposition.TempFail, "451 4.7.1 Service unavailable - try again later")));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("the failure verdict's action"));
    }

    [Test]
    public async Task A_failure_verdict_is_ignored_when_the_slot_is_optional_and_later_slots_still_run()
    {
        Plugins.Add("a", Failure("require \"vnd.spamfiltermilter\"; tempfail \"451 4.7.1 x\";"));
        Plugins.Add("b", FakePlugins.Verdict("addtag \"[B]\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_optional=1\n") + FakePlugins.Slot(2, "b"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.Deliver));
        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[B]" }));
        Assert.That(result.Runs[0].Failure, Is.EqualTo("milter 127.0.0.1:8890: connect: connection refused"));
        Assert.That(result.Log, Has.Some.Contains("spamfilter1_optional=1, so the message goes on as if the slot were absent"));
    }

    [TestCase("0", Disposition.TempFail)]
    [TestCase("1", Disposition.Deliver)]
    public async Task A_plugin_that_cannot_be_loaded_follows_spamfilterX_optional(string optional, Disposition disposition)
    {
        var result = await FilterAsync(FakePlugins.Slot(1, "missing", $"spamfilter1_optional={optional}\n"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(disposition));
        Assert.That(delivery.Reply, disposition == Disposition.TempFail ? Is.EqualTo(SmtpReply.DefaultTempFail) : Is.Null);
        Assert.That(result.Runs.Single().Failure, Does.Contain("missing.dll does not exist"));
    }

    [Test]
    public async Task A_plugin_whose_option_file_is_wrong_is_a_slot_that_cannot_be_used()
    {
        var factory = new Mock<ISpamFilterPluginFactory>();
        factory.Setup(f => f.Create(It.IsAny<SpamFilterPluginContext>()))
            .Throws(new SpamFilterConfigurationException("/etc/milter.opt", 2, "PORT", "\"eighty\" is not a whole number"));
        var options = SpamFilterHostOptions.Load(Folder.Write("option.dat", FakePlugins.Slot(1, "a")));
        await using var host = SpamFilterHost.Create(options, Everything, loadPlugin: _ => factory.Object);

        var result = await host.FilterAsync(Message());

        Assert.That(host.Slots.Single().LoadFailure, Is.EqualTo("/etc/milter.opt:2: option PORT: \"eighty\" is not a whole number"));
        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail));
    }

    [TestCase("0", Disposition.TempFail)]
    [TestCase("1", Disposition.Deliver)]
    public async Task An_action_that_fails_follows_spamfilterX_optional_and_its_edits_are_dropped(string optional, Disposition disposition)
    {
        Plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"X-Half\" \"done\"; vacation \"away\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", $"spamfilter1_optional={optional}\n"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(disposition));
        Assert.That(Body(delivery), Is.EqualTo(Text));
        Assert.That(result.Runs.Single().Failure, Is.EqualTo("spamfilter1_string_action: line 1, column 50: unsupported command \"vacation\""));
    }

    [Test]
    public async Task A_plugin_that_throws_has_failed()
    {
        var plugin = Plugins.Add("a", FilterVerdict.Default);
        plugin.Setup(p => p.FilterMessageAsync(It.IsAny<MessageSubmission>(), It.IsAny<CancellationToken>())).ThrowsAsync(new InvalidOperationException("broken"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail));
        Assert.That(result.Runs.Single().Failure, Is.EqualTo("fake a: the plug-in threw InvalidOperationException: broken"));
    }

    [Test]
    public async Task The_plugin_gets_the_envelope_client_helo_macros_and_opt_in_values()
    {
        Plugins.Add("a", FilterVerdict.Default);

        await FilterAsync(FakePlugins.Slot(1, "a"), Message(Text, "bob@example.com", "carol@example.com"));

        var submission = Plugins.Calls.Single().Submission;
        Assert.Multiple(() =>
        {
            Assert.That(submission.MailFrom, Is.EqualTo("alice@example.org"));
            Assert.That(submission.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME" }));
            Assert.That(submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com", "carol@example.com" }));
            Assert.That(submission.Client!.HostName, Is.EqualTo("client.example.net"));
            Assert.That(submission.HeloName, Is.EqualTo("helo.example.net"));
            Assert.That(submission.Macros!["j"], Is.EqualTo("mx.example.com"));
            Assert.That(submission.OptIn, Is.EqualTo(new[] { "spam" }));
            Assert.That(Plugins.Calls.Single().Message, Is.EqualTo(Text));
        });
    }
}
