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

    /// <summary>
    /// Filters <paramref name="message"/> through slots 1, 2, ... whose plug-ins (a, b, ...) answer the string
    /// verdicts given, each run as the Sieve it is (the default spamfilterX_string_action, data:,$U).
    /// </summary>
    private async Task<HostResult> FilterThroughAsync(HostMessage message, params string[] verdicts)
    {
        var optionDat = new StringBuilder();
        for (var i = 0; i < verdicts.Length; i++)
        {
            var name = ((char)('a' + i)).ToString();
            _plugins.Add(name, FakePlugins.Verdict(verdicts[i]));
            optionDat.Append(FakePlugins.Slot(i + 1, name));
        }

        return await FilterAsync(optionDat.ToString(), message);
    }

    /// <inheritdoc cref="FilterThroughAsync(HostMessage, string[])"/>
    private Task<HostResult> FilterThroughAsync(params string[] verdicts) => FilterThroughAsync(Message(), verdicts);

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
        var result = await FilterThroughAsync("require \"ereject\";\nereject \"554 5.7.1 Virus found\";");

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
    public async Task The_first_refusal_wins_later_slots_do_not_run_and_the_message_is_the_original(string action, Disposition disposition)
    {
        var result = await FilterThroughAsync(
            "require [\"editheader\", \"vnd.spamfiltermilter\"]; addheader \"X-A\" \"1\"; changesender \"<other@example.org>\";",
            action,
            "require \"ereject\"; ereject \"550 5.7.1 second\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Reply?.Lines[0]), Is.EqualTo((disposition, "first")));
        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(Body(delivery), Is.EqualTo(Text), "a refused message is the original, without slot 1's edit");
        Assert.That(delivery.Envelope.MailFrom, Is.EqualTo("alice@example.org"), "and so is its envelope");
    }

    [Test]
    public async Task A_discard_with_nothing_kept_filed_or_redirected_discards_the_original_message()
    {
        var result = await FilterThroughAsync("require \"editheader\"; addheader \"X-A\" \"1\";", "discard;");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Keep), Is.EqualTo((Disposition.Discard, false)));
        Assert.That(Body(delivery), Is.EqualTo(Text), "a discarded message is the original");
    }

    [Test]
    public async Task A_later_slots_discard_cancels_only_the_implicit_keep_so_an_earlier_fileinto_still_files_as_in_one_Sieve_script()
    {
        var result = await FilterThroughAsync("require \"fileinto\"; fileinto \"Evidence\"; redirect \"abuse@example.com\";", "discard;");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Keep, delivery.Folders, delivery.Redirects),
            Is.EqualTo((Disposition.Deliver, false, new[] { "Evidence" }, new[] { "abuse@example.com" })));
    }

    [Test]
    public async Task A_discard_does_not_undo_an_earlier_slots_explicit_keep_and_later_slots_still_run()
    {
        var result = await FilterThroughAsync("keep;", "discard;", "addtag \"[C]\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Keep, delivery.Tags), Is.EqualTo((Disposition.Deliver, true, new[] { "[C]" })));
        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [TestCase("discard;")]
    [TestCase("require \"vnd.spamfiltermilter\"; quarantine \"held\";")]
    public async Task A_refusal_after_a_discard_or_a_quarantine_still_refuses(string earlier)
    {
        var result = await FilterThroughAsync(earlier, "require \"ereject\"; ereject \"550 5.7.1 no\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Reply?.ToString(), delivery.QuarantineReason), Is.EqualTo((Disposition.Reject, "550 5.7.1 no", (string?)null)));
        Assert.That(Body(delivery), Is.EqualTo(Text), "a refused message is not delivered, so it is left as it came");
        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }), "the earlier verdict did not stop the later slot");
    }

    [Test]
    public async Task Quarantine_holds_the_message_and_later_slots_still_run()
    {
        var result = await FilterThroughAsync("require \"vnd.spamfiltermilter\"; quarantine \"first reason\";", "require [\"editheader\", \"vnd.spamfiltermilter\"]; addheader :last \"X-B\" \"ran\"; quarantine \"second reason\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.QuarantineReason), Is.EqualTo((Disposition.Quarantine, "first reason")));
        Assert.That(Body(delivery), Does.Contain("X-B: ran\r\n"));
    }

    [Test]
    public async Task Keep_fileinto_and_redirect_accumulate_across_slots()
    {
        var result = await FilterThroughAsync("require \"fileinto\"; fileinto \"Junk\"; redirect \"abuse@example.com\";", "require \"fileinto\"; fileinto \"Archive\"; keep;");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Keep, delivery.Folders, delivery.Redirects), Is.EqualTo((true, new[] { "Junk", "Archive" }, new[] { "abuse@example.com" })));
    }

    [Test]
    public async Task A_slot_that_cancels_the_implicit_keep_is_not_undone_by_a_later_slot_that_only_edits()
    {
        var result = await FilterThroughAsync("require \"fileinto\"; fileinto \"Junk\";", "require \"editheader\"; addheader \"X-B\" \"1\";");

        Assert.That((result.Deliveries.Single().Keep, result.Deliveries.Single().Folders), Is.EqualTo((false, new[] { "Junk" })));
    }

    [Test]
    public async Task Tags_of_every_slot_are_prefixed_to_the_Subject_once_all_slots_have_run()
    {
        var result = await FilterThroughAsync("addtag \"[SPAM]\";", "addtag \"[BULK]\";");

        Assert.That(_plugins.Calls[1].Message, Does.Contain("Subject: hello\r\n"), "slot 2 sees the Subject untagged");
        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo(Text.Replace("Subject: hello", "Subject: [SPAM] [BULK] hello", StringComparison.Ordinal)));
        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[SPAM]", "[BULK]" }));
    }

    [Test]
    public async Task A_tag_with_non_ASCII_characters_is_RFC_2047_encoded_and_the_Subject_keeps_its_own_bytes()
    {
        _plugins.Add("a", FakePlugins.Verdict("addtag \"[Pourriel détecté]\";"));
        byte[] latin1 = [.. "From: a@example.org\r\nSubject: caf"u8, 0xE9, .. "\r\n\r\nBody\r\n"u8];

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), new HostMessage { Message = latin1, Envelope = Message().Envelope, SourceChannel = "tcp_local" });

        var message = result.Deliveries.Single().Message;
        byte[] expected = [.. "From: a@example.org\r\nSubject: =?UTF-8?B?W1BvdXJyaWVsIGTDqXRlY3TDqV0=?= caf"u8, 0xE9, .. "\r\n\r\nBody\r\n"u8];
        Assert.That(message, Is.EqualTo(expected), "the tag in an encoded word, the old Subject byte for byte");
        Assert.That(message.Take(latin1.Length - 9).All(b => b < 0x80), Is.True, "nothing 8-bit added");
    }

    [Test]
    public async Task A_non_ASCII_tag_before_an_encoded_Subject_keeps_its_space_when_decoded()
    {
        var result = await FilterThroughAsync(Message("Subject: =?UTF-8?B?aGVsbG8=?=\r\n\r\nBody\r\n"), "addtag \"[é]\";");

        var subject = SpamFilterMilter.Host.Sieve.HeaderText.TestValue(MessageEditor.ReadFields(result.Deliveries.Single().Message).Single().Value);
        Assert.That(subject, Is.EqualTo("[é] hello"));
    }

    [Test]
    public async Task A_tag_on_a_message_without_a_Subject_adds_one()
    {
        var result = await FilterThroughAsync(Message("From: a@example.org\r\n\r\nBody\r\n"), "addtag \"[SPAM]\";");

        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo("From: a@example.org\r\nSubject: [SPAM]\r\n\r\nBody\r\n"));
    }

    [Test]
    public async Task A_recipient_refused_by_a_slot_has_its_own_refusal_and_the_others_are_delivered()
    {
        var result = await FilterThroughAsync(
            Message(Text, "bob@example.com", "nobody@example.com", "busy@example.com"),
            "require [\"vnd.spamfiltermilter\", \"editheader\"]; addheader \"X-A\" \"1\"; rejectrecipient \"<Nobody@example.com>\" \"550 5.1.1 No such user here\"; rejectrecipient \"busy@example.com\" \"452 4.2.2 Mailbox full\";");

        var bob = result.For("bob@example.com");
        Assert.That(bob.Disposition, Is.EqualTo(Disposition.Deliver));
        Assert.That(bob.Recipients, Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(bob.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(bob.RefusedRecipients.Select(r => r.Address), Is.EqualTo(new[] { "Nobody@example.com", "busy@example.com" }));
        var nobody = result.For("nobody@example.com");
        Assert.That((nobody.Disposition, nobody.Reply!.ToString()), Is.EqualTo((Disposition.Reject, "550 5.1.1 No such user here")));
        Assert.That(Body(nobody), Is.EqualTo(Text), "a refused recipient's result carries the original message");
        Assert.That(nobody.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "nobody@example.com" }));
        var busy = result.For("busy@example.com");
        Assert.That((busy.Disposition, busy.Reply!.ToString()), Is.EqualTo((Disposition.TempFail, "452 4.2.2 Mailbox full")));
        Assert.That(result.Deliveries.Select(d => d.Recipients.Single()), Is.EqualTo(new[] { "bob@example.com", "nobody@example.com", "busy@example.com" }), "envelope order");
    }

    [Test]
    public async Task When_every_recipient_is_refused_the_message_is_refused_and_nothing_is_delivered()
    {
        var result = await FilterThroughAsync(
            Message(Text, "bob@example.com", "carol@example.com"),
            "require \"vnd.spamfiltermilter\"; rejectrecipient \"bob@example.com\" \"550 5.7.1 Not you\"; rejectrecipient \"carol@example.com\" \"550 5.7.1 Nor you\";",
            "addtag \"[B]\";");

        Assert.That(result.Deliveries.Select(d => (d.Recipients.Single(), d.Disposition, d.Reply!.Lines[0])), Is.EqualTo(new[]
        {
            ("bob@example.com", Disposition.Reject, "Not you"),
            ("carol@example.com", Disposition.Reject, "Nor you"),
        }));
        Assert.That(_plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a" }), "nobody is left for slot 2");
    }

    [Test]
    public async Task A_rejectrecipient_for_an_address_not_in_the_envelope_changes_nothing()
    {
        var result = await FilterThroughAsync("require \"vnd.spamfiltermilter\"; rejectrecipient \"stranger@example.com\" \"550 5.1.1 No such user here\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.RefusedRecipients.Count), Is.EqualTo((Disposition.Deliver, 0)));
        Assert.That(() => result.For("stranger@example.com"), Throws.ArgumentException);
    }

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
        _plugins.Add("a", FilterVerdict.Default);

        var e = Assert.Throws<SpamFilterConfigurationException>(() => _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n")))!;

        Assert.That((e.Option, e.Problem), Is.EqualTo(("LDAP_DOMAIN_ATTR_OPTIN1", "needs a directory: set DIRECTORY_FILE or LDAP_HOST")));
    }

    [Test]
    public async Task An_opt_in_attribute_may_use_a_directory_the_MTA_brings_and_the_host_leaves_it_to_the_MTA()
    {
        _plugins.Add("a", FakePlugins.Verdict("addtag \"[A]\";"));
        var directory = new Mock<IOptInDirectory>();
        var disposable = directory.As<IDisposable>();
        directory.Setup(d => d.FindUserAsync("bob@example.com", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new DirectoryEntry("uid=bob", [KeyValuePair.Create("mailAntiUBEService", (IReadOnlyList<string>)["spam"])]));

        var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object);
        var result = await host.FilterAsync(FakePlugins.Message(Text, "bob@example.com", "carol@example.com"));
        await host.DisposeAsync();

        Assert.That(_plugins.Calls.Single().Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "spam" }));
        Assert.That(result.For("bob@example.com").Tags, Is.EqualTo(new[] { "[A]" }));
        directory.Verify(d => d.FindUserAsync("carol@example.com", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()), Times.Once);
        disposable.Verify(d => d.Dispose(), Times.Never, "the MTA's directory is the MTA's to dispose");
    }

    [Test]
    public async Task A_plugin_whose_Create_throws_with_spamfilterX_optional_1_lets_the_message_go_on_and_later_slots_run()
    {
        var broken = new Mock<ISpamFilterPluginFactory>();
        broken.Setup(f => f.Create(It.IsAny<SpamFilterPluginContext>())).Throws(new InvalidOperationException("constructor broken"));
        _plugins.Add("b", FakePlugins.Verdict("addtag \"[B]\";"));
        var options = HostOptions.Load(Folder.Write("option.dat", FakePlugins.Slot(1, "a", "spamfilter1_optional=1\n") + FakePlugins.Slot(2, "b")));
        await using var host = SpamFilterHost.Create(options, Everything, loadPlugin: path => path.EndsWith("a.dll", StringComparison.Ordinal) ? broken.Object : _plugins.Load(path));

        var result = await host.FilterAsync(Message());

        Assert.That(host.Slots[0].LoadFailure, Is.EqualTo("constructor broken"));
        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Tags), Is.EqualTo((Disposition.Deliver, new[] { "[B]" })));
        Assert.That(result.Runs[0].Effect, Is.EqualTo("failure ignored (spamfilter1_optional=1)"));
    }

    [Test]
    public async Task Messages_filtered_concurrently_each_get_their_own_result()
    {
        // Each plug-in call echoes its message's own marker back as a header; it takes a moment, so that calls overlap.
        var running = 0;
        var mostAtOnce = 0;
        var plugin = _plugins.Add("a", call =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref mostAtOnce, now);
            Thread.Sleep(20);
            Interlocked.Decrement(ref running);
            return FakePlugins.Verdict($"require \"editheader\"; addheader :last \"X-Echo\" \"{call.Message.Split("X-Id: ")[1].Split("\r\n")[0]}\";");
        });
        await using var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a"), Everything);

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            host.FilterAsync(Message($"X-Id: {i}\r\nSubject: hello\r\n\r\nBody {i}\r\n", $"r{i}@example.com")))));

        for (var i = 0; i < results.Length; i++)
        {
            var delivery = results[i].Deliveries.Single();
            Assert.That(delivery.Recipients, Is.EqualTo(new[] { $"r{i}@example.com" }));
            Assert.That(Body(delivery), Is.EqualTo($"X-Id: {i}\r\nSubject: hello\r\nX-Echo: {i}\r\n\r\nBody {i}\r\n"));
            Assert.That(results[i].Log.Count(l => l.StartsWith("slot 1", StringComparison.Ordinal)), Is.EqualTo(6), "each result has only its own log");
        }

        Assert.That(_plugins.Calls, Has.Count.EqualTo(64));
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
        var first = _plugins.Add("a", FilterVerdict.Default);
        first.Setup(p => p.DisposeAsync()).Throws(new InvalidOperationException("dispose broken"));
        var second = _plugins.Add("b", FilterVerdict.Default);
        var logs = new CapturedLogs();
        var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b"), logs: logs);

        await host.DisposeAsync();

        first.Verify(p => p.DisposeAsync(), Times.Once);
        second.Verify(p => p.DisposeAsync(), Times.Once);
        var entry = logs.Entries.Single(e => e.EventId.Id == 5030);
        Assert.That((entry.Level, entry.Message, entry.Exception?.Message), Is.EqualTo((Microsoft.Extensions.Logging.LogLevel.Warning, "slot 1: disposing the plug-in failed", "dispose broken")));
    }

    [Test]
    public async Task Warnings_name_no_address_header_or_Sieve_text_and_the_details_go_to_debug()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"Secret Header\" \"bob@example.com\";"));
        var directory = new Mock<IOptInDirectory>();
        directory.Setup(d => d.FindUserAsync(It.IsAny<string>(), It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new OptInDirectoryException("LDAP ldap://ldap:389/o=example (anonymous): looking up a user: The LDAP server is unavailable."));
        var logs = new CapturedLogs();
        await using (var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a"), Everything, logs: logs))
        {
            await host.FilterAsync(Message());
        }

        await using (var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object, logs: logs))
        {
            await host.FilterAsync(Message());
        }

        var warnings = logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning).ToList();
        Assert.That(warnings.Select(w => w.Message), Is.EqualTo(new[]
        {
            "slot 1: the action spamfilter1_string_action failed at line 1, column 23",
            "the opt-in directory could not be asked for a user; the message is refused for now",
        }));
        Assert.That(warnings.Select(w => w.AllText), Has.None.Contains("bob@example.com").And.None.Contains("Secret Header"));
        Assert.That(warnings[1].Exception, Is.InstanceOf<OptInDirectoryException>(), "the cause goes with the warning");
        var debug = logs.Entries.Where(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Debug).ToList();
        Assert.That(debug.Select(d => d.AllText), Has.Some.Contains("\"Secret Header\" is not a header field name"));
        Assert.That(debug.Select(d => d.Message), Has.Some.EqualTo("the opt-in directory could not be asked for user bob@example.com"));
    }
}
