using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// Which server of a slot a session gets (least outstanding, ties in turn, a due probe first, none out of service),
/// and what a server's change of state leaves in logs and metrics: once per change, not per message. No I/O, on a
/// clock that moves only when the test says.
/// </summary>
public class EndpointSetTests
{
    private ManualClock _clock = null!;
    private CapturedLogs _logs = null!;

    [SetUp]
    public void NewClock()
    {
        _clock = new();
        _logs = new();
    }

    [TearDown]
    public void DisposeLogs() => _logs.Dispose();

    private EndpointSet Set(string host, string extra = "", IMeterFactory? meters = null)
    {
        var options = MilterOptions.FromConfiguration(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["HOST"] = host,
                ["PORT"] = "8890",
                ["BREAKER_BACKOFF"] = "1000",
            }.Concat(extra.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=')).Select(p => KeyValuePair.Create(p[0], (string?)p[1])))).Build());
        return new EndpointSet(options, _logs.CreateLogger(Log.Category), MilterMetrics.For(meters), _clock);
    }

    private static void FailUntilOpen(EndpointSet set, string name)
    {
        var endpoint = set.All.Single(e => e.Name == name);
        while (endpoint.Breaker.IsClosed)
        {
            new EndpointLease(endpoint, probe: false).Failed("timed out");
        }
    }

    [Test]
    public void Sessions_go_to_the_server_with_the_fewest_under_way_ties_in_turn()
    {
        var set = Set("a,b,c");

        var first = set.Acquire()!;
        var second = set.Acquire()!;
        var third = set.Acquire()!;
        Assert.That(new[] { first, second, third }.Select(l => l.Endpoint.Name), Is.EquivalentTo(new[] { "a:8890", "b:8890", "c:8890" }), "one each");

        second.Release();
        Assert.That(set.Acquire()!.Endpoint, Is.SameAs(second.Endpoint), "the one with none under way");

        // With every server idle each time, the count cannot choose: the turn does.
        var idle = Set("a,b,c");
        var order = Enumerable.Range(0, 6).Select(_ =>
        {
            var lease = idle.Acquire()!;
            lease.Release();
            return lease.Endpoint.Name;
        });
        Assert.That(order, Is.EqualTo(new[] { "a:8890", "b:8890", "c:8890", "a:8890", "b:8890", "c:8890" }), "ties in turn");
    }

    [Test]
    public void A_server_that_holds_its_sessions_stops_getting_new_ones_before_its_breaker_opens()
    {
        var set = Set("wedged,fast");
        var stuck = new List<EndpointLease>();

        for (var i = 0; i < 20; i++)
        {
            var lease = set.Acquire()!;
            if (lease.Endpoint.Name == "wedged:8890")
            {
                stuck.Add(lease); // never answers
            }
            else
            {
                lease.Succeeded();
                lease.Release(); // answers at once
            }
        }

        Assert.That(stuck, Has.Count.EqualTo(1), "the wedged server holds one session; every other goes to the fast one");
    }

    [Test]
    public void A_server_out_of_service_gets_no_session_and_with_every_one_out_there_is_none()
    {
        var set = Set("a,b");
        FailUntilOpen(set, "a:8890");

        Assert.That(Enumerable.Range(0, 5).Select(_ => set.Acquire()!).Select(l => l.Endpoint.Name).Distinct(), Is.EqualTo(new[] { "b:8890" }));

        FailUntilOpen(set, "b:8890");
        Assert.That(set.Acquire(), Is.Null);
        Assert.That(set.Unavailable(), Is.EqualTo("a:8890 out of service for 10 s more; b:8890 out of service for 10 s more"));
    }

    [Test]
    public void After_the_back_off_the_next_session_probes_the_server_and_no_other_goes_there_meanwhile()
    {
        var set = Set("a,b");
        FailUntilOpen(set, "a:8890");
        _clock.Advance(TimeSpan.FromSeconds(10));

        var probe = set.Acquire()!;
        var others = Enumerable.Range(0, 5).Select(_ => set.Acquire()!.Endpoint.Name).Distinct();

        Assert.That(probe.Endpoint.Name, Is.EqualTo("a:8890"));
        Assert.That(others, Is.EqualTo(new[] { "b:8890" }));
        probe.Succeeded();
        Assert.That(probe.Endpoint.Breaker.State, Is.EqualTo(BreakerState.Closed));
    }

    [Test]
    public void A_server_already_tried_by_the_session_is_not_given_again()
    {
        var set = Set("a,b");
        var first = set.Acquire()!;

        var second = set.Acquire([first.Endpoint]);

        Assert.That(second!.Endpoint, Is.Not.SameAs(first.Endpoint));
        Assert.That(set.Acquire([first.Endpoint, second.Endpoint]), Is.Null);
    }

    [Test]
    public void One_server_has_no_breaker_unless_asked_every_session_gets_it_as_before()
    {
        var set = Set("only");
        var endpoint = set.All.Single();
        for (var i = 0; i < 50; i++)
        {
            new EndpointLease(endpoint, probe: false).Failed("refused");
        }

        Assert.That(set.Acquire()?.Endpoint, Is.SameAs(endpoint));
        Assert.That((endpoint.Threshold, endpoint.Breaker.State, endpoint.Breaker.ConsecutiveFailures), Is.EqualTo((0, BreakerState.Closed, 0)),
            "no breaker: failures are not even counted");
        Assert.That(Set("only", "BREAKER_THRESHOLD=2").All.Single().Threshold, Is.EqualTo(2));
    }

    [Test]
    public void A_change_of_state_is_logged_once_and_counted_by_state_with_the_servers_address_and_port()
    {
        using var meters = new TestMeterFactory();
        var counts = new Dictionary<(string Address, object? Port, string State), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == meters && instrument.Name == "spamfilter.milter.client.endpoint.count")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var t = tags.ToArray().ToDictionary(p => p.Key, p => p.Value);
            var key = ((string)t["server.address"]!, t["server.port"], (string)t["spamfilter.milter.endpoint.state"]!);
            counts[key] = counts.GetValueOrDefault(key) + value;
        });
        listener.Start();
        var set = Set("a,b:8891", meters: meters);

        FailUntilOpen(set, "b:8891");
        for (var i = 0; i < 10; i++)
        {
            var lease = set.Acquire()!; // a, many times: one line for b all the same
            lease.Succeeded();
            lease.Release();
        }

        _clock.Advance(TimeSpan.FromSeconds(10));
        var probe = set.Acquire()!;
        probe.Succeeded();
        FailUntilOpen(set, "a:8890");

        Assert.That(counts.Where(c => c.Value != 0).ToDictionary(), Is.EquivalentTo(new Dictionary<(string, object?, string), long>
        {
            [("a", 8890, "open")] = 1,
            [("b", 8891, "closed")] = 1,
        }));
        Assert.That(_logs.Entries.Where(e => e.EventId.Id is >= 1004 and <= 1006).Select(e => (e.EventId.Id, e.Message)), Is.EqualTo(new[]
        {
            (1004, "milter b:8891: out of service for 10 s after 3 consecutive failures: timed out"),
            (1005, "milter b:8891: back-off over; the next message probes it"),
            (1006, "milter b:8891: back in service"),
            (1004, "milter a:8890: out of service for 10 s after 3 consecutive failures: timed out"),
        }));
    }
}
