using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>What a server answers once its filters have spoken: its own reply, a refusal, or another reply in its place.</summary>
public class SmtpAnswerTests
{
    [Test]
    public void A_stores_250_is_written_in_place_of_the_servers_own_without_counting_as_a_refusal()
    {
        var queued = new SmtpReply(250, "2.0.0", "Ok: queued as 4F2A");

        var answer = SmtpAnswer.ReplyWith(queued);

        Assert.That((answer.Reply, answer.Refusal, answer.IsRefused, answer.ClosesSession), Is.EqualTo((queued, (SmtpReply?)null, false, false)));
    }

    [TestCase(421, true)]
    [TestCase(451, false)]
    [TestCase(554, false)]
    public void A_refusal_is_the_reply_and_only_a_421_closes_the_session(int code, bool closes)
    {
        var reply = new SmtpReply(code, null, "no");

        Assert.That((SmtpAnswer.Refuse(reply).Refusal, SmtpAnswer.Refuse(reply).ClosesSession), Is.EqualTo((reply, closes)));
        Assert.That(SmtpAnswer.ReplyWith(reply).Refusal, Is.EqualTo(reply), "a 4xx or 5xx given in place of the server's reply refuses too");
    }

    [Test]
    public void Refuse_does_not_take_a_positive_reply()
    {
        Assert.That(() => SmtpAnswer.Refuse(new SmtpReply(250, null, "Ok")), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Proceed_gives_no_reply_of_its_own()
    {
        Assert.That((SmtpAnswer.Proceed.Reply, SmtpAnswer.Proceed.IsRefused, SmtpAnswer.Proceed.ToString()), Is.EqualTo(((SmtpReply?)null, false, "proceed")));
    }
}
