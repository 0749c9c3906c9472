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
    [TestCase("BODY RET=", SmtpSink, "<a@example.com>", TestName = "A keyword without its value is not passed on")]
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

    // Postfix 3.7 as a relay, to smtp-sink (2026-12-07): what it was given, and what its smtp client passed on.
    [TestCase("body=8bitmime ret=hdrs envid=a+2bb", "<a@example.com> BODY=8BITMIME ENVID=a+2Bb RET=HDRS")]
    [TestCase("body=7bit envid=x=y Ret=Full", "<a@example.com> BODY=7BIT ENVID=x+3Dy RET=FULL")]
    [TestCase("SMTPUTF8 smtputf8", "<a@example.com> SMTPUTF8", TestName = "SMTPUTF8 is written in upper case, once")]
    public void MAIL_parameters_go_on_as_Postfix_writes_what_it_kept_of_them_not_as_the_client_wrote_them(string parameters, string expected)
    {
        var envelope = new Envelope("a@example.com", EsmtpParameters.Split(parameters), []);

        Assert.That(NextHopEnvelope.MailArguments(envelope, SmtpSink | NextHopExtensions.SmtpUtf8, 295), Is.EqualTo(expected));
    }

    [TestCase("notify=never orcpt=RFC822;x+2bx@y", "<c@example.com> ORCPT=RFC822;x+2Bx@y NOTIFY=NEVER")]
    [TestCase("NOTIFY=success,Delay ORCPT=rfc822;D+2Bx@Example.com", "<c@example.com> ORCPT=rfc822;D+2Bx@Example.com NOTIFY=SUCCESS,DELAY")]
    [TestCase("NOTIFY=delay,failure,success", "<c@example.com> ORCPT=rfc822;c@example.com NOTIFY=SUCCESS,FAILURE,DELAY")]
    [TestCase("NOTIFY=delay,delay", "<c@example.com> ORCPT=rfc822;c@example.com NOTIFY=DELAY")]
    [TestCase("orcpt=rfc822;a=b+3d+7E", "<c@example.com> ORCPT=rfc822;a+3Db+3D~")]
    [TestCase("ORCPT=x-unknown;abc", "<c@example.com> ORCPT=x-unknown;abc")]
    public void RCPT_parameters_go_on_as_Postfix_writes_what_it_kept_of_them_not_as_the_client_wrote_them(string parameters, string expected)
    {
        var recipient = new EnvelopeRecipient("c@example.com", EsmtpParameters.Split(parameters));

        Assert.That(NextHopEnvelope.RcptArguments(recipient, SmtpSink), Is.EqualTo(expected));
    }

    [TestCase("caf\u00e9", "caf+C3+A9", TestName = "A raw UTF-8 character is encoded as its bytes")]
    [TestCase("a+zz", "a+zz", TestName = "Text that does not decode is given back as it is")]
    [TestCase("+2b+2B+3d", "+2B+2B+3D")]
    [TestCase("", "")]
    public void Xtext_is_decoded_and_encoded_again(string xtext, string expected) =>
        Assert.That(Xtext.Canonical(xtext), Is.EqualTo(expected));

    // Postfix 3.7 as a relay, to smtp-sink: a type is written as xtext, a utf-8 address as RFC 6533 writes it.
    [TestCase("ORCPT=x\u0001y;abc", "<c@example.com> ORCPT=x+01y;abc")]
    [TestCase("ORCPT=x_y;abc", "<c@example.com> ORCPT=x_y;abc")]
    [TestCase("ORCPT=rfc822;a\u0001b", "<c@example.com> ORCPT=rfc822;a+01b")]
    [TestCase("ORCPT=rfc822;", "<c@example.com> ORCPT=rfc822;")]
    [TestCase("ORCPT=utf-8;a\"b c\"d", "<c@example.com> ORCPT=utf-8;a\"b\\x{20}c\"d")]
    [TestCase("ORCPT=utf-8;a+2Bb", "<c@example.com> ORCPT=utf-8;a\\x{2B}2Bb")]
    [TestCase("ORCPT=utf-8;caf\u00e9\\x{41}\\x{20}", "<c@example.com> ORCPT=utf-8;caf\u00e9A\\x{20}", TestName = "A utf-8 address's escapes are read, and what may stand as itself does")]
    [TestCase("ORCPT=<\nRSET\n>;x", "<c@example.com> ORCPT=<+0ARSET+0A>;x", TestName = "A type with line ends is written as xtext, never raw")]
    [TestCase("ORCPT=utf-8;a\r\nRSET", "<c@example.com> ORCPT=utf-8;a\\x{D}\\x{A}RSET", TestName = "A utf-8 address with line ends is written escaped, never raw")]
    public void ORCPT_goes_on_as_Postfix_writes_it_and_never_carries_a_space_or_a_control_character(string parameters, string expected)
    {
        var recipient = new EnvelopeRecipient("c@example.com", [parameters]);

        Assert.That(NextHopEnvelope.RcptArguments(recipient, SmtpSink), Is.EqualTo(expected));
    }

    [Test]
    public void A_value_no_form_makes_safe_is_refused_at_the_wire_rather_than_written()
    {
        // What a host's caller could put in an envelope past every check: a NOTIFY that is not one goes on as given, so the
        // last check before the wire must refuse it (an LF would end the command at the next hop).
        var recipient = new EnvelopeRecipient("c@example.com", ["NOTIFY=NEVER\nRSET"]);
        var envelope = new Envelope("a@example.com", ["RET=FULL\r\nRSET"], []);

        Assert.Multiple(() =>
        {
            Assert.That(() => NextHopEnvelope.RcptArguments(recipient, SmtpSink), Throws.TypeOf<FormatException>().With.Message.Contain("NOTIFY="));
            Assert.That(() => NextHopEnvelope.MailArguments(envelope, SmtpSink, 1), Throws.TypeOf<FormatException>().With.Message.Contain("RET="));
        });
    }

    [Test]
    public void The_last_BODY_is_the_one_passed_on_as_Postfix_keeps_the_last()
    {
        var envelope = new Envelope("a@example.com", ["BODY=8BITMIME", "BODY=7BIT"], []);

        Assert.That(NextHopEnvelope.MailArguments(envelope, SmtpSink, 1), Is.EqualTo("<a@example.com> BODY=7BIT"));
    }
}
