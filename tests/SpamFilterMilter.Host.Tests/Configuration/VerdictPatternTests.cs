using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests.Configuration;

/// <summary>spamfilterX_verdict_M patterns: * any run, ? one character, case-insensitive, whole verdict.</summary>
public class VerdictPatternTests
{
    [TestCase("spam", "spam", true)]
    [TestCase("spam", "SPAM", true)]
    [TestCase("spam", "spammy", false)]
    [TestCase("*spam*", "this is spam, really", true)]
    [TestCase("*spam*", "ham", false)]
    [TestCase("True ; * / 5.0", "True ; 18.3 / 5.0", true)]
    [TestCase("True ; ?.? / 5.0", "True ; 18.3 / 5.0", false)]
    [TestCase("True ; ??.? / 5.0", "True ; 18.3 / 5.0", true)]
    [TestCase("*quarantine \"*", "require \"x\";\nquarantine \"held\";", true)]
    [TestCase("a*b*c", "aXbYbZc", true)]
    [TestCase("a*b*c", "aXbYbZ", false)]
    [TestCase("[spam].", "[SPAM].", true)]
    [TestCase("*", "", true)]
    public void A_verdict_matches_when_the_whole_of_it_fits_the_pattern(string pattern, string verdict, bool matches)
    {
        Assert.That(new VerdictPattern(pattern).IsMatch(verdict), Is.EqualTo(matches));
    }

    [Test]
    public void A_backslash_is_an_ordinary_character_in_a_verdict_pattern()
    {
        Assert.That(new VerdictPattern(@"a\*").IsMatch(@"a\anything"), Is.True);
    }

    [Test]
    public void A_pattern_is_1_to_1024_characters()
    {
        Assert.Throws<ArgumentException>(() => _ = new VerdictPattern(""));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new VerdictPattern(new string('*', 1025)));
    }
}
