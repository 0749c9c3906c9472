using SpamFilterMilter.Host.Configuration;
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

    private DirectoryOptions Options(string? bindDn = null, string? password = null) => new()
    {
        LdapHost = "127.0.0.1",
        LdapPort = _slapd.Port,
        LdapBaseDn = SlapdServer.Suffix,
        LdapBindDn = bindDn,
        LdapBindPassword = password,
        LdapTimeout = TimeSpan.FromSeconds(5),
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

        Assert.That(e.Message, Does.Contain($"ldap://127.0.0.1:{_slapd.Port}/o=example (bind cn=mta,ou=services,o=example)").And.Contain("bob@example.com"));
        Assert.That(e.ToString(), Does.Not.Contain("wrong-password-xyzzy"));
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

        Assert.That(e.Message, Does.StartWith($"LDAP ldap://127.0.0.1:{closedPort}/o=example (anonymous): looking up domain example.net:"));
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

        var call = plugins.Calls.Single();
        Assert.That(call.Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "robert@example.com", "x@example.net" }));
        Assert.That(call.Submission.OptIn, Is.EquivalentTo(new[] { "spam", "virus" }));
        Assert.That(result.Deliveries, Has.Count.EqualTo(2));
        Assert.That(result.Log, Has.None.Contains("mta-secret"));
    }
}
