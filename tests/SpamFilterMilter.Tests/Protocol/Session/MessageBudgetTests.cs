using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// <see cref="MessageBudget"/> on its own: each wait is bounded by TIMEOUT or by what is left of MESSAGE_TIMEOUT,
/// whichever is less, and only the milter's waits are charged. The waits here are a few milliseconds of real time.
/// </summary>
public class MessageBudgetTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    [Test]
    public void Without_a_budget_running_each_wait_is_bounded_by_TIMEOUT()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(10));

        Assert.That((budget.BeginWait(), budget.BindsCurrentWait), Is.EqualTo((Timeout, false)));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("timed out after 1 s"));
    }

    [Test]
    public void A_budget_larger_than_TIMEOUT_leaves_TIMEOUT_as_the_bound()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMinutes(5));
        budget.Start();

        Assert.That((budget.BeginWait(), budget.BindsCurrentWait), Is.EqualTo((Timeout, false)));
    }

    [Test]
    public void A_budget_smaller_than_TIMEOUT_bounds_the_wait_and_says_so()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(250));
        budget.Start();

        Assert.That((budget.BeginWait(), budget.BindsCurrentWait), Is.EqualTo((TimeSpan.FromMilliseconds(250), true)));
        Assert.That(budget.DescribeTimeout(), Is.EqualTo("the milter used up the 0.25 s it may take over one message (MESSAGE_TIMEOUT)"));
    }

    [Test]
    public void Each_wait_is_charged_and_the_next_is_bounded_by_what_is_left()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(500));
        budget.Start();
        var first = budget.BeginWait();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        Thread.Sleep(20);
        waited.Stop();
        budget.EndWait();

        var second = budget.BeginWait();

        Assert.That(second, Is.LessThanOrEqualTo(first - waited.Elapsed));
        Assert.That(budget.BindsCurrentWait, Is.True);
    }

    [Test]
    public void Time_between_waits_is_not_charged()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(500));
        budget.Start();
        budget.BeginWait();
        budget.EndWait();
        var afterFirst = budget.BeginWait();
        budget.EndWait();

        Thread.Sleep(30); // the host's own time between stages
        var afterPause = budget.BeginWait();

        Assert.That(afterFirst - afterPause, Is.LessThan(TimeSpan.FromMilliseconds(30)), "only the (instant) wait itself was charged");
    }

    [Test]
    public void A_used_up_budget_leaves_nothing_for_the_next_wait()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(5));
        budget.Start();
        budget.BeginWait();
        Thread.Sleep(15);
        budget.EndWait();

        Assert.That((budget.BeginWait() <= TimeSpan.Zero, budget.BindsCurrentWait), Is.EqualTo((true, true)));
    }

    [Test]
    public void Stop_ends_the_budget_and_Start_gives_a_full_one_again()
    {
        var budget = new MessageBudget(Timeout, TimeSpan.FromMilliseconds(5));
        budget.Start();
        budget.BeginWait();
        Thread.Sleep(15);
        budget.EndWait();

        budget.Stop();
        var stopped = (budget.BeginWait(), budget.BindsCurrentWait);
        budget.EndWait();
        budget.Start();

        Assert.That(stopped, Is.EqualTo((Timeout, false)), "outside a message or event TIMEOUT alone bounds a wait");
        Assert.That(budget.BeginWait(), Is.EqualTo(TimeSpan.FromMilliseconds(5)));
    }
}
