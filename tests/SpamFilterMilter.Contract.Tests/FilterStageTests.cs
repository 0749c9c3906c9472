namespace SpamFilterMilter.Contract.Tests;

/// <summary>The short stage names logs, metrics and tools write (<see cref="FilterStageNames"/>).</summary>
public class FilterStageTests
{
    [TestCase(FilterStage.Connect, "connect")]
    [TestCase(FilterStage.Helo, "helo")]
    [TestCase(FilterStage.Mail, "mail")]
    [TestCase(FilterStage.Rcpt, "rcpt")]
    [TestCase(FilterStage.Data, "data")]
    [TestCase(FilterStage.Header, "header")]
    [TestCase(FilterStage.EndOfHeaders, "eoh")]
    [TestCase(FilterStage.Body, "body")]
    [TestCase(FilterStage.EndOfMessage, "eom")]
    [TestCase(FilterStage.Unknown, "unknown")]
    [TestCase(FilterStage.Close, "close")]
    public void Each_stage_has_its_short_name_and_is_read_back_from_it(FilterStage stage, string name)
    {
        Assert.That(stage.ToName(), Is.EqualTo(name));
        Assert.That(FilterStageNames.TryParse(name, out var parsed), Is.True);
        Assert.That(parsed, Is.EqualTo(stage));
        Assert.That(FilterStageNames.TryParse(name.ToUpperInvariant(), out var upper) && upper == stage, Is.True, "case-insensitive");
    }

    [Test]
    public void Every_stage_round_trips_through_its_name_and_no_two_share_one()
    {
        var stages = Enum.GetValues<FilterStage>();

        Assert.That(stages.Select(s => s.ToName()), Is.Unique);
        Assert.That(stages.Select(s => FilterStageNames.TryParse(s.ToName(), out var parsed) ? parsed : (FilterStage?)null), Is.EqualTo(stages.Cast<FilterStage?>()));
    }

    [TestCase("")]
    [TestCase("EndOfMessage")]
    [TestCase("SMFIC_MAIL reply")]
    [TestCase(" mail")]
    public void A_name_that_is_no_stage_is_not_read(string name)
    {
        Assert.That(FilterStageNames.TryParse(name, out _), Is.False);
    }

    [Test]
    public void A_value_outside_the_enum_is_named_by_its_number()
    {
        Assert.That(((FilterStage)42).ToName(), Is.EqualTo("42"));
    }
}
