using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// <see cref="MessageBudget"/> on its own: each wait is bounded by its timeout (COMMAND_TIMEOUT or CONTENT_TIMEOUT) or by what is left of MESSAGE_TIMEOUT,
/// whichever is less, and only the milter's waits are charged. The waits here are a few milliseconds of real time.
/// </summary>
public class MessageBudgetTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ContentTimeout = TimeSpan.FromSeconds(2);

    [Test]
    public void Without_a_budget_running_each_wait_is_bounded_by_TIMEOUT()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(10));

        Assert.That((budget.BeginWait(content: false), budget.BindsCurrentWait), Is.EqualTo((Timeout, false)));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("timed out after 1 s (COMMAND_TIMEOUT)"));
    }

    [Test]
    public void A_wait_for_the_content_is_bounded_by_CONTENT_TIMEOUT_and_a_command_by_COMMAND_TIMEOUT()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMinutes(5));
        budget.Start();

        Assert.That((budget.BeginWait(content: true), budget.BindsCurrentWait), Is.EqualTo((ContentTimeout, false)));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("timed out after 2 s (CONTENT_TIMEOUT)"));
        budget.EndWait();
        Assert.That(budget.BeginWait(content: false), Is.EqualTo(Timeout));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("timed out after 1 s (COMMAND_TIMEOUT)"));
    }

    [Test]
    public void A_budget_larger_than_TIMEOUT_leaves_TIMEOUT_as_the_bound()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMinutes(5));
        budget.Start();

        Assert.That((budget.BeginWait(content: false), budget.BindsCurrentWait), Is.EqualTo((Timeout, false)));
    }

    [Test]
    public void A_budget_smaller_than_TIMEOUT_bounds_the_wait_and_says_so()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(250));
        budget.Start();

        Assert.That((budget.BeginWait(content: false), budget.BindsCurrentWait), Is.EqualTo((TimeSpan.FromMilliseconds(250), true)));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("the milter used up the 0.25 s it may take over one message (MESSAGE_TIMEOUT)"));
    }

    [Test]
    public void Each_wait_is_charged_and_the_next_is_bounded_by_what_is_left()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(500));
        budget.Start();
        var first = budget.BeginWait(content: false);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        Thread.Sleep(20);
        waited.Stop();
        budget.EndWait();

        var second = budget.BeginWait(content: false);

        Assert.That(second, Is.LessThanOrEqualTo(first - waited.Elapsed));
        Assert.That(budget.BindsCurrentWait, Is.True);
    }

    [Test]
    public void Time_between_waits_is_not_charged()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(500));
        budget.Start();
        budget.BeginWait(content: false);
        budget.EndWait();
        var afterFirst = budget.BeginWait(content: false);
        budget.EndWait();

        Thread.Sleep(30); // the host's own time between stages
        var afterPause = budget.BeginWait(content: false);

        Assert.That(afterFirst - afterPause, Is.LessThan(TimeSpan.FromMilliseconds(30)), "only the (instant) wait itself was charged");
    }

    [Test]
    public void A_used_up_budget_leaves_nothing_for_the_next_wait()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(5));
        budget.Start();
        budget.BeginWait(content: false);
        Thread.Sleep(15);
        budget.EndWait();

        Assert.That((budget.BeginWait(content: false) <= TimeSpan.Zero, budget.BindsCurrentWait), Is.EqualTo((true, true)));
    }

    [Test]
    public void Stop_ends_the_budget_and_Start_gives_a_full_one_again()
    {
        var budget = new MessageBudget(Timeout, ContentTimeout, TimeSpan.FromMilliseconds(5));
        budget.Start();
        budget.BeginWait(content: false);
        Thread.Sleep(15);
        budget.EndWait();

        budget.Stop();
        var stopped = (budget.BeginWait(content: false), budget.BindsCurrentWait);
        budget.EndWait();
        budget.Start();

        Assert.That(stopped, Is.EqualTo((Timeout, false)), "outside a message or event TIMEOUT alone bounds a wait");
        Assert.That(budget.BeginWait(content: false), Is.EqualTo(TimeSpan.FromMilliseconds(5)));
    }
}
