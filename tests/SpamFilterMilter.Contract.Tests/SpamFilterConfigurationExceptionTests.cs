namespace SpamFilterMilter.Contract.Tests;

/// <summary>A configuration problem as an administrator reads it: each bad line once, all of them where the exception is shown whole.</summary>
public class SpamFilterConfigurationExceptionTests
{
    private static readonly SpamFilterConfigurationException[] Problems =
    [
        new("/etc/milter.opt", 2, "PORT", "\"x\" is not a whole number"),
        new("/etc/milter.opt", 3, "TIMOUT", "unknown option (did you mean TIMEOUT?)"),
        new("/etc/milter.opt", 0, "HOST", "required option is missing"),
    ];

    [Test]
    public void The_combined_problem_keeps_the_first_lines_message_and_carries_the_others()
    {
        var combined = SpamFilterConfigurationException.Combine(Problems);

        Assert.That(combined.Message, Is.EqualTo("/etc/milter.opt:2: option PORT: \"x\" is not a whole number"));
        Assert.That(combined.AllProblems.Select(p => p.Message), Is.EqualTo(Problems.Select(p => p.Message)), "a report over AllProblems prints each once");
    }

    [Test]
    public void Shown_whole_an_unhandled_or_logged_problem_names_every_bad_line_as_an_AggregateException_names_its_inner_ones()
    {
        var shown = SpamFilterConfigurationException.Combine(Problems).ToString();

        Assert.That(shown, Does.StartWith("SpamFilterMilter.Contract.SpamFilterConfigurationException: /etc/milter.opt:2: option PORT: "));
        Assert.That(shown, Does.EndWith(string.Join(Environment.NewLine,
            "and 2 more problem(s) in the same reading:",
            "   /etc/milter.opt:3: option TIMOUT: unknown option (did you mean TIMEOUT?)",
            "   /etc/milter.opt: option HOST: required option is missing")));
    }

    [Test]
    public void A_single_problem_is_shown_as_any_exception_is() =>
        Assert.That(Problems[0].ToString(), Is.EqualTo("SpamFilterMilter.Contract.SpamFilterConfigurationException: /etc/milter.opt:2: option PORT: \"x\" is not a whole number"));
}
