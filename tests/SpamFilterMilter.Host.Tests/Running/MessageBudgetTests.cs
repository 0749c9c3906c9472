using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// SPAMFILTER_MESSAGE_BUDGET: the time all slots together may take over one message. Once it is used up, the slots
/// not yet run get their failure outcome (spamfilterX_optional decides) without being called, and the host says so
/// in one log line. Time here is a test clock each fake plug-in moves on: nothing waits.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class MessageBudgetTests : SlotHostTest
{
    private readonly TestClock _clock = new();

    /// <summary>Slots 1 to 3 (a, b, c), each taking the seconds given and tagging the subject with its name.</summary>
    private async Task<(HostResult Result, CapturedLogs Logs)> FilterAsync(string options, params double[] seconds)
    {
        var optionDat = options;
        for (var i = 0; i < seconds.Length; i++)
        {
            var name = ((char)('a' + i)).ToString();
            var taking = TimeSpan.FromSeconds(seconds[i]);
            Plugins.Add(name, _ =>
            {
                _clock.Advance(taking);
                return FakePlugins.Verdict($"addtag \"[{name}]\";");
            });
            optionDat += FakePlugins.Slot(i + 1, name);
        }

        var logs = new CapturedLogs();
        await using var host = Plugins.Host(Folder, optionDat, Everything, logs: logs);
        host.Clock = _clock;
        return (await host.FilterAsync(Message()), logs);
    }

    [Test]
    public async Task The_slots_left_once_the_budget_is_used_up_are_not_called_and_fail()
    {
        var (result, logs) = await FilterAsync("SPAMFILTER_MESSAGE_BUDGET=10\n", 7, 5, 1);

        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a", "b" }), "slot 2 ran over the budget; slot 3 is not called");
        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Reply), Is.EqualTo((Disposition.TempFail, SmtpReply.DefaultTempFail)), "spamfilter3_optional=0: the failure outcome");
        Assert.That(result.Runs[2].Failure, Is.EqualTo("fake c: not called: the message's time budget of 10 s (SPAMFILTER_MESSAGE_BUDGET) is used up"));
        Assert.That(result.Log, Does.Contain("slot 3 (fake c): not called for <bob@example.com>: the message's time budget of 10 s (SPAMFILTER_MESSAGE_BUDGET) is used up"));
        var warnings = logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning).ToList();
        Assert.That(warnings.Select(w => w.Message), Is.EqualTo(new[]
        {
            "the message's time budget of 10 s (SPAMFILTER_MESSAGE_BUDGET) is used up after 12.0 s: slot 3 and the slots after it get their failure outcome without being called",
        }), "one line for the message");
    }

    [Test]
    public async Task An_optional_slot_left_out_by_the_budget_lets_the_message_go_on_with_what_the_others_did()
    {
        var (result, _) = await FilterAsync("SPAMFILTER_MESSAGE_BUDGET=10\nspamfilter2_optional=1\nspamfilter3_optional=1\n", 11, 1, 1);

        Assert.That(Plugins.Calls.Select(c => c.Plugin), Is.EqualTo(new[] { "a" }));
        Assert.That((result.Deliveries.Single().Disposition, result.Deliveries.Single().Tags), Is.EqualTo((Disposition.Deliver, new[] { "[a]" })));
    }

    [TestCase("SPAMFILTER_MESSAGE_BUDGET=10\n", 3, TestName = "Within the budget every slot runs")]
    [TestCase("", 3000, TestName = "Without a budget every slot runs, however long they take")]
    public async Task Every_slot_runs(string options, double seconds)
    {
        var (result, _) = await FilterAsync(options, seconds, seconds, seconds);

        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[a]", "[b]", "[c]" }));
    }

    [TestCase("SPAMFILTER_MESSAGE_BUDGET=30\n", 30)]
    [TestCase("spamfilter_message_budget=1\n", 1)]
    [TestCase("", null)]
    public void The_budget_is_read_in_seconds(string line, int? seconds)
    {
        var options = SpamFilterHostOptions.Load(Folder.Write("option.dat", line + FakePlugins.Slot(1, "a")));

        Assert.That(options.MessageBudget, Is.EqualTo(seconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null));
    }

    [TestCase("SPAMFILTER_MESSAGE_BUDGET=0\n", "\"0\" is not a number of seconds (1 to 86400)")]
    [TestCase("SPAMFILTER_MESSAGE_BUDGET=2.5\n", "\"2.5\" is not a number of seconds (1 to 86400)")]
    [TestCase("spamfilter2_message_budget=10\n", "not a slot's option: SPAMFILTER_MESSAGE_BUDGET holds for all slots together, written without a slot number")]
    public void A_wrong_budget_is_an_error_naming_the_line(string line, string problem)
    {
        var e = Assert.Throws<SpamFilterConfigurationException>(() => SpamFilterHostOptions.Load(Folder.Write("option.dat", line)))!;

        Assert.That((e.Line, e.Problem), Is.EqualTo((1, problem)));
    }

    /// <summary>A clock that moves only when told.</summary>
    private sealed class TestClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
