namespace SpamFilterMilter.Contract.Tests;

/// <summary>The dialect's quoting and header-value rules, which both the writer and the interpreter take from here.</summary>
public class ActionStringDialectTests
{
    [TestCase("plain", "\"plain\"")]
    [TestCase("", "\"\"")]
    [TestCase(null, "\"\"")]
    [TestCase("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [TestCase("C:\\path", "\"C:\\\\path\"")]
    [TestCase("\\\"", "\"\\\\\\\"\"")]
    [TestCase("two\r\nlines\tand a tab", "\"two\r\nlines\tand a tab\"")] // RFC 5228 2.4.2: line breaks stay in a quoted string
    [TestCase("ünïcødé", "\"ünïcødé\"")]
    public void Quote_escapes_only_backslash_and_double_quote(string? text, string quoted)
    {
        Assert.That(ActionStringDialect.Quote(text), Is.EqualTo(quoted));
    }

    [TestCase(" v", false)]        // the standard form: addheader puts this one space back
    [TestCase(" ", false)]
    [TestCase(" two words ", false)]
    [TestCase("", true)]
    [TestCase("v", true)]          // HDR_LEADSPC: no space after the colon
    [TestCase("\tv", true)]
    [TestCase("  v", true)]
    [TestCase(" \tv", true)]
    [TestCase("\r\n\tfolded", true)]
    public void Only_a_value_that_starts_with_exactly_one_space_then_no_blank_needs_no_raw_tag(string value, bool raw)
    {
        Assert.That(ActionStringDialect.NeedsRawValue(value), Is.EqualTo(raw));
    }

    [TestCase(new byte[] { 0x20, 0x76 }, false)]
    [TestCase(new byte[] { 0x20, 0x63, 0x61, 0x66, 0xC3, 0xA9 }, false)] // UTF-8 stays readable
    [TestCase(new byte[] { 0x20, 0x63, 0x61, 0x66, 0xE9 }, true)]        // Latin-1
    [TestCase(new byte[] { 0x20, 0xC3, 0x28 }, true)]                    // broken UTF-8
    public void Only_a_value_that_is_not_UTF8_needs_the_base64_tag(byte[] value, bool base64)
    {
        Assert.That(ActionStringDialect.NeedsBase64Value(new RawText(value)), Is.EqualTo(base64));
    }
}
