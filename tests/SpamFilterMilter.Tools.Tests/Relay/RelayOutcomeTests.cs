using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Relay;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>SMTP has one reply to a message, the host library one result per group of recipients: what the relay answers.</summary>
public class RelayOutcomeTests
{
    private static readonly SmtpReply Rejected = new(550, "5.7.1", "no");
    private static readonly SmtpReply Later = new(451, "4.7.1", "later");

    private static DeliveryResult Group(Disposition disposition, string recipient, SmtpReply? reply = null) => new()
    {
        Recipients = [recipient],
        Disposition = disposition,
        Reply = reply,
        Message = [],
        Envelope = new Envelope("a@example.org", null, [new EnvelopeRecipient(recipient)]),
    };

    private static RelayOutcome Of(params DeliveryResult[] groups) => RelayOutcome.Of(new HostResult { Deliveries = groups, Runs = [], Log = [] });

    [Test]
    public void A_group_refused_for_now_refuses_the_whole_message_for_now_and_nothing_is_handed_on()
    {
        var outcome = Of(Group(Disposition.Deliver, "b@example.com"), Group(Disposition.Reject, "c@example.com", Rejected), Group(Disposition.TempFail, "d@example.com", Later));

        Assert.That(outcome.Refusal, Is.EqualTo(Later));
        Assert.That(outcome.Accepted, Is.Empty);
    }

    [Test]
    public void Every_group_refused_gives_the_first_refusal()
    {
        var outcome = Of(Group(Disposition.Reject, "b@example.com", Rejected), Group(Disposition.Reject, "c@example.com", new SmtpReply(554, "5.7.1", "other")));

        Assert.That(outcome.Refusal, Is.EqualTo(Rejected));
    }

    [Test]
    public void A_message_accepted_for_some_groups_is_accepted_and_the_refused_ones_are_reported_lost()
    {
        var delivered = Group(Disposition.Deliver, "b@example.com");
        var held = Group(Disposition.Quarantine, "c@example.com");
        var dropped = Group(Disposition.Discard, "d@example.com");
        var refused = Group(Disposition.Reject, "e@example.com", Rejected);

        var outcome = Of(delivered, refused, held, dropped);

        Assert.That(outcome.Refusal, Is.Null);
        Assert.That(outcome.Accepted, Is.EqualTo(new[] { delivered, held, dropped }));
        Assert.That(outcome.Lost, Is.EqualTo(new[] { refused }));
    }

    [Test]
    public void A_refusal_without_a_reply_gets_the_default_one()
    {
        Assert.That(Of(Group(Disposition.Reject, "b@example.com")).Refusal, Is.EqualTo(SmtpReply.DefaultReject));
        Assert.That(Of(Group(Disposition.TempFail, "b@example.com")).Refusal, Is.EqualTo(SmtpReply.DefaultTempFail));
    }
}
