using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Selection;

/// <summary>
/// The LDAP directory against a real OpenLDAP slapd the fixture starts on loopback, with a schema that
/// holds mailAntiUBEService (Ldap/spamfilter.schema) and the entries of Ldap/entries.ldif.
/// </summary>
[Category("Integration")]
public class LdapOptInDirectoryTests
{
    private static readonly string[] OptIn = ["mailAntiUBEService"];
    private SlapdServer _slapd = null!;

    [OneTimeSetUp]
    public async Task StartSlapd() => _slapd = await SlapdServer.StartAsync(SlapdServer.LdifFile("entries.ldif"));

    [OneTimeTearDown]
    public async Task StopSlapd() => await _slapd.DisposeAsync();

    private DirectoryOptions Options(string? bindDn = null, string? password = null, int? port = null, TimeSpan? timeout = null) => new()
    {
        LdapHost = "127.0.0.1",
        LdapPort = port ?? _slapd.Port,
        LdapBaseDn = SlapdServer.Suffix,
        LdapBindDn = bindDn,
        LdapBindPassword = password,
        LdapTimeout = timeout ?? TimeSpan.FromSeconds(5),
    };

    [TestCase("bob@example.com")]
    [TestCase("Bob@EXAMPLE.com")]
    [TestCase("robert@example.com")]
    public async Task A_user_is_found_by_mail_or_mailAlternateAddress_with_its_opt_in_values(string address)
    {
        using var directory = new LdapOptInDirectory(Options());

        var user = await directory.FindUserAsync(address, OptIn);

        Assert.That(user!.Name, Is.EqualTo("uid=bob,ou=people,o=example"));
        Assert.That(user.Values("mailAntiUBEService"), Is.EquivalentTo(new[] { "spam", "virus" }));
    }

