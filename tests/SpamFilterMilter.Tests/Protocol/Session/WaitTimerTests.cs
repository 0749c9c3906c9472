using Microsoft.Extensions.Time.Testing;
using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// A connection's waits share one token, cancelled only when the wait under way outlives its bound: never for a wait
/// that ended, whatever its bound was, and never early or late for a wait whose bound differs from the last one's.
/// </summary>
public class WaitTimerTests
{
    private readonly FakeTimeProvider _clock = new();

    [Test]
    public void A_wait_that_outlives_its_bound_cancels_the_token_when_the_bound_passes_and_not_before()
    {
        using var timer = new WaitTimer(_clock);
        var token = timer.Start(TimeSpan.FromSeconds(10));

        AssertCancelledAfter(TimeSpan.FromSeconds(10), token);
    }

    [Test]
    public void A_wait_that_ended_is_never_cancelled_for_its_bound()
    {
        using var timer = new WaitTimer(_clock);
        var token = timer.Start(TimeSpan.FromSeconds(1));
        timer.Stop();

        _clock.Advance(TimeSpan.FromMinutes(5));

        Assert.That(token.IsCancellationRequested, Is.False);
    }

    [Test]
    public void A_later_wait_with_a_longer_bound_gets_its_whole_bound_though_the_timer_was_set_for_the_first()
    {
        using var timer = new WaitTimer(_clock);
        timer.Start(TimeSpan.FromSeconds(1));
        timer.Stop();
        _clock.Advance(TimeSpan.FromMilliseconds(500));
        var token = timer.Start(TimeSpan.FromSeconds(10));

        AssertCancelledAfter(TimeSpan.FromSeconds(10), token); // the first wait's bound passes on the way: the timer fires and sleeps again
    }

    [Test]
    public void A_later_wait_with_a_shorter_bound_moves_the_timer_earlier()
    {
        using var timer = new WaitTimer(_clock);
        timer.Start(TimeSpan.FromMinutes(10));
        timer.Stop();
        var token = timer.Start(TimeSpan.FromMilliseconds(300));

        _clock.Advance(TimeSpan.FromMilliseconds(300));

        Assert.That(token.IsCancellationRequested, Is.True);
    }

    [Test]
    public void Many_waits_within_their_bounds_leave_the_token_as_it_was_and_a_bound_of_zero_expires_at_once()
    {
        using var timer = new WaitTimer(_clock);
        var first = timer.Start(TimeSpan.FromSeconds(2));
        timer.Stop();
        for (var i = 0; i < 1_000; i++)
        {
            var token = timer.Start(TimeSpan.FromSeconds(2));
            _clock.Advance(TimeSpan.FromMilliseconds(50));
            timer.Stop();
            Assert.That(token, Is.EqualTo(first), "one token for the life of the connection");
        }

        Assert.That(first.IsCancellationRequested, Is.False, "50 s of waits of 50 ms each, every one within its 2 s");
        var expired = timer.Start(TimeSpan.Zero);
        _clock.Advance(TimeSpan.Zero);
        Assert.That(expired.IsCancellationRequested, Is.True, "a wait with no time left (a spent message budget)");
    }

    [Test]
    public void A_cancellation_by_the_host_cancels_the_wait_under_way_and_the_next_wait_gets_a_new_token()
    {
        using var timer = new WaitTimer(_clock);
        var token = timer.Start(TimeSpan.FromSeconds(10));

        timer.Cancel();
        timer.Stop();
        var next = timer.Start(TimeSpan.FromSeconds(10));

        Assert.That(token.IsCancellationRequested, Is.True);
        Assert.That(next.IsCancellationRequested, Is.False, "a broken connection waits no more, but a new wait is not born cancelled");
    }

    [Test]
    public void The_next_token_is_unbounded_until_a_wait_starts_with_it_and_then_bounded_by_that_wait()
    {
        using var timer = new WaitTimer(_clock);
        var token = timer.NextToken();

        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.That(token.IsCancellationRequested, Is.False, "no wait started: nothing bounds the token");

        Assert.That(timer.Start(TimeSpan.FromSeconds(10)), Is.EqualTo(token), "the wait that starts gets the same token");
        AssertCancelledAfter(TimeSpan.FromSeconds(10), token);
    }

    [Test]
    public void The_next_token_after_a_cancellation_is_a_new_one()
    {
        using var timer = new WaitTimer(_clock);
        var cancelled = timer.Start(TimeSpan.FromSeconds(10));
        timer.Cancel();
        timer.Stop();

        var next = timer.NextToken();

        Assert.That(next.IsCancellationRequested, Is.False);
        Assert.That(timer.Start(TimeSpan.FromSeconds(10)), Is.EqualTo(next), "and the wait that starts next gets it");
        Assert.That(cancelled.IsCancellationRequested, Is.True);
    }

    /// <summary>Moves the clock to a millisecond before <paramref name="bound"/> from now, then to it: cancelled then and not before.</summary>
    private void AssertCancelledAfter(TimeSpan bound, CancellationToken token)
    {
        _clock.Advance(bound - TimeSpan.FromMilliseconds(1));
        Assert.That(token.IsCancellationRequested, Is.False, "a millisecond before the bound");

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(token.IsCancellationRequested, Is.True, "at the bound");
    }
}
