using System.Net;
using System.Net.Sockets;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>The client's names as Postfix's smtpd finds them: a PTR name confirmed by a forward lookup, or unknown.</summary>
public class ClientNameLookupTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private static ClientNameLookup.Resolver Answers(string name, params string[] forward) =>
        (_, _) => Task.FromResult(new IPHostEntry { HostName = name, AddressList = [.. forward.Select(IPAddress.Parse)] });

    private static Task<ClientInfo> LookUpAsync(ClientNameLookup.Resolver resolver, TimeSpan? timeout = null) =>
        ClientNameLookup.LookUpAsync(ClientInfo.Tcp(Client, 40000), resolver, timeout ?? Patience, CancellationToken.None);

    private static Task<ClientInfo> LookUpAsync(IPAddress address, ClientNameLookup.Resolver resolver, TimeSpan? timeout = null) =>
        ClientNameLookup.LookUpAsync(ClientInfo.Tcp(address, 40000), resolver, timeout ?? Patience, CancellationToken.None);

    [Test]
    public async Task A_PTR_name_whose_forward_lookup_gives_the_address_back_is_the_clients_name()
    {
        var client = await LookUpAsync(Answers("mail.example.net.", "198.51.100.1", "192.0.2.10"));

        Assert.That((client.HostName, client.PtrName), Is.EqualTo(("mail.example.net", (string?)null)));
    }

    [Test]
    public async Task An_IPv4_address_mapped_to_IPv6_on_either_side_still_confirms()
    {
        var client = await LookUpAsync(Answers("mail.example.net", "::ffff:192.0.2.10"));

        Assert.That(client.HostName, Is.EqualTo("mail.example.net"));
    }

    [Test]
    public async Task A_PTR_name_that_does_not_give_the_address_back_is_only_the_PTR_name_and_the_client_stays_unknown()
    {
        var client = await LookUpAsync(Answers("forged.example.org", "198.51.100.7"));

        Assert.That((client.HostName, client.PtrName), Is.EqualTo(((string?)null, "forged.example.org")));
    }

    [TestCase("192.0.2.10", TestName = "{m}(a numeric PTR name)")]
    [TestCase("bad name!", TestName = "{m}(a malformed one)")]
    public void A_PTR_name_that_is_no_host_name_leaves_the_client_unknown(string name) =>
        Assert.That(LookUpAsync(Answers(name, "192.0.2.10")).Result, Is.EqualTo(ClientInfo.Tcp(Client, 40000)));

    [Test]
    public async Task No_PTR_record_leaves_the_client_unknown()
    {
        var client = await LookUpAsync((_, _) => Task.FromException<IPHostEntry>(new SocketException((int)SocketError.HostNotFound)));

        Assert.That(client, Is.EqualTo(ClientInfo.Tcp(Client, 40000)));
    }

    [Test]
    public async Task A_resolver_that_does_not_answer_in_time_leaves_the_client_unknown_for_now_at_the_timeout()
    {
        var never = new TaskCompletionSource<IPHostEntry>();

        var client = await LookUpAsync((_, _) => never.Task, TimeSpan.FromMilliseconds(50));
        never.SetException(new SocketException((int)SocketError.TimedOut)); // gives its lookup slot back for the other tests

        Assert.That(client, Is.EqualTo(ClientInfo.Tcp(Client, 40000) with { NameLookupFailedTemporarily = true }), "{client_resolve} TEMP, as Postfix's resolver timing out gives");
    }

    [Test]
    public async Task A_PTR_lookup_that_fails_for_now_leaves_the_client_unknown_for_now()
    {
        var client = await LookUpAsync((_, _) => Task.FromException<IPHostEntry>(new SocketException((int)SocketError.TryAgain)));

        Assert.That(client, Is.EqualTo(ClientInfo.Tcp(Client, 40000) with { NameLookupFailedTemporarily = true }));
    }

    [Test]
    public async Task A_forward_lookup_that_fails_for_now_leaves_the_PTR_name_unconfirmed_for_now()
    {
        var client = await LookUpAsync((_, _) => Task.FromException<IPHostEntry>(
            new ClientNameLookup.ForwardLookupFailedTemporarily("mail.example.net", new SocketException((int)SocketError.TryAgain))));

        Assert.That(client, Is.EqualTo(ClientInfo.Tcp(Client, 40000) with { PtrName = "mail.example.net", NameLookupFailedTemporarily = true }),
            "Postfix keeps the PTR name (_ says may be forged) and says TEMP");
    }

    [TestCase(SocketError.HostNotFound)]
    [TestCase(SocketError.NoData)]
    [TestCase(SocketError.NoRecovery)]
    public async Task A_PTR_lookup_that_fails_for_good_leaves_the_client_unknown_and_not_for_now(SocketError error)
    {
        var client = await LookUpAsync((_, _) => Task.FromException<IPHostEntry>(new SocketException((int)error)));

        Assert.That(client, Is.EqualTo(ClientInfo.Tcp(Client, 40000)), "unknown, and not for now: {client_resolve} FAIL");
    }

    [Test]
    [Category("Integration")] // the system's resolver: /etc/hosts, as on every Debian
    public async Task The_system_resolver_confirms_localhost_and_reports_no_failure()
    {
        var client = await ClientNameLookup.LookUpAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000), ClientNameLookup.System, Patience, CancellationToken.None);

        Assert.That((client.HostName, client.NameLookupFailedTemporarily), Is.EqualTo(("localhost", false)));
    }

    [Test]
    public async Task Lookups_that_never_end_hold_at_most_a_bounded_number_of_threads_and_the_next_clients_are_unknown_at_their_timeout()
    {
        var started = 0;
        var never = new TaskCompletionSource<IPHostEntry>();
        ClientNameLookup.Resolver hanging = (_, _) =>
        {
            Interlocked.Increment(ref started);
            return never.Task;
        };

        // Each of its own network, so that no network's share stops them before the process's slots do.
        var addresses = Enumerable.Range(1, ClientNameLookup.MaxConcurrentLookups + 8).Select(i => ClientInfo.Tcp(IPAddress.Parse($"10.{i}.0.1"), 40000)).ToList();
        var clients = await Task.WhenAll(addresses.Select(a => ClientNameLookup.LookUpAsync(a, hanging, TimeSpan.FromMilliseconds(200), CancellationToken.None)));
        var whileHeld = Volatile.Read(ref started);
        never.SetResult(new IPHostEntry { HostName = "late.example", AddressList = [Client] });
        var afterwards = await LookUpAsync(Answers("mail.example.net", "192.0.2.10"));

        Assert.Multiple(() =>
        {
            Assert.That(clients, Is.EqualTo(addresses.Select(a => a with { NameLookupFailedTemporarily = true })), "every one unknown, for now");
            Assert.That(whileHeld, Is.InRange(1, ClientNameLookup.MaxConcurrentLookups), "the others never started a lookup (a slot may be held by another test's)");
            Assert.That(afterwards.HostName, Is.EqualTo("mail.example.net"), "the slots come back when the lookups end");
        });
    }

    [Test]
    public async Task Clients_of_a_network_whose_reverse_zone_never_answers_do_not_delay_the_names_of_other_clients()
    {
        using var zone = new HostileReverseZone();
        var hostile = Enumerable.Range(1, ClientNameLookup.MaxConcurrentLookups + 4)
            .Select(i => LookUpAsync(HostileReverseZone.Address(i), zone.Resolve))
            .ToList();

        var other = await LookUpAsync(Client, zone.Resolve, TimeSpan.FromSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(other, Is.EqualTo(ClientInfo.Tcp(Client, 40000, "mail.example.net")),
                "a client of another network is named, not unknown for now at its timeout behind the hostile network's lookups");
            Assert.That(hostile.Select(t => t.IsCompleted), Is.All.False, "the hostile network's lookups were still hanging meanwhile");
        });
    }

    [Test]
    public async Task A_networks_lookup_past_its_share_fails_over_to_unknown_for_now_without_being_made_and_other_networks_are_named()
    {
        using var zone = new HostileReverseZone();
        var held = Enumerable.Range(1, ClientNameLookup.MaxLookupsPerNetwork).Select(i => LookUpAsync(HostileReverseZone.Address(i), zone.Resolve)).ToList();
        var pastShare = HostileReverseZone.Address(ClientNameLookup.MaxLookupsPerNetwork + 1);

        var past = await LookUpAsync(pastShare, zone.Resolve, TimeSpan.FromMilliseconds(100));
        var other = await LookUpAsync(Client, zone.Resolve);

        Assert.Multiple(() =>
        {
            Assert.That(past, Is.EqualTo(ClientInfo.Tcp(pastShare, 40000) with { NameLookupFailedTemporarily = true }), "unknown, and TEMP, at its timeout");
            Assert.That(zone.Hanging, Is.EqualTo(ClientNameLookup.MaxLookupsPerNetwork), "the lookup past the share never reached the resolver, to hold a thread there");
            Assert.That(other.HostName, Is.EqualTo("mail.example.net"));
            Assert.That(held.Select(t => t.IsCompleted), Is.All.False);
        });
    }

    [Test]
    public async Task A_networks_share_is_given_back_when_its_lookups_end_not_when_their_clients_stop_waiting()
    {
        using var zone = new HostileReverseZone();
        await Task.WhenAll(Enumerable.Range(1, ClientNameLookup.MaxLookupsPerNetwork)
            .Select(i => LookUpAsync(HostileReverseZone.Address(i), zone.Resolve, TimeSpan.FromMilliseconds(50))));

        var whileTheyHang = await LookUpAsync(HostileReverseZone.Address(100), zone.Resolve, TimeSpan.FromMilliseconds(100));
        var reachedTheResolver = zone.Hanging;
        zone.EndLookups();
        var afterwards = await LookUpAsync(HostileReverseZone.Address(101), Answers("mail.example.net", "198.51.100.101"));

        Assert.Multiple(() =>
        {
            Assert.That(whileTheyHang.NameLookupFailedTemporarily, Is.True);
            Assert.That(reachedTheResolver, Is.EqualTo(ClientNameLookup.MaxLookupsPerNetwork), "the share was still held by the lookups their clients had given up on");
            Assert.That(afterwards.HostName, Is.EqualTo("mail.example.net"), "the share came back when they ended");
        });
    }

    [Test]
    public async Task An_IPv4_address_mapped_to_IPv6_counts_with_its_IPv4_network_and_not_with_every_other_mapped_address()
    {
        using var zone = new HostileReverseZone();
        _ = Enumerable.Range(1, ClientNameLookup.MaxLookupsPerNetwork)
            .Select(i => LookUpAsync(HostileReverseZone.Address(i).MapToIPv6(), zone.Resolve)).ToList(); // hanging till the end

        var sameNetwork = await LookUpAsync(HostileReverseZone.Address(100), zone.Resolve, TimeSpan.FromMilliseconds(100));
        var otherNetwork = await LookUpAsync(Client.MapToIPv6(), zone.Resolve, TimeSpan.FromSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(sameNetwork.NameLookupFailedTemporarily, Is.True);
            Assert.That(zone.Hanging, Is.EqualTo(ClientNameLookup.MaxLookupsPerNetwork), "198.51.100.100 found the share of 198.51.100.0/24 held by the mapped addresses");
            Assert.That(otherNetwork.HostName, Is.EqualTo("mail.example.net"), "::ffff:192.0.2.10 is of 192.0.2.0/24, not of one network with the mapped addresses above");
        });
    }

    [Test]
    public async Task The_addresses_of_one_IPv6_48_count_as_one_network()
    {
        using var zone = new HostileReverseZone();
        _ = Enumerable.Range(1, ClientNameLookup.MaxLookupsPerNetwork)
            .Select(i => LookUpAsync(IPAddress.Parse($"2001:db8:bad:{i}::1"), zone.Resolve)).ToList(); // hanging till the end

        var sameNetwork = await LookUpAsync(IPAddress.Parse("2001:db8:bad:ffff::1"), zone.Resolve, TimeSpan.FromMilliseconds(100));
        var otherNetwork = await LookUpAsync(IPAddress.Parse("2001:db8:600d::1"), zone.Resolve, TimeSpan.FromSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(sameNetwork.NameLookupFailedTemporarily, Is.True);
            Assert.That(zone.Hanging, Is.EqualTo(ClientNameLookup.MaxLookupsPerNetwork), "2001:db8:bad:ffff::1 found the share of 2001:db8:bad::/48 held by four of its /64s");
            Assert.That(otherNetwork.HostName, Is.EqualTo("mail.example.net"));
        });
    }

    [Test]
    public async Task Clients_from_one_address_share_one_lookup_and_one_slot()
    {
        var calls = 0;
        var answer = new TaskCompletionSource<IPHostEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        ClientNameLookup.Resolver slow = (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return answer.Task;
        };

        var lookups = Enumerable.Range(0, 40).Select(_ => LookUpAsync(slow)).ToList();
        answer.SetResult(new IPHostEntry { HostName = "busy.example.net", AddressList = [Client] });
        var clients = await Task.WhenAll(lookups);
        var later = await LookUpAsync(slow);

        Assert.Multiple(() =>
        {
            Assert.That(clients.Select(c => c.HostName), Is.All.EqualTo("busy.example.net"));
            Assert.That(calls, Is.EqualTo(2), "one lookup for the forty at once, and a new one once it had ended (nothing kept)");
            Assert.That(later.HostName, Is.EqualTo("busy.example.net"));
        });
    }

    [Test]
    public async Task A_client_whose_names_the_application_gave_is_not_looked_up()
    {
        var named = ClientInfo.Tcp(Client, 40000, "given.example");

        var client = await ClientNameLookup.LookUpAsync(named, (_, _) => throw new AssertionException("looked up"), Patience, CancellationToken.None);

        Assert.That(client, Is.SameAs(named));
    }

    /// <summary>
    /// A resolver for an attacker's networks, 198.51.100.0/24 and 2001:db8:bad::/48, whose reverse zones never answer
    /// (until <see cref="EndLookups"/>, or disposal, which gives their slots back to the other tests), and which names every
    /// other address at once, with a name that confirms.
    /// </summary>
    private sealed class HostileReverseZone : IDisposable
    {
        private readonly TaskCompletionSource<IPHostEntry> _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _hanging;

        public HostileReverseZone() => Resolve = (address, _) =>
        {
            var text = address.ToString();
            if (!text.StartsWith("198.51.100.", StringComparison.Ordinal) && !text.StartsWith("2001:db8:bad:", StringComparison.Ordinal))
            {
                return Task.FromResult(new IPHostEntry { HostName = "mail.example.net", AddressList = [address] });
            }

            Interlocked.Increment(ref _hanging);
            return _never.Task;
        };

        public ClientNameLookup.Resolver Resolve { get; }

        /// <summary>How many lookups of the hostile networks reached the resolver.</summary>
        public int Hanging => Volatile.Read(ref _hanging);

        /// <summary>The hostile IPv4 network's address <paramref name="host"/>.</summary>
        public static IPAddress Address(int host) => IPAddress.Parse($"198.51.100.{host}");

        /// <summary>The hanging lookups end, as a resolver's own timeout ends them.</summary>
        public void EndLookups() => _never.TrySetException(new SocketException((int)SocketError.TimedOut));

        public void Dispose() => EndLookups();
    }
}
