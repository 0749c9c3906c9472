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
    }

    [Test]
    public void No_text_is_said_to_be_none()
    {
        Assert.That(LogText.Quote(null), Is.EqualTo("(none)"));
    }
}
