namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// COMMAND_TIMEOUT and CONTENT_TIMEOUT, Postfix's milter_command_timeout and milter_content_timeout: a milter that
/// never answers at a stage is given up after the timeout of that stage's kind, in both I/O modes, and the failure
/// says which timeout it was.
/// </summary>
[Category("Faults")]
[Category("Integration")] // each cell waits out a timeout on loopback
public class StageTimeoutTests : TempFolderTest
{
    private const int CommandHundredths = 20;
    private const int ContentHundredths = 50;

    private static readonly string[] ContentStages = ["header", "eoh", "body", "eom"];

    private static IEnumerable<TestCaseData> Cells() =>
        from io in new[] { "async", "blocking" }
        from stage in FaultMilter.Stages.Select(s => s.Stage)
        select new TestCaseData(stage, io).SetName($"{{m}}({stage},{io})");

    [TestCaseSource(nameof(Cells))]
    public async Task A_silent_milter_is_given_up_after_the_timeout_of_its_stage(string stage, string io)
    {
        await using var milter = new FaultMilter(stage, "never-answers");
        var options = $"HOST=127.0.0.1\nPORT={milter.Port}\nTIMEOUT=3000\nCOMMAND_TIMEOUT={CommandHundredths}\nCONTENT_TIMEOUT={ContentHundredths}\nIO_MODE={io}\n";
        FilterVerdict verdict;
        await using (var plugin = TestPlugins.Create(Folder, options))
        {
            verdict = await plugin.FilterMessageAsync(FaultMilter.Message());
        }

        var expected = ContentStages.Contains(stage) ? "timed out after 0.5 s (CONTENT_TIMEOUT)" : "timed out after 0.2 s (COMMAND_TIMEOUT)";
        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Cause, Does.EndWith(": can't read packet: " + expected));
    }
}
