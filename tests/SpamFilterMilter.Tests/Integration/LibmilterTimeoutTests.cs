namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// A slow real libmilter milter (tests/milters/sfm-testmilter.c, <c>sleep:MS</c>) against the stage timeouts and
/// FAILURE_ACTION=shutdown, through the plug-in loaded by path, stage by stage as an SMTP server drives it: content
/// may take as long as CONTENT_TIMEOUT while a command gets only COMMAND_TIMEOUT, and a command that takes longer
/// is answered 421 and closes the SMTP session, as Postfix's milter_default_action = shutdown does.
/// </summary>
[Category("Integration")]
public class LibmilterTimeoutTests
{
    // 0.2 s for a command, 3 s for the content; the milter sleeps 0.6 s where the case says.
    private const string Timeouts = "COMMAND_TIMEOUT=20\nCONTENT_TIMEOUT=300\nFAILURE_ACTION=shutdown\n";

    [TestCase("header", "async")]
    [TestCase("eom", "async")]
    [TestCase("header", "blocking")]
    [TestCase("eom", "blocking")]
    public async Task Content_may_take_longer_than_a_command(string stage, string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", $"{stage}=sleep:600", "-a", "eom=addheader:X-Slow:yes");
        using var folder = new TempFolder();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(folder, Timeouts + $"IO_MODE={io}\n", timeout: 20));

        var (decisions, verdict) = await PlayAsync(plugin);

        Assert.That(decisions.Where(d => d.Failure is not null), Is.Empty);
        Assert.That((verdict.Failure, verdict.Edits), Is.EqualTo(((FilterFailure?)null, new MessageEdit[] { new AddHeader("X-Slow", " yes") })));
    }

    [TestCase("mail", "async")]
    [TestCase("rcpt", "async")]
    [TestCase("mail", "blocking")]
    [TestCase("rcpt", "blocking")]
    public async Task A_command_that_takes_longer_than_COMMAND_TIMEOUT_is_answered_421_and_closes_the_session(string stage, string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", $"{stage}=sleep:600");
        using var folder = new TempFolder();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(folder, Timeouts + $"IO_MODE={io}\n", timeout: 20));

        var (decisions, verdict) = await PlayAsync(plugin);

        var failed = decisions.Single(d => d.Stage.ToName() == stage);
        Assert.That(failed.Failure!.Cause, Does.EndWith("can't read packet: timed out after 0.2 s (COMMAND_TIMEOUT)"));
        Assert.That((failed.Action, failed.Reply?.ToString(), failed.ClosesSession), Is.EqualTo((FilterAction.TempFail, "421 4.7.1 Service unavailable - try again later", true)));
        Assert.That((verdict.Kind, verdict.Reply?.Code), Is.EqualTo((VerdictKind.Failure, 421)));
    }

    private static async Task<(List<StageDecision> Decisions, FilterVerdict Verdict)> PlayAsync(ISpamFilterPlugin plugin)
    {
        await using var session = plugin.OpenSession();
        var decisions = new List<StageDecision>
        {
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net")),
            await session.HeloAsync("client.example.net"),
            await session.MailAsync("alice@example.org"),
            await session.RcptAsync("bob@example.com"),
            await session.DataAsync(),
            await session.HeaderAsync("Subject", " slow"),
            await session.EndOfHeadersAsync(),
            await session.BodyAsync(Encoding.ASCII.GetBytes("hello\r\n")),
        };
        var verdict = await session.EndOfMessageAsync();
        await session.CloseAsync();
        return (decisions, verdict);
    }
}
