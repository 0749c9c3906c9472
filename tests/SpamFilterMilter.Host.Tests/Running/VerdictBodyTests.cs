using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// The host gives the verdict's replacement body to the action (<c>replacebody :verdict</c>), and, owning the verdict,
/// disposes its bodies once the slot has run, whatever the action did.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class VerdictBodyTests : SlotHostTest
{
    private static readonly byte[] NewBody = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("replaced\r\n", 20_000)));

    private MessageBody BodyInFile()
    {
        using var builder = new MessageBodyBuilder(memoryLimit: 0, Folder.Path);
        builder.Write(NewBody);
        return builder.Build();
    }

    private static FilterVerdict Verdict(MessageBody body) => new()
    {
        Kind = VerdictKind.String,
        Text = "require \"vnd.spamfiltermilter\";\nreplacebody :verdict;",
        Edits = [new ReplaceBody(body)],
        DecidedAt = FilterStage.EndOfMessage,
    };

    [Test]
    public async Task The_action_string_s_replacebody_verdict_delivers_the_verdict_s_body_and_the_body_is_disposed()
    {
        var body = BodyInFile();
        Plugins.Add("a", Verdict(body));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        var delivery = result.Deliveries.Single();
        Assert.That(delivery.Disposition, Is.EqualTo(Disposition.Deliver));
        Assert.That(Body(delivery), Is.EqualTo(Text[..(Text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)] + Encoding.ASCII.GetString(NewBody)));
        Assert.Throws<ObjectDisposedException>(() => body.OpenRead(), "the host owns the verdict: its body's file is gone once the slot ran");
    }

    [Test]
    public async Task A_verdict_whose_action_fails_has_its_body_disposed_too()
    {
        var body = BodyInFile();
        Plugins.Add("a", Verdict(body) with { Text = "require \"vnd.spamfiltermilter\";\nreplacebody :verdict; bogus;" });

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail), "spamfilter1_optional=0");
        Assert.Throws<ObjectDisposedException>(() => body.OpenRead());
    }

    [Test]
    public async Task replacebody_verdict_without_a_body_in_the_verdict_is_an_action_failure()
    {
        Plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\";\nreplacebody :verdict;"));

        var result = await FilterAsync(FakePlugins.Slot(1, "a"));

        Assert.That(result.Deliveries.Single().Disposition, Is.EqualTo(Disposition.TempFail));
        Assert.That(result.Runs.Single().Failure, Does.EndWith("replacebody :verdict needs a verdict that replaces the body; there is none"));
    }
}
