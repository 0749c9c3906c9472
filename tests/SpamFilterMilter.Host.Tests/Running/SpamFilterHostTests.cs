using System.Text;
using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// Verdict to action, spamfilterX_optional, and the multi-slot merge rules, with plug-ins mocked (Moq). Every
/// slot here is selected through the source channel (sourcespamfilterX) so that the selection is not the point.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class SpamFilterHostTests : TempFolderTest
{
    private const string Text = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nBody\r\n";

    private readonly FakePlugins _plugins = new();

    private static readonly ChannelTable Everything = new(
    [
        new ChannelDefinition("tcp_local")
            .AddSourceOptIn(1, "spam").AddSourceOptIn(2, "spam").AddSourceOptIn(3, "spam").AddSourceOptIn(4, "spam"),
    ]);

    private static HostMessage Message(string text = Text, params string[] recipients) => new()
    {
        Message = Encoding.UTF8.GetBytes(text),
        Envelope = new Envelope("alice@example.org", "BODY=8BITMIME", (recipients.Length == 0 ? ["bob@example.com"] : recipients).Select(r => new EnvelopeRecipient(r)).ToArray()),
        SourceChannel = "tcp_local",
        Client = ClientInfo.Tcp(System.Net.IPAddress.Parse("192.0.2.7"), 4711, "client.example.net"),
        HeloName = "helo.example.net",
        Macros = new Dictionary<string, string> { ["j"] = "mx.example.com" },
    };

    private async Task<HostResult> FilterAsync(string optionDat, HostMessage? message = null)
    {
        await using var host = _plugins.Host(Folder, optionDat, Everything);
        return await host.FilterAsync(message ?? Message());
    }

    private static string Body(DeliveryResult delivery) => Encoding.UTF8.GetString(delivery.Message);

    [Test]
    public async Task A_default_verdict_runs_nothing_and_the_message_is_delivered_unchanged()
    {
        _plugins.Add("a", FilterVerdict.Default);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_null_action=data:,discard;\n"));

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Keep, Body(delivery)), Is.EqualTo((Disposition.Deliver, true, Text)));
        Assert.That(result.Runs.Single().Effect, Is.EqualTo("nothing to do"));
    }

    [Test]
    public async Task A_null_verdict_runs_spamfilterX_null_action()
    {
        _plugins.Add("a", new FilterVerdict { Kind = VerdictKind.Null });

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_null_action=data:,require \"fileinto\"; fileinto \"SPAM_CAN\";\n"));

        Assert.That(result.Deliveries.Single().Folders, Is.EqualTo(new[] { "SPAM_CAN" }));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("spamfilter1_null_action"));
    }

    [Test]
    public async Task A_null_verdict_without_a_null_action_keeps_the_message()
    {
        _plugins.Add("a", new FilterVerdict { Kind = VerdictKind.Null });

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Keep), Is.EqualTo((Disposition.Deliver, true)));
        Assert.That(result.Runs.Single().Effect, Is.EqualTo("no action (keep)"));
    }

    [Test]
    public async Task A_string_verdict_runs_spamfilterX_string_action_with_U_replaced_by_the_verdict()
    {
        _plugins.Add("a", FakePlugins.Verdict("True ; 18.3 / 5.0"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_string_action=data:,require [\"addheader\"];addheader \"Spam-test: $U\";\n"));

        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo(Text.Replace("\r\n\r\n", "\r\nSpam-test: True ; 18.3 / 5.0\r\n\r\n", StringComparison.Ordinal)));
        Assert.That(result.Runs.Single().Script, Is.EqualTo("require [\"addheader\"];addheader \"Spam-test: True ; 18.3 / 5.0\";"));
    }

    [Test]
    public async Task By_default_a_string_verdict_is_run_as_the_Sieve_it_is()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"ereject\";\nereject \"554 5.7.1 Virus found\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Reply), Is.EqualTo((Disposition.Reject, new SmtpReply(554, "5.7.1", "Virus found"))));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("spamfilter1_string_action"));
    }

    [Test]
    public async Task Verdict_pairs_are_tried_in_M_order_and_the_first_match_wins()
    {
        _plugins.Add("a", FakePlugins.Verdict("virus found: Eicar"));

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
        _plugins.Add("a", FakePlugins.Verdict("clean"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a",
            "spamfilter1_verdict_0=spam\nspamfilter1_action_0=data:,discard;\nspamfilter1_string_action=data:,addtag \"[$U]\";\n"));

        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[clean]" }));
    }

    [Test]
    public async Task An_empty_string_action_leaves_a_string_verdict_without_effect()
    {
        _plugins.Add("a", FakePlugins.Verdict("discard;"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_string_action=\n"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.Deliver));
    }

    private static FilterVerdict Failure(string text) => new()
    {
        Kind = VerdictKind.Failure,
        Text = text,
        Failure = new FilterFailure("milter 127.0.0.1:8890", "connect", "connection refused"),
    };

    [Test]
    public async Task A_failure_verdict_applies_its_action_when_the_slot_is_not_optional()
    {
        _plugins.Add("a", Failure("# milter failure: milter 127.0.0.1:8890: connect: connection refused\nrequire \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Service unavailable - try again later\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "spamfilter1_optional=0\n"));

        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Reply!.ToString()), Is.EqualTo((Disposition.TempFail, "451 4.7.1 Service unavailable - try again later")));
        Assert.That(result.Runs.Single().ActionSource, Is.EqualTo("the failure verdict's action"));
    }

    [Test]
    public async Task A_failure_verdict_is_ignored_when_the_slot_is_optional_and_later_slots_still_run()
    {
        _plugins.Add("a", Failure("require \"vnd.spamfiltermilter\"; tempfail \"451 4.7.1 x\";"));
        _plugins.Add("b", FakePlugins.Verdict("addtag \"[B]\";"));

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
        Assert.That(delivery.Reply, disposition == Disposition.TempFail ? Is.EqualTo(SpamFilterHost.UnavailableReply) : Is.Null);
        Assert.That(result.Runs.Single().Failure, Does.Contain("missing.dll does not exist"));
    }

    [Test]
    public async Task A_plugin_whose_option_file_is_wrong_is_a_slot_that_cannot_be_used()
    {
        var factory = new Mock<ISpamFilterPluginFactory>();
        factory.Setup(f => f.Create(It.IsAny<SpamFilterPluginContext>()))
            .Throws(new SpamFilterConfigurationException("/etc/milter.opt", 2, "PORT", "\"eighty\" is not a whole number"));
        var options = HostOptions.Load(Folder.Write("option.dat", FakePlugins.Slot(1, "a")));
        await using var host = SpamFilterHost.Create(options, Everything, loadPlugin: _ => factory.Object);

        var result = await host.FilterAsync(Message());

        Assert.That(host.Slots.Single().LoadFailure, Is.EqualTo("/etc/milter.opt:2: option PORT: \"eighty\" is not a whole number"));
        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail));
    }

    [TestCase("0", Disposition.TempFail)]
    [TestCase("1", Disposition.Deliver)]
    public async Task An_action_that_fails_follows_spamfilterX_optional_and_its_edits_are_dropped(string optional, Disposition disposition)
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"X-Half\" \"done\"; vacation \"away\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", $"spamfilter1_optional={optional}\n"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(disposition));
        Assert.That(Body(delivery), Is.EqualTo(Text));
        Assert.That(result.Runs.Single().Failure, Is.EqualTo("spamfilter1_string_action: line 1, column 50: unsupported command \"vacation\""));
    }

    [Test]
    public async Task A_plugin_that_throws_has_failed()
    {
        var plugin = _plugins.Add("a", FilterVerdict.Default);
        plugin.Setup(p => p.FilterMessageAsync(It.IsAny<MessageSubmission>(), It.IsAny<CancellationToken>())).ThrowsAsync(new InvalidOperationException("broken"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail));
        Assert.That(result.Runs.Single().Failure, Is.EqualTo("fake a: filter: InvalidOperationException: broken"));
    }

    [Test]
    public async Task The_plugin_gets_the_envelope_client_helo_macros_and_opt_in_values()
    {
        _plugins.Add("a", FilterVerdict.Default);

        await FilterAsync(FakePlugins.Slot(1, "a"), Message(Text, "bob@example.com", "carol@example.com"));

        var submission = _plugins.Calls.Single().Submission;
        Assert.Multiple(() =>
        {
            Assert.That(submission.MailFrom, Is.EqualTo("alice@example.org"));
            Assert.That(submission.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME" }));
            Assert.That(submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com", "carol@example.com" }));
            Assert.That(submission.Client!.HostName, Is.EqualTo("client.example.net"));
            Assert.That(submission.HeloName, Is.EqualTo("helo.example.net"));
            Assert.That(submission.Macros!["j"], Is.EqualTo("mx.example.com"));
            Assert.That(submission.OptIn, Is.EqualTo(new[] { "spam" }));
            Assert.That(_plugins.Calls.Single().Message, Is.EqualTo(Text));
        });
    }

    [Test]
    public async Task Slots_run_in_number_order_and_each_sees_the_message_as_the_earlier_ones_left_it()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-Slot\" \"2\";"));
        _plugins.Add("b", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-Slot\" \"3\";"));

        var result = await FilterAsync(FakePlugins.Slot(3, "b") + FakePlugins.Slot(2, "a"));

        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(_plugins.Calls[1].Message, Does.Contain("X-Slot: 2\r\n"), "slot 3 sees slot 2's edit");
        Assert.That(Body(result.Deliveries.Single()), Does.EndWith("Subject: hello\r\nX-Slot: 2\r\nX-Slot: 3\r\n\r\nBody\r\n"));
        Assert.That(result.Deliveries.Single().Slots, Is.EqualTo(new[] { 2, 3 }));
    }

    [TestCase("require \"ereject\"; ereject \"550 5.7.1 first\";", Disposition.Reject)]
    [TestCase("require \"vnd.spamfiltermilter\"; tempfail \"451 4.7.1 first\";", Disposition.TempFail)]
    [TestCase("discard;", Disposition.Discard)]
    public async Task The_first_refusal_or_discard_wins_and_later_slots_do_not_run(string action, Disposition disposition)
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"X-A\" \"1\";"));
        _plugins.Add("b", FakePlugins.Verdict(action));
        _plugins.Add("c", FakePlugins.Verdict("require \"ereject\"; ereject \"550 5.7.1 second\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b") + FakePlugins.Slot(3, "c"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(disposition));
        Assert.That(delivery.Reply?.Lines[0], disposition == Disposition.Discard ? Is.Null : Is.EqualTo("first"));
        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task Quarantine_holds_the_message_and_later_slots_still_run()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\"; quarantine \"first reason\";"));
        _plugins.Add("b", FakePlugins.Verdict("require [\"editheader\", \"vnd.spamfiltermilter\"]; addheader :last \"X-B\" \"ran\"; quarantine \"second reason\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.QuarantineReason), Is.EqualTo((Disposition.Quarantine, "first reason")));
        Assert.That(Body(delivery), Does.Contain("X-B: ran\r\n"));
    }

    [Test]
    public async Task A_refusal_after_a_quarantine_still_refuses()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\"; quarantine \"held\";"));
        _plugins.Add("b", FakePlugins.Verdict("require \"ereject\"; ereject \"550 5.7.1 no\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.Reject));
    }

    [Test]
    public async Task Keep_fileinto_and_redirect_accumulate_across_slots()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"fileinto\"; fileinto \"Junk\"; redirect \"abuse@example.com\";"));
        _plugins.Add("b", FakePlugins.Verdict("require \"fileinto\"; fileinto \"Archive\"; keep;"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Keep, delivery.Folders, delivery.Redirects), Is.EqualTo((true, new[] { "Junk", "Archive" }, new[] { "abuse@example.com" })));
    }

    [Test]
    public async Task A_slot_that_cancels_the_implicit_keep_is_not_undone_by_a_later_slot_that_only_edits()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"fileinto\"; fileinto \"Junk\";"));
        _plugins.Add("b", FakePlugins.Verdict("require \"editheader\"; addheader \"X-B\" \"1\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        Assert.That((result.Deliveries.Single().Keep, result.Deliveries.Single().Folders), Is.EqualTo((false, new[] { "Junk" })));
    }

    [Test]
    public async Task Tags_of_every_slot_are_prefixed_to_the_Subject_once_all_slots_have_run()
    {
        _plugins.Add("a", FakePlugins.Verdict("addtag \"[SPAM]\";"));
        _plugins.Add("b", FakePlugins.Verdict("addtag \"[BULK]\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"));

        Assert.That(_plugins.Calls[1].Message, Does.Contain("Subject: hello\r\n"), "slot 2 sees the Subject untagged");
        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo(Text.Replace("Subject: hello", "Subject: [SPAM] [BULK] hello", StringComparison.Ordinal)));
        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[SPAM]", "[BULK]" }));
    }

    [Test]
    public async Task A_tag_on_a_message_without_a_Subject_adds_one()
    {
        _plugins.Add("a", FakePlugins.Verdict("addtag \"[SPAM]\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), Message("From: a@example.org\r\n\r\nBody\r\n"));

        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo("From: a@example.org\r\nSubject: [SPAM]\r\n\r\nBody\r\n"));
    }

    [Test]
    public async Task A_recipient_refused_by_a_slot_is_listed_with_its_reply_and_the_others_are_delivered()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\"; rejectrecipient \"nobody@example.com\" \"550 5.1.1 No such user here\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), Message(Text, "bob@example.com", "nobody@example.com"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(Disposition.Deliver));
        Assert.That(delivery.RefusedRecipients.Single().Reply.ToString(), Is.EqualTo("550 5.1.1 No such user here"));
        Assert.That(delivery.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
    }

    [Test]
    public async Task The_log_says_what_each_slot_did_and_why()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"fileinto\"; fileinto \"Junk\";"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

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
    public async Task Disposing_the_host_disposes_its_plugins()
    {
        var plugin = _plugins.Add("a", FilterVerdict.Default);
        var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a"));

        await host.DisposeAsync();

        plugin.Verify(p => p.DisposeAsync(), Times.Once);
    }

    [Test]
    public void An_opt_in_attribute_without_a_directory_is_an_error_when_the_host_starts()
    {
        _plugins.Add("a", FilterVerdict.Default);

        var e = Assert.Throws<SpamFilterConfigurationException>(() => _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n")))!;

        Assert.That((e.Option, e.Problem), Is.EqualTo(("LDAP_DOMAIN_ATTR_OPTIN1", "needs a directory: set DIRECTORY_FILE or LDAP_HOST")));
    }

    [Test]
    public async Task An_opt_in_attribute_may_use_a_directory_the_MTA_brings()
    {
        _plugins.Add("a", FilterVerdict.Default);
        var directory = new Mock<IOptInDirectory>();

        await using var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object);

        Assert.That(host.Slots, Has.Count.EqualTo(1));
    }
}
