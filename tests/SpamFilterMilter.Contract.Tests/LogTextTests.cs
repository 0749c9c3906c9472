namespace SpamFilterMilter.Contract.Tests;

/// <summary>How outside text goes into a log line (<see cref="LogText"/>): quoted, escaped, bounded.</summary>
public class LogTextTests
{
    [TestCase("plain", "\"plain\"")]
    [TestCase("", "\"\"")]
    [TestCase("say \"hi\" \\ bye", "\"say \\\"hi\\\" \\\\ bye\"")]
    [TestCase("two\r\nlines\tand a tab", "\"two\\r\\nlines\\tand a tab\"")]
    [TestCase("nul\0bell\u0007del\u007F", "\"nul\\x00bell\\x07del\\x7f\"")]
    [TestCase("ünïcødé", "\"ünïcødé\"")]
    [TestCase("c1\u0085next\u009B2J", "\"c1\\x85next\\x9b2J\"")]
    [TestCase("line\u2028para\u2029", "\"line\\u2028para\\u2029\"")]
    [TestCase("abc\u202Efed\u2066x\u200F", "\"abc\\u202efed\\u2066x\\u200f\"")]
    public void Text_is_quoted_and_nothing_in_it_can_start_a_line_or_hide_in_a_terminal(string text, string logged)
    {
        Assert.That(LogText.Quote(text), Is.EqualTo(logged));
    }

    [Test]
    public void Text_longer_than_the_bound_is_cut_and_says_how_much_more_there_was()
    {
        var text = new string('x', 250);

        Assert.That(LogText.Quote(text), Is.EqualTo("\"" + new string('x', 200) + "\"…(+50 characters)"));
        Assert.That(LogText.Quote("abcdef", maxLength: 6), Is.EqualTo("\"abcdef\""), "exactly the bound: all of it");
        Assert.That(LogText.Quote("abcdef", maxLength: 2), Is.EqualTo("\"ab\"…(+4 characters)"));
        Assert.That(LogText.Quote("ab\U0001F4E7", maxLength: 3), Is.EqualTo("\"ab\"…(+2 characters)"), "never half a character");
    }

    [TestCase(new byte[] { 0x63, 0x61, 0x66, 0xC3, 0xA9 }, "\"caf\u00E9\"")]                   // UTF-8 reads as text
    [TestCase(new byte[] { 0x63, 0x61, 0x66, 0xE9 }, "\"caf\\xe9\"")]                         // Latin-1: the byte as it is
    [TestCase(new byte[] { 0xC3, 0x28, 0x0D, 0x0A, 0x22, 0xFF }, "\"\\xc3(\\r\\n\\\"\\xff\"")]  // broken UTF-8, control characters, a quote
    [TestCase(new byte[] { 0xF0, 0x9F, 0x93, 0xA7 }, "\"\U0001F4E7\"")]                     // outside the BMP
    [TestCase(new byte[] { 0x61, 0xE2, 0x80, 0xA8, 0x62, 0xC2, 0x9B }, "\"a\\u2028b\\x9b\"")]               // UTF-8 for U+2028 and the C1 CSI
    public void Bytes_are_quoted_as_UTF8_where_they_are_and_as_xNN_where_not(byte[] bytes, string logged)
    {
        Assert.That(LogText.Quote(new RawText(bytes)), Is.EqualTo(logged));
    }

    [Test]
    public void Bytes_longer_than_the_bound_are_cut_and_say_how_many_more_there_were()
    {
        Assert.That(LogText.Quote(new RawText(new byte[250]), maxLength: 2), Is.EqualTo("\"\\x00\\x00\"…(+248 bytes)"));
    }

    [Test]
    public void No_text_is_said_to_be_none()
    {
        Assert.That(LogText.Quote(null), Is.EqualTo("(none)"));
    }
}
