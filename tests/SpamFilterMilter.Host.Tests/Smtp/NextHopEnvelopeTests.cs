using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>What a relay sends its next hop at MAIL and RCPT, as Postfix's smtp client writes it (the lab's captures).</summary>
public class NextHopEnvelopeTests
{
    private const NextHopExtensions SmtpSink = NextHopExtensions.EightBitMime | NextHopExtensions.Dsn;

    [TestCase("BODY=8BITMIME RET=HDRS ENVID=envid-x", SmtpSink, "<a@example.com> BODY=8BITMIME ENVID=envid-x RET=HDRS")]
    [TestCase("SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=e1", SmtpSink | NextHopExtensions.Size | NextHopExtensions.SmtpUtf8, "<a@example.com> SIZE=295 BODY=8BITMIME ENVID=e1 RET=HDRS SMTPUTF8")]
    [TestCase("SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=e1", SmtpSink | NextHopExtensions.Size, "<a@example.com> SIZE=295 BODY=8BITMIME ENVID=e1 RET=HDRS")]
    [TestCase("BODY=8BITMIME RET=FULL XFOO=bar", NextHopExtensions.None, "<a@example.com>")]
    [TestCase(null, SmtpSink, "<a@example.com>")]
    public void MAIL_passes_on_only_what_a_relay_understands_in_Postfixs_order(string? parameters, NextHopExtensions extensions, string expected)
    {
        var envelope = new Envelope("a@example.com", EsmtpParameters.Split(parameters), []);

        Assert.That(NextHopEnvelope.MailArguments(envelope, extensions, 295), Is.EqualTo(expected));
    }

    [TestCase("b@example.net", null, SmtpSink, "<b@example.net> ORCPT=rfc822;b@example.net")]
    [TestCase("b@example.net", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@example.com", SmtpSink, "<b@example.net> ORCPT=rfc822;x@example.com NOTIFY=SUCCESS,FAILURE")]
    [TestCase("müller@example.net", null, SmtpSink, "<müller@example.net> ORCPT=rfc822;m+C3+BCller@example.net")]
    [TestCase("b@example.net", "NOTIFY=NEVER", NextHopExtensions.EightBitMime, "<b@example.net>")]
    public void RCPT_gets_ORCPT_always_and_NOTIFY_when_given_if_the_next_hop_speaks_DSN(string address, string? parameters, NextHopExtensions extensions, string expected)
    {
        var recipient = new EnvelopeRecipient(address, EsmtpParameters.Split(parameters));

        Assert.That(NextHopEnvelope.RcptArguments(recipient, extensions), Is.EqualTo(expected));
    }
}