    [Test]
    public async Task A_user_is_found_by_mailEquivalentAddress()
    {
        using var directory = new LdapOptInDirectory(Options());

        var user = await directory.FindUserAsync("alice@mail.example.org", OptIn);

        Assert.That(user!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "outbound" }));
    }

    [Test]
    public async Task A_user_without_the_attribute_is_found_with_no_values_and_an_unknown_one_is_not_found()
    {
        using var directory = new LdapOptInDirectory(Options());

        Assert.That((await directory.FindUserAsync("carol@example.com", OptIn))!.Values("mailAntiUBEService"), Is.Empty);
        Assert.That(await directory.FindUserAsync("nobody@example.com", OptIn), Is.Null);
    }

    [Test]
    public async Task A_domain_is_found_by_associatedDomain()
    {
        using var directory = new LdapOptInDirectory(Options());

        var domain = await directory.FindDomainAsync("example.net", OptIn);

        Assert.That(domain!.Name, Is.EqualTo("dc=example.net,ou=domains,o=example"));
        Assert.That(domain.Values("mailAntiUBEService"), Is.EqualTo(new[] { "spam" }));
        Assert.That(await directory.FindDomainAsync("example.com", OptIn), Is.Null);
    }

    [Test]
    public async Task Filter_characters_in_an_address_are_escaped_so_they_match_only_themselves()
    {
        using var directory = new LdapOptInDirectory(Options());

        Assert.That((await directory.FindUserAsync("st*r(1)@example.com", OptIn))!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "virus" }));
        Assert.That(await directory.FindUserAsync("*@example.com", OptIn), Is.Null, "a * must not be a wildcard");
        Assert.That(await directory.FindUserAsync("bob@example.com)(mail=*", OptIn), Is.Null, "no filter injection");
    }

    [Test]
    public async Task A_simple_bind_as_a_service_account_works()
    {
        using var directory = new LdapOptInDirectory(Options("cn=mta,ou=services,o=example", "mta-secret"));

        Assert.That(await directory.FindUserAsync("bob@example.com", OptIn), Is.Not.Null);
    }

    [Test]
    public void A_refused_bind_is_a_directory_failure_that_never_shows_the_password()
    {
        using var directory = new LdapOptInDirectory(Options("cn=mta,ou=services,o=example", "wrong-password-xyzzy"));

        var e = Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindUserAsync("bob@example.com", OptIn))!;

        Assert.That(e.Message, Does.StartWith($"LDAP ldap://127.0.0.1:{_slapd.Port}/o=example (bind cn=mta,ou=services,o=example): looking up a user: "));
        Assert.That(e.ToString(), Does.Not.Contain("wrong-password-xyzzy"));
        Assert.That(e.ToString(), Does.Not.Contain("bob@example.com"), "no address in an exception message: it may be logged");
    }

    [Test]
    public void An_unreachable_server_is_a_directory_failure()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var directory = new LdapOptInDirectory(new DirectoryOptions { LdapHost = "127.0.0.1", LdapPort = closedPort, LdapBaseDn = SlapdServer.Suffix, LdapTimeout = TimeSpan.FromSeconds(2) });

        var e = Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindDomainAsync("example.net", OptIn))!;

        Assert.That(e.Message, Does.StartWith($"LDAP ldap://127.0.0.1:{closedPort}/o=example (anonymous): looking up a domain:"));
    }

    [Test]
    public async Task A_server_that_goes_away_is_a_directory_failure_and_every_later_lookup_tries_again()
    {
        await using var other = await SlapdServer.StartAsync(SlapdServer.LdifFile("entries.ldif"));
        using var directory = new LdapOptInDirectory(new DirectoryOptions { LdapHost = "127.0.0.1", LdapPort = other.Port, LdapBaseDn = SlapdServer.Suffix, LdapTimeout = TimeSpan.FromSeconds(2) });
        Assert.That(await directory.FindUserAsync("bob@example.com", OptIn), Is.Not.Null);

        await other.DisposeAsync();

        // The broken connection is dropped; the next lookup opens a new one (and fails the same way, not with a disposed connection).
        Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindUserAsync("bob@example.com", OptIn));
        var again = Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindUserAsync("bob@example.com", OptIn))!;
        Assert.That(again.InnerException, Is.InstanceOf<System.DirectoryServices.Protocols.LdapException>());
    }

    [Test]
    public async Task The_sample_directory_answers_the_same_from_the_file_and_from_slapd()
    {
        var sample = Repository.Path("etc/directory.ldif");
        await using var server = await SlapdServer.StartAsync(sample);
        using var ldap = new LdapOptInDirectory(new DirectoryOptions { LdapHost = "127.0.0.1", LdapPort = server.Port, LdapBaseDn = SlapdServer.Suffix });
        var file = FileOptInDirectory.Load(sample);

        foreach (var address in new[] { "bob@example.com", "robert@example.com", "carol@example.com", "nobody@example.com" })
        {
            var fromLdap = await ldap.FindUserAsync(address, OptIn);
            var fromFile = await file.FindUserAsync(address, OptIn);
            Assert.That(fromLdap?.Name, Is.EqualTo(fromFile?.Name), address);
            Assert.That(fromLdap?.Values("mailAntiUBEService") ?? [], Is.EquivalentTo(fromFile?.Values("mailAntiUBEService") ?? []), address);
        }

        Assert.That((await ldap.FindDomainAsync("example.org", OptIn))!.Values("mailAntiUBEService"),
            Is.EqualTo((await file.FindDomainAsync("example.org", OptIn))!.Values("mailAntiUBEService")));
    }

    [Test]
    public async Task The_host_selects_recipients_through_the_LDAP_directory_option_dat_names()
    {
        using var folder = new TempFolder();
        var plugins = new FakePlugins();
        plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader \"X-Filtered\" \"yes\";"));
        await using var host = plugins.Host(folder, FakePlugins.Slot(1, "a",
            "LDAP_OPTIN1=mailAntiUBEService\nLDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n" +
            $"LDAP_HOST=127.0.0.1\nLDAP_PORT={_slapd.Port}\nLDAP_BASE_DN=o=example\nLDAP_BIND_DN=cn=mta,ou=services,o=example\nLDAP_BIND_PASSWORD=mta-secret\n"));

        var result = await host.FilterAsync(FakePlugins.Message("Subject: x\r\n\r\nbody\r\n", "robert@example.com", "carol@example.com", "x@example.net"));

        Assert.That(plugins.Calls.Select(c => (c.Submission.Recipients.Single().Address, string.Join(",", c.Submission.OptIn!.Order()))), Is.EqualTo(new[]
        {
            ("robert@example.com", "spam,virus"),
            ("x@example.net", "spam"),
        }), "robert and x have other opt-in values: one call each");
        Assert.That(result.Deliveries, Has.Count.EqualTo(3));
        Assert.That(result.Log, Has.None.Contains("mta-secret"));
    }

    [Test]
    public async Task The_bind_password_never_reaches_the_logs_even_when_the_bind_fails()
    {
        using var folder = new TempFolder();
        var plugins = new FakePlugins();
        plugins.Add("a", FakePlugins.Verdict("keep;"));
        var logs = new CapturedLogs();
        var options = $"LDAP_OPTIN1=mailAntiUBEService\nLDAP_HOST=127.0.0.1\nLDAP_PORT={_slapd.Port}\nLDAP_BASE_DN=o=example\nLDAP_BIND_DN=cn=mta,ou=services,o=example\n";
        await using (var host = plugins.Host(folder, FakePlugins.Slot(1, "a", options + "LDAP_BIND_PASSWORD=mta-secret\n"), logs: logs))
        {
            await host.FilterAsync(FakePlugins.Message("Subject: x\r\n\r\nbody\r\n", "bob@example.com"));
        }

        await using (var host = plugins.Host(folder, FakePlugins.Slot(1, "a", options + "LDAP_BIND_PASSWORD=wrong-xyzzy\n"), logs: logs))
        {
            var result = await host.FilterAsync(FakePlugins.Message("Subject: x\r\n\r\nbody\r\n", "bob@example.com"));
            Assert.That(result.Deliveries.Single().Reply, Is.EqualTo(SpamFilterHost.DirectoryFailureReply));
            Assert.That(result.Log, Has.None.Contains("wrong-xyzzy"));
        }

        Assert.That(logs.Entries.Select(e => e.Level), Has.Some.EqualTo(Microsoft.Extensions.Logging.LogLevel.Warning), "the failed bind was logged");
        Assert.That(logs.Entries.Select(e => e.AllText), Has.None.Contains("mta-secret").And.None.Contains("wrong-xyzzy"));
    }

    [Test]
    public async Task The_host_disposes_the_LDAP_directory_it_created()
    {
        await using var proxy = new TcpProxy(_slapd.Port);
        using var folder = new TempFolder();
        var plugins = new FakePlugins();
        plugins.Add("a", FakePlugins.Verdict("keep;"));
        var host = plugins.Host(folder, FakePlugins.Slot(1, "a", $"LDAP_OPTIN1=mailAntiUBEService\nLDAP_HOST=127.0.0.1\nLDAP_PORT={proxy.Port}\nLDAP_BASE_DN=o=example\n"));
        await host.FilterAsync(FakePlugins.Message("Subject: x\r\n\r\nbody\r\n", "bob@example.com"));
        var directory = host.Directory!;
        proxy.WatchClientClose();

        await host.DisposeAsync();

        Assert.That(directory, Is.InstanceOf<LdapOptInDirectory>());
        await proxy.ClientClosed.WaitAsync(TimeSpan.FromSeconds(30)); // the connection is closed
        var e = Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindUserAsync("bob@example.com", OptIn))!;
        Assert.That(e.Message, Does.EndWith("the directory is closed"));
    }

    [Test]
    public async Task A_kept_connection_the_server_closed_while_idle_is_replaced_at_once_and_the_lookup_succeeds()
    {
        await using var proxy = new TcpProxy(_slapd.Port);
        using var directory = new LdapOptInDirectory(Options(port: proxy.Port));
        Assert.That(await directory.FindUserAsync("bob@example.com", OptIn), Is.Not.Null);

        proxy.DropAll(); // as a server's idle timeout does

        Assert.That((await directory.FindUserAsync("bob@example.com", OptIn))!.Name, Is.EqualTo("uid=bob,ou=people,o=example"));
        Assert.That(proxy.Accepted, Is.EqualTo(2), "one new connection");
    }

    [Test]
    public async Task Lookups_behind_a_server_that_does_not_answer_fail_within_LDAP_TIMEOUT_instead_of_queueing()
    {
        await using var proxy = new TcpProxy(_slapd.Port);
        proxy.Hold(); // connections are accepted and never answered
        using var directory = new LdapOptInDirectory(Options(port: proxy.Port, timeout: TimeSpan.FromMilliseconds(500)));

        // The first lookup takes the connection and waits its 0.5 s; the others start 0.2 s into that wait. The second
        // gets the connection when the first gives up (0.5 s) and holds it until 1 s; the last two have waited for it
        // since 0.2 s and give up at 0.7 s. Started together, the waiters' 0.5 s and the holder's would end in a tie
        // that a busy machine decides either way.
        var first = directory.FindUserAsync("user0@example.com", OptIn);
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        List<Task<DirectoryEntry?>> lookups = [first, .. Enumerable.Range(1, 3).Select(i => directory.FindUserAsync($"user{i}@example.com", OptIn))];
        var all = Task.WhenAll(lookups);
        try
        {
            await all.WaitAsync(TimeSpan.FromSeconds(60)); // a guard against hanging, not a measurement
        }
        catch (OptInDirectoryException)
        {
        }

        Assert.That(lookups.Select(l => l.Exception?.InnerException), Has.All.InstanceOf<OptInDirectoryException>());
        // Whichever lookup holds the connection for LDAP_TIMEOUT, the ones started with it cannot all get it
        // in turn: at least one gives up waiting instead of queueing behind the stuck ones.
        Assert.That(lookups.Select(l => l.Exception!.InnerException!.Message), Has.Some.Contains("the lookups before it have not finished within LDAP_TIMEOUT"),
            "a lookup waiting behind a stuck one gives up");
    }

    [Test]
    public async Task A_connection_made_after_its_lookup_was_cancelled_is_closed()
    {
        await using var proxy = new TcpProxy(_slapd.Port);
        proxy.Hold();
        using var directory = new LdapOptInDirectory(Options(port: proxy.Port));
        using var cancel = new CancellationTokenSource();

        var lookup = directory.FindUserAsync("bob@example.com", OptIn, cancel.Token);
        await WaitUntilAsync(() => proxy.Accepted == 1);
        proxy.WatchClientClose();
        await cancel.CancelAsync();
        Assert.That(async () => await lookup, Throws.InstanceOf<OperationCanceledException>());
        proxy.Release(); // the bind now succeeds, for nobody

        await proxy.ClientClosed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(await directory.FindUserAsync("bob@example.com", OptIn), Is.Not.Null, "the next lookup makes its own connection");
    }

    [Test]
    public async Task Disposing_while_a_lookup_is_in_flight_lets_it_finish_then_closes_the_connection()
    {
        await using var proxy = new TcpProxy(_slapd.Port);
        proxy.Hold();
        var directory = new LdapOptInDirectory(Options(port: proxy.Port));
        var lookup = directory.FindUserAsync("bob@example.com", OptIn);
        await WaitUntilAsync(() => proxy.Accepted == 1);
        proxy.WatchClientClose();

        directory.Dispose();
        proxy.Release();

        Assert.That((await lookup)!.Name, Is.EqualTo("uid=bob,ou=people,o=example"));
        await proxy.ClientClosed.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.ThrowsAsync<OptInDirectoryException>(() => directory.FindUserAsync("bob@example.com", OptIn));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 3000 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.That(condition(), Is.True, "the condition did not come true");
    }
}
