namespace SpamFilterMilter.Contract.Tests;

/// <summary>The one SMTP reply parser, for a milter's text (Postfix's rules) and for text a person wrote.</summary>
public class SmtpReplyTests
{
    private static SmtpReply? Milter(string text, out string? problem) =>
        SmtpReply.TryParse(text, SmtpReplySyntax.Milter, out var reply, out problem) ? reply : null;

    [TestCase("550 5.7.1 Rejected", 550, "5.7.1", new[] { "Rejected" })]
    [TestCase("451 4.7.1 Try later", 451, "4.7.1", new[] { "Try later" })]
    [TestCase("550 No enhanced code", 550, null, new[] { "No enhanced code" })]
    [TestCase("550 ", 550, null, new[] { "" })]
    [TestCase("550-5.7.0 one\r\n550-5.7.0 two\r\n550 5.7.0 three", 550, "5.7.0", new[] { "one", "two", "three" })]
    [TestCase("550 5.7.1 100%% sure", 550, "5.7.1", new[] { "100% sure" })]
    [TestCase("550 Sure, 5 times", 550, null, new[] { "Sure, 5 times" })]
    [TestCase("550 50% off", 550, null, new[] { "50 off" })]
    [TestCase("421 4.7.0 closing", 421, "4.7.0", new[] { "closing" })]
    public void A_valid_reply_is_parsed(string text, int code, string? enhanced, string[] lines)
    {
        var reply = Milter(text, out var problem);

        Assert.That(problem, Is.Null);
        Assert.That((reply!.Code, reply.EnhancedCode, reply.Lines), Is.EqualTo((code, enhanced, lines)));
    }

    [Test]
    public void A_multi_line_reply_is_rendered_back_exactly()
    {
        const string text = "550-5.7.0 one\r\n550-5.7.0 two\r\n550 5.7.0 three";

        Assert.That(Milter(text, out _)!.ToString(), Is.EqualTo(text));
    }

    [Test]
    public void Lines_with_different_enhanced_codes_keep_their_own()
    {
        var reply = Milter("550-5.7.0 a\r\n550 5.7.1 b", out _)!;

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
    [TestCase("550", "line 1 is a code without the space after it")]                              // Postfix's milter8_valid_smtp_reply
    [TestCase("550-first\r\n550", "line 2 is a code without the space after it")]
    [TestCase("550-first\r\n550-", "the last line's code is followed by '-'")]
    [TestCase("550 4 apples", "line 1's text starts with a digit that is not its code's class (5)")]
    [TestCase("450 5 things", "line 1's text starts with a digit that is not its code's class (4)")]
    [TestCase("550 100% sure", "line 1's text starts with a digit that is not its code's class (5)")]
    public void An_invalid_reply_is_refused_with_the_reason(string text, string problem)
    {
        var reply = Milter(text, out var why);

        Assert.That(reply, Is.Null);
        Assert.That(why, Does.Contain(problem));
    }

    [TestCase("550-bare\n550 LF", new[] { "bare", "LF" })]               // LF separates lines in written text
    [TestCase("550-one\r\n550 two\r\n", new[] { "one", "two" })]         // a final line break is ignored
    [TestCase("550 100%% sure", new[] { "100%% sure" })]                  // '%' is an ordinary character
    [TestCase("550 4.7.1 class mismatch", new[] { "4.7.1 class mismatch" })] // not an enhanced code of this class: text
    public void Written_text_is_read_with_the_rules_of_written_text(string text, string[] lines)
    {
        Assert.That(SmtpReply.TryParse(text, SmtpReplySyntax.Text, out var reply, out var problem), Is.True, problem);
        Assert.That((reply!.Code, reply.Lines), Is.EqualTo((550, lines)));
    }

    [Test]
    public void The_two_syntaxes_differ_exactly_where_their_sources_do()
    {
        Assert.That(SmtpReply.TryParse("550-a\n550 b", SmtpReplySyntax.Milter, out _, out var bareLf), Is.False, "a milter must use CRLF");
        Assert.That(bareLf, Does.Contain("CR, LF or NUL"));
        Assert.That(SmtpReply.TryParse("550 50% off", SmtpReplySyntax.Milter, out var milter, out _), Is.True);
        Assert.That(SmtpReply.TryParse("550 50% off", SmtpReplySyntax.Text, out var written, out _), Is.True);
        Assert.That((milter!.Lines[0], written!.Lines[0]), Is.EqualTo(("50 off", "50% off")), "sendmail's '%' rules apply to a milter's text only");
    }
}
