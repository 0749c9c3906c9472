using SpamFilterMilter.Policy;

namespace SpamFilterMilter.Tests.Policy;

public class SmtpReplyTextTests
{
    [TestCase("550 5.7.1 Rejected", 550, "5.7.1", new[] { "Rejected" })]
    [TestCase("451 4.7.1 Try later", 451, "4.7.1", new[] { "Try later" })]
    [TestCase("550 No enhanced code", 550, null, new[] { "No enhanced code" })]
    [TestCase("550", 550, null, new[] { "" })]
    [TestCase("550-5.7.0 one\r\n550-5.7.0 two\r\n550 5.7.0 three", 550, "5.7.0", new[] { "one", "two", "three" })]
    [TestCase("550 100%% sure", 550, null, new[] { "100% sure" })]
    [TestCase("550 50% off", 550, null, new[] { "50 off" })]
    [TestCase("421 4.7.0 closing", 421, "4.7.0", new[] { "closing" })]
    public void A_valid_reply_is_parsed(string text, int code, string? enhanced, string[] lines)
    {
        var reply = SmtpReplyText.TryParse(text, out var problem);

        Assert.That(problem, Is.Null);
        Assert.That((reply!.Code, reply.EnhancedCode, reply.Lines), Is.EqualTo((code, enhanced, lines)));
    }

    [Test]
    public void A_multi_line_reply_is_rendered_back_exactly()
    {
        const string text = "550-5.7.0 one\r\n550-5.7.0 two\r\n550 5.7.0 three";

        Assert.That(SmtpReplyText.TryParse(text, out _)!.ToString(), Is.EqualTo(text));
    }

    [Test]
    public void Lines_with_different_enhanced_codes_keep_their_own()
    {
        var reply = SmtpReplyText.TryParse("550-5.7.0 a\r\n550 5.7.1 b", out _)!;

        Assert.That((reply.EnhancedCode, reply.ToString()), Is.EqualTo(((string?)null, "550-5.7.0 a\r\n550 5.7.1 b")));
    }

    [TestCase("", "empty")]
    [TestCase("250 OK", "does not start with a 4xx or 5xx code")]
    [TestCase("55", "does not start with a 4xx or 5xx code")]
    [TestCase("5x0 bad", "does not start with a 4xx or 5xx code")]
    [TestCase("550-one\r\n451 two", "line 2 has code 451, the first line 550")]
    [TestCase("550 one\r\n550 two", "line 1 is not the last line but its code is not followed by '-'")]
    [TestCase("550-last", "the last line's code is followed by '-'")]
    [TestCase("550 bare\nLF", "CR, LF or NUL that is not part of a CRLF")]
    [TestCase("550 4.7.1 class mismatch", "enhanced status code 4.7.1 does not match reply code 550")]
    [TestCase("451 5.7.1 class mismatch", "does not match reply code 451")]
    public void An_invalid_reply_is_refused_with_the_reason(string text, string problem)
    {
        var reply = SmtpReplyText.TryParse(text, out var why);

        Assert.That(reply, Is.Null);
        Assert.That(why, Does.Contain(problem));
    }
}
