using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// A client's MAIL and RCPT parameters are taken or refused as Postfix 3.7's smtpd takes or refuses them, with its words:
/// each reply below is what the private Postfix instance answered (the Postfix differential replays a selection).
/// </summary>
public class ClientParametersTests
{
    [TestCase("BODY=8BITMIME", null)]
    [TestCase("body=7bit", null)]
    [TestCase("BODY=EVIL", "555 5.5.4 Unsupported option: BODY=EVIL")]
    [TestCase("BODY=BINARYMIME", "555 5.5.4 Unsupported option: BODY=BINARYMIME")]
    [TestCase("BODY", "555 5.5.4 Unsupported option: BODY")]
    [TestCase("BODY=7BIT BODY=8BITMIME", null)]
    [TestCase("RET=hdrs", null)]
    [TestCase("RET=BOGUS", "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("RET=", "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("RET", "555 5.5.4 Unsupported option: RET")]
    [TestCase("RET=FULL RET=HDRS", "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("ENVID=x+2b", null)]
    [TestCase("ENVID=a=b", null)]
    [TestCase("ENVID=x+ZZ", "501 5.5.4 Bad ENVID parameter syntax")]
    [TestCase("ENVID=x+0A", "501 5.5.4 Bad ENVID parameter syntax")]
    [TestCase("ENVID=a ENVID=b", "501 5.5.4 Bad ENVID parameter syntax")]
    [TestCase("ENVID", "555 5.5.4 Unsupported option: ENVID")]
    [TestCase("ENVID=", "501 5.5.4 Bad ENVID parameter syntax")]
    [TestCase("RET=HDRS ENVID=", "501 5.5.4 Bad ENVID parameter syntax")]
    [TestCase("SIZE=00012", null)]
    [TestCase("SIZE=1 SIZE=2", null)]
    [TestCase("SIZE=abc", "501 5.5.4 Bad message size syntax")]
    [TestCase("SIZE=-1", "501 5.5.4 Bad message size syntax")]
    [TestCase("SIZE=", "501 5.5.4 Bad message size syntax")]
    [TestCase("SIZE", "555 5.5.4 Unsupported option: SIZE")]
    [TestCase("SIZE=9223372036854775807", null)]
    [TestCase("SIZE=000000000000000000000000000009223372036854775807", null)]
    [TestCase("SIZE=9223372036854775808", "552 5.3.4 Message size exceeds file system imposed limit")]
    [TestCase("SIZE=99999999999999999999999 RET=BOGUS", "552 5.3.4 Message size exceeds file system imposed limit")]
    [TestCase("RET=BOGUS SIZE=99999999999999999999999", "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("SMTPUTF8", null)]
    [TestCase("SMTPUTF8=yes", "555 5.5.4 Unsupported option: SMTPUTF8=yes")]
    [TestCase("AUTH=<>", null)]
    [TestCase("AUTH=x AUTH=y", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("auth=x Auth=y", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("AUTH= AUTH=<>", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("AUTH=y AUTH=<>", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("AUTH=<> AUTH=y", null)]
    [TestCase("AUTH=<> AUTH=<>", null)]
    [TestCase("AUTH=x AUTH=y RET=BOGUS", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("RET=BOGUS AUTH=x AUTH=y", "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("X=1", "555 5.5.4 Unsupported option: X=1")]
    [TestCase("X=1 x=2", "555 5.5.4 Unsupported option: X=1")]
    [TestCase("BODY=8BITMIME RET=BOGUS X=1", "501 5.5.4 Bad RET parameter syntax")]
    public void A_MAIL_parameter_is_taken_or_refused_as_Postfix_takes_or_refuses_it(string parameters, string? reply)
    {
        Assert.That(ClientParameters.MailRefusal(parameters.Split(' '))?.ToString(), Is.EqualTo(reply));
    }

    [TestCase("NOTIFY=NEVER", null)]
    [TestCase("NOTIFY=success", null)]
    [TestCase("NOTIFY=SUCCESS,FAILURE", null)]
    [TestCase("NOTIFY=SUCCESS,SUCCESS", null)]
    [TestCase("NOTIFY=NEVER,NEVER", null)]
    [TestCase("NOTIFY=SUCCESS,,DELAY", null)]
    [TestCase("NOTIFY=success,", null)]
    [TestCase("NOTIFY=,", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("NOTIFY=BOGUS", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("NOTIFY=NEVER,SUCCESS", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("NOTIFY=", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("NOTIFY=NEVER NOTIFY=SUCCESS", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("NOTIFY", "555 5.5.4 Unsupported option: NOTIFY")]
    [TestCase("ORCPT=rfc822;a@x", null)]
    [TestCase("ORCPT=RFC822;a+40b", null)]
    [TestCase("ORCPT=x;y", null)]
    [TestCase("ORCPT=rfc822;", null)]
    [TestCase("ORCPT=bogus", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("ORCPT=rfc822;a+ZZ", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("ORCPT=;a", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("ORCPT=rfc822;a ORCPT=rfc822;b", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("ORCPT", "555 5.5.4 Unsupported option: ORCPT")]
    [TestCase("X=1", "555 5.5.4 Unsupported option: X=1")]
    public void A_RCPT_parameter_is_taken_or_refused_as_Postfix_takes_or_refuses_it(string parameters, string? reply)
    {
        Assert.That(ClientParameters.RcptRefusal(parameters.Split(' '))?.ToString(), Is.EqualTo(reply));
    }

    [Test]
    public void No_parameters_are_taken()
    {
        Assert.That((ClientParameters.MailRefusal([]), ClientParameters.RcptRefusal([])), Is.EqualTo(((Contract.SmtpReply?)null, (Contract.SmtpReply?)null)));
    }

    [TestCase("X\u0001Y=1", "Unsupported option: X\u0001Y=1", TestName = "An unsupported option is named with its control bytes, as Postfix names it on the wire")]
    [TestCase("X=1\r\n250 2.1.5 Ok", "Unsupported option: X=1250 2.1.5 Ok", TestName = "A CR or LF a host's caller hands in stays out of the reply, which stays one line")]
    [TestCase("X=\u0000", "Unsupported option: X=", TestName = "A NUL stays out of the reply")]
    public void An_unsupported_option_is_named_as_given_but_for_what_would_end_the_line(string parameter, string text) =>
        Assert.That(ClientParameters.RcptRefusal([parameter])?.Lines, Is.EqualTo(new[] { text }));

    [TestCase("ORCPT=<\nRSET\n>;x")]
    [TestCase("AUTH=x\u0000y")]
    [TestCase("NOTIFY=NEVER\r\nRSET")]
    public void A_parameter_that_holds_a_line_end_is_refused_as_an_unsupported_option_whatever_its_keyword(string parameter)
    {
        // No parameter Postfix reads can hold one; a host's caller can hand one in, and none may reach a milter's or a next
        // hop's command.
        Assert.Multiple(() =>
        {
            Assert.That(ClientParameters.MailRefusal([parameter])?.Code, Is.EqualTo(555));
            Assert.That(ClientParameters.RcptRefusal([parameter])?.Code, Is.EqualTo(555));
        });
    }

    // Postfix 3.7 with message_size_limit = 1000: SIZE=1000 taken, SIZE=1001 refused after every parameter was read (a bad
    // RET before it is named first), the last SIZE= the one that counts (SIZE=1 SIZE=5000 refused, SIZE=5000 SIZE=1 taken).
    [TestCase("SIZE=1000", 1000, null)]
    [TestCase("SIZE=1001", 1000, "552 5.3.4 Message size exceeds fixed limit")]
    [TestCase("SIZE=1001 RET=BOGUS", 1000, "501 5.5.4 Bad RET parameter syntax")]
    [TestCase("SIZE=1 SIZE=5000", 1000, "552 5.3.4 Message size exceeds fixed limit")]
    [TestCase("SIZE=5000 SIZE=1", 1000, null)]
    [TestCase("SIZE=9223372036854775807", 0, null, TestName = "Without a limit any SIZE= a number holds is taken")]
    public void A_SIZE_over_the_limit_is_refused_after_the_parameters_and_the_last_SIZE_counts(string parameters, long limit, string? reply) =>
        Assert.That(ClientParameters.MailRefusal(parameters.Split(' '), limit)?.ToString(), Is.EqualTo(reply));
}
