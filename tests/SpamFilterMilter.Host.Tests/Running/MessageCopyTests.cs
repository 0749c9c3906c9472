using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// The multi-slot merge rules: slots run in order, each on the message as the earlier ones left it; the first
/// refusal wins; keep, fileinto, redirect and quarantine accumulate as in one Sieve script; a refused
/// recipient gets a result of its own.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class MessageCopyTests : SlotHostTest
{
    [Test]
    public async Task Slots_run_in_number_order_and_each_sees_the_message_as_the_earlier_ones_left_it()
    {
        Plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-Slot\" \"2\";"));
        Plugins.Add("b", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-Slot\" \"3\";"));

        var result = await FilterAsync(FakePlugins.Slot(3, "b") + FakePlugins.Slot(2, "a"));

        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(Plugins.Calls[1].Message, Does.Contain("X-Slot: 2\r\n"), "slot 3 sees slot 2's edit");
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
        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }));
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
        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [TestCase("discard;")]
    [TestCase("require \"vnd.spamfiltermilter\"; quarantine \"held\";")]
    public async Task A_refusal_after_a_discard_or_a_quarantine_still_refuses(string earlier)
    {
        var result = await FilterThroughAsync(earlier, "require \"ereject\"; ereject \"550 5.7.1 no\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Reply?.ToString(), delivery.QuarantineReason), Is.EqualTo((Disposition.Reject, "550 5.7.1 no", (string?)null)));
        Assert.That(Body(delivery), Is.EqualTo(Text), "a refused message is not delivered, so it is left as it came");
        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }), "the earlier verdict did not stop the later slot");
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
        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a" }), "nobody is left for slot 2");
    }

    [Test]
    public async Task A_rejectrecipient_for_an_address_not_in_the_envelope_changes_nothing()
    {
        var result = await FilterThroughAsync("require \"vnd.spamfiltermilter\"; rejectrecipient \"stranger@example.com\" \"550 5.1.1 No such user here\";");

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.RefusedRecipients.Count), Is.EqualTo((Disposition.Deliver, 0)));
        Assert.That(() => result.For("stranger@example.com"), Throws.ArgumentException);
    }
}
