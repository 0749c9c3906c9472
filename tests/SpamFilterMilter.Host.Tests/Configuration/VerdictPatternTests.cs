using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests.Configuration;

/// <summary>
/// spamfilterX_verdict_M patterns, with Messaging Server's mapping wildcards: * any run, % one character,
/// $ quotes the next character; ? is an ordinary character; case-insensitive; the whole verdict.
/// </summary>
public class VerdictPatternTests
{
    [TestCase("spam", "spam", true)]
    [TestCase("spam", "SPAM", true)]
    [TestCase("spam", "spammy", false)]
    [TestCase("*spam*", "this is spam, really", true)]
    [TestCase("*spam*", "ham", false)]
    [TestCase("True ; * / 5.0", "True ; 18.3 / 5.0", true)]
    [TestCase("True ; %.% / 5.0", "True ; 18.3 / 5.0", false)]
    [TestCase("True ; %%.% / 5.0", "True ; 18.3 / 5.0", true)]
    [TestCase("*quarantine \"*", "require \"x\";\nquarantine \"held\";", true)]
    [TestCase("a*b*c", "aXbYbZc", true)]
    [TestCase("a*b*c", "aXbYbZ", false)]
    [TestCase("a*b%c", "abXbYc", true)]
    [TestCase("[spam].", "[SPAM].", true)]
    [TestCase("*", "", true)]
    [TestCase("**", "x", true)]
    [TestCase("%", "", false)]
    public void A_verdict_matches_when_the_whole_of_it_fits_the_pattern(string pattern, string verdict, bool matches)
    {
        Assert.That(new VerdictPattern(pattern).IsMatch(verdict), Is.EqualTo(matches));
    }

    [TestCase("spam?", "spam?", true)]
    [TestCase("spam?", "spam!", false)]
    [TestCase("???", "abc", false)]
    public void A_question_mark_is_an_ordinary_character(string pattern, string verdict, bool matches)
    {
        Assert.That(new VerdictPattern(pattern).IsMatch(verdict), Is.EqualTo(matches));
    }

    [TestCase("score $* high", "score * high", true)]
    [TestCase("score $* high", "score 9 high", false)]
    [TestCase("100$%", "100%", true)]
    [TestCase("100$%", "1000", false)]
    [TestCase("US$$*", "US$5", true)]
    [TestCase("US$$*", "US5", false)]
    [TestCase("$a$B", "ab", true)]
    public void A_dollar_makes_the_next_character_literal(string pattern, string verdict, bool matches)
    {
        Assert.That(new VerdictPattern(pattern).IsMatch(verdict), Is.EqualTo(matches));
    }

    [Test]
    public void A_backslash_is_an_ordinary_character_in_a_verdict_pattern()
    {
        Assert.That(new VerdictPattern(@"a\*").IsMatch(@"a\anything"), Is.True);
    }

    [Test]
    public void A_pattern_is_1_to_1024_characters_and_cannot_end_in_a_lone_dollar()
    {
        Assert.Throws<ArgumentException>(() => _ = new VerdictPattern(""));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new VerdictPattern(new string('*', 1025)));
        Assert.Throws<ArgumentException>(() => _ = new VerdictPattern("price$"));
        Assert.That(new VerdictPattern("price$$").IsMatch("PRICE$"), Is.True);
    }

    [Test]
    public void A_pattern_built_to_backtrack_matches_a_long_verdict_without_exponential_work()
    {
        // Many stars before a character the verdict never has: a backtracking matcher tries every way of
        // splitting the verdict between the stars (exponential); this one cuts at the stars once.
        var pattern = new VerdictPattern(string.Concat(Enumerable.Repeat("*a", 500)) + "*c*b");
        var verdict = new string('a', 100_000);

        Assert.That(pattern.IsMatch(verdict + "b"), Is.False);
        Assert.That(pattern.IsMatch(verdict + "cb"), Is.True);
    }
}
