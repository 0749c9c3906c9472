using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// The circuit breaker of one milter server, on a clock that moves only when the test says: closed until the threshold
/// of consecutive failures, open for the back-off, then one probe (half-open) that closes it or opens it again for
/// twice as long. No sleeps, no timed assertions.
/// </summary>
public class CircuitBreakerTests
{
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(100);

    private ManualClock _clock = null!;
    private List<(BreakerState From, BreakerState To, TimeSpan Backoff)> _changes = null!;

    [SetUp]
    public void NewClock()
    {
        _clock = new();
        _changes = [];
    }

    private CircuitBreaker Breaker(int threshold = 3) =>
        new(threshold, Backoff, MaxBackoff, _clock, (from, to, backoff) => _changes.Add((from, to, backoff)));

    [Test]
    public void It_opens_after_the_threshold_of_consecutive_failures_and_not_before()
    {
        var breaker = Breaker();

        breaker.Failed(probe: false);
        breaker.Failed(probe: false);
        Assert.That((breaker.State, breaker.ConsecutiveFailures), Is.EqualTo((BreakerState.Closed, 2)));

        breaker.Failed(probe: false);
        Assert.That(breaker.State, Is.EqualTo(BreakerState.Open));
        Assert.That(_changes, Is.EqualTo(new[] { (BreakerState.Closed, BreakerState.Open, Backoff) }));
    }

    [Test]
    public void A_success_between_failures_starts_the_count_again()
    {
        var breaker = Breaker();

        breaker.Failed(probe: false);
        breaker.Failed(probe: false);
        breaker.Succeeded(probe: false);
        breaker.Failed(probe: false);
        breaker.Failed(probe: false);

        Assert.That((breaker.State, breaker.ConsecutiveFailures), Is.EqualTo((BreakerState.Closed, 2)));
        Assert.That(_changes, Is.Empty);
    }

    [Test]
    public void While_open_no_probe_is_due_until_the_back_off_is_over()
    {
        var breaker = Breaker(threshold: 1);
        breaker.Failed(probe: false);

        _clock.Advance(Backoff - TimeSpan.FromTicks(1));
        Assert.That((breaker.TryStartProbe(), breaker.BackoffLeft), Is.EqualTo((false, TimeSpan.FromTicks(1))));

        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.That(breaker.TryStartProbe(), Is.True);
    }

    [Test]
    public void After_the_back_off_exactly_one_probe_goes_through_and_its_success_closes_the_breaker()
    {
        var breaker = Breaker(threshold: 1);
        breaker.Failed(probe: false);
        _clock.Advance(Backoff);

        Assert.That(breaker.TryStartProbe(), Is.True, "the first message after the back-off probes");
        Assert.That((breaker.State, breaker.TryStartProbe(), breaker.IsClosed), Is.EqualTo((BreakerState.HalfOpen, false, false)),
            "while the probe is under way no other message goes");

        breaker.Succeeded(probe: true);
        Assert.That(breaker.State, Is.EqualTo(BreakerState.Closed));
        Assert.That(_changes.Select(c => c.To), Is.EqualTo(new[] { BreakerState.Open, BreakerState.HalfOpen, BreakerState.Closed }));
    }

    [Test]
    public void A_failed_probe_opens_it_again_for_twice_the_back_off_up_to_the_maximum_and_a_success_resets_it()
    {
        var breaker = Breaker(threshold: 1);
        breaker.Failed(probe: false);
        var backoffs = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            _clock.Advance(breaker.BackoffLeft);
            Assert.That(breaker.TryStartProbe(), Is.True);
            breaker.Failed(probe: true);
            backoffs.Add(breaker.BackoffLeft);
        }

        Assert.That(backoffs, Is.EqualTo(new[] { TimeSpan.FromSeconds(60), MaxBackoff, MaxBackoff }));

        _clock.Advance(MaxBackoff);
        breaker.TryStartProbe();
        breaker.Succeeded(probe: true);
        breaker.Failed(probe: false);
        Assert.That(breaker.BackoffLeft, Is.EqualTo(Backoff), "back in service, the next opening starts from BREAKER_BACKOFF again");
    }

    [Test]
    public void Outcomes_of_messages_sent_before_it_opened_change_nothing_only_the_probes_does()
    {
        var breaker = Breaker(threshold: 1);
        breaker.Failed(probe: false);

        breaker.Succeeded(probe: false); // a message that was under way when it opened
        breaker.Failed(probe: false); // another one, failing late
        Assert.That((breaker.State, breaker.BackoffLeft), Is.EqualTo((BreakerState.Open, Backoff)), "neither closes it nor restarts its back-off");

        _clock.Advance(Backoff);
        Assert.That(breaker.TryStartProbe(), Is.True);
        breaker.Succeeded(probe: false);
        breaker.Failed(probe: false);
        Assert.That(breaker.State, Is.EqualTo(BreakerState.HalfOpen), "only the probe decides");
    }

    [Test]
    public void A_probe_that_tells_nothing_gives_its_turn_to_the_next_message()
    {
        var breaker = Breaker(threshold: 1);
        breaker.Failed(probe: false);
        _clock.Advance(Backoff);
        breaker.TryStartProbe();

        breaker.ProbeAbandoned();

        Assert.That((breaker.State, breaker.TryStartProbe()), Is.EqualTo((BreakerState.HalfOpen, true)));
    }

    [Test]
    public void A_threshold_of_0_never_opens_it()
    {
        var breaker = Breaker(threshold: 0);

        for (var i = 0; i < 100; i++)
        {
            breaker.Failed(probe: false);
        }

        Assert.That((breaker.State, breaker.IsClosed, _changes.Count), Is.EqualTo((BreakerState.Closed, true, 0)));
    }

    [Test]
    public void Concurrent_failures_open_it_once()
    {
        var breaker = Breaker(threshold: 3);

        Parallel.For(0, 1000, _ => breaker.Failed(probe: false));

        Assert.That(_changes, Has.Count.EqualTo(1));
        Assert.That(breaker.State, Is.EqualTo(BreakerState.Open));
    }
}
