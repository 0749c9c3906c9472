using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>A macro as a person writes it for a tool: NAME=VALUE, read the same way by check and the reference host.</summary>
public class MacroArgumentTests
{
    [TestCase("i=4XyZ", "i", "4XyZ")]
    [TestCase("{daemon_name}=smtpd-in", "{daemon_name}", "smtpd-in")]
    [TestCase(" j =mx.example.com", "j", "mx.example.com")]
    [TestCase("_=", "_", "")]
    [TestCase("x=a=b", "x", "a=b")]
    public void A_name_before_the_first_equals_sign_and_the_value_after_it(string text, string name, string value) =>
        Assert.That(MacroArgument.Parse(text), Is.EqualTo((name, value)));

    [TestCase("novalue", "expected NAME=VALUE")]
    [TestCase("=value", "expected NAME=VALUE")]
    [TestCase("  =value", "expected NAME=VALUE")]
    [TestCase("j=mx\r\nRCPT TO:<x>", "a control character in the value of j")]
    [TestCase("j=a\0b", "a control character in the value of j")]
    public void A_macro_without_a_name_or_with_a_control_character_is_refused_with_the_reason(string text, string reason) =>
        Assert.That(() => MacroArgument.Parse(text), Throws.TypeOf<FormatException>().With.Message.EqualTo(reason));
}
