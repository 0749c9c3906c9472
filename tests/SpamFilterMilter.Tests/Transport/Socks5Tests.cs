using SpamFilterMilter.Options;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>The milter reached through real SOCKS5 servers: microsocks and dante-server.</summary>
[Category("Integration")]
public class Socks5Tests : TempFolderTest
{
    private static MessageSubmission Message() => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25),
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream("Subject: through SOCKS\r\n\r\nbody\r\n"u8.ToArray()),
    };

    private async Task<(FilterVerdict Verdict, IReadOnlyList<LogEntry> Logs)> FilterAsync(MilterProcess milter, string socksOptions)
    {
        using var logs = new CapturedLogs();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, (socksOptions.Contains("DEBUG=", StringComparison.Ordinal) ? "" : "DEBUG=1\n") + socksOptions), logs);
        var verdict = await plugin.FilterMessageAsync(Message());
        return (verdict, logs.Entries);
    }

    /// <summary>The plug-in's own word that the connection went through this SOCKS server (a milter on loopback would answer a direct connection too).</summary>
    private static void AssertTunnelled(IReadOnlyList<LogEntry> logs, SocksServer socks, string destination) =>
        Assert.That(logs.Select(l => l.Message),
            Has.One.Contains($": connected to {destination} through SOCKS server 127.0.0.1:{socks.Port} in "));

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_milter_is_reached_through_microsocks_without_authentication(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Via:socks");
        await using var socks = await SocksServer.StartMicrosocksAsync();

        var (verdict, logs) = await FilterAsync(milter, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nIO_MODE={ioMode}\n");

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Via", " socks") }));
        AssertTunnelled(logs, socks, $"127.0.0.1:{milter.Port}");
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_milter_is_reached_through_microsocks_with_a_user_and_password(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartMicrosocksAsync("milteruser", "Pa55-word");

        var (verdict, logs) = await FilterAsync(milter, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nSOCKS_USER=milteruser\nSOCKS_PASSWORD=Pa55-word\nIO_MODE={ioMode}\nDEBUG=2\n");

        Assert.That((verdict.Kind, verdict.Failure), Is.EqualTo((VerdictKind.Default, (FilterFailure?)null)));
        AssertTunnelled(logs, socks, $"127.0.0.1:{milter.Port}");
        Assert.That(logs.Where(l => l.Reveals("Pa55-word")), Is.Empty, "the password that was used is in no log line at DEBUG=2, as text or as hex");
        Assert.That(logs, Has.Some.Matches<LogEntry>(l => l.Message.Contains("SMFIC_", StringComparison.Ordinal)), "DEBUG=2 traffic was logged");
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_milter_is_reached_through_dante_with_username_authentication(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "mail=reject");
        await using var socks = await SocksServer.StartDanteAsync();

        var (verdict, logs) = await FilterAsync(milter,
            $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nSOCKS_USER={SocksServer.DanteUser}\nSOCKS_PASSWORD={SocksServer.DantePassword}\nIO_MODE={ioMode}\n");

        Assert.That(verdict.Failure, Is.Null, $"{verdict.Failure} / dante: {socks.Output}");
        Assert.That((verdict.Action, verdict.DecidedAt), Is.EqualTo((FilterAction.Reject, (FilterStage?)FilterStage.Mail)), "the milter's own verdict");
        AssertTunnelled(logs, socks, $"127.0.0.1:{milter.Port}");
    }

    [Test]
    public async Task A_wrong_password_is_a_failure_that_names_the_user_but_never_the_password()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartDanteAsync();

        var (verdict, logs) = await FilterAsync(milter, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nSOCKS_USER={SocksServer.DanteUser}\nSOCKS_PASSWORD=Not-The-Password\nDEBUG=2\n");

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Cause, Is.EqualTo($"SOCKS server 127.0.0.1:{socks.Port}: the SOCKS server refused the password for user \"{SocksServer.DanteUser}\""));
        Assert.That(logs.Where(l => l.Reveals("Not-The-Password")), Is.Empty);
        Assert.That(verdict.Text, Does.Not.Contain("Not-The-Password"));
    }

    [Test]
    public async Task A_SOCKS_server_that_wants_a_password_nobody_configured_says_so()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartMicrosocksAsync("u", "p");

        var (verdict, _) = await FilterAsync(milter, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\n");

        Assert.That(verdict.Failure!.Cause, Does.EndWith("the SOCKS server requires authentication: set SOCKS_PASSWORD (and SOCKS_USER)"));
    }

    [Test]
    public async Task The_SOCKS_server_can_resolve_the_milter_host_name_itself()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartMicrosocksAsync();
        var optionFile = Folder.Write("named.opt", $"HOST=localhost\nPORT={milter.Port}\nSOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nSOCKS_RESOLVE=remote\nDEBUG=1\n");
        using var logs = new CapturedLogs();
        await using var plugin = DeployedPlugin.Create(optionFile, logs);

        var verdict = await plugin.FilterMessageAsync(Message());

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        AssertTunnelled(logs.Entries, socks, $"localhost:{milter.Port}"); // the name, not an address: the SOCKS server resolved it
    }

    [TestCase("Async")]
    [TestCase("Blocking")]
    public async Task Through_SOCKS_each_DNS_address_is_tried_until_one_is_reachable(string ioMode)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(); // listens on 127.0.0.1 only
        await using var socks = await SocksServer.StartMicrosocksAsync();
        var options = new MilterOptions
        {
            Host = "milter.test", Port = milter.Port, SocksHost = "127.0.0.1", SocksPort = socks.Port,
            Timeout = TimeSpan.FromSeconds(5), IoMode = Enum.Parse<IoMode>(ioMode),
        };
        var connector = Connectors.ToFirstServer(options, (_, _) => Task.FromResult(new[] { IPAddress.IPv6Loopback, IPAddress.Loopback }));

        await using var connection = await connector.ConnectAsync(default);

        Assert.That(connection.Remote, Is.EqualTo($"127.0.0.1:{milter.Port} through SOCKS server 127.0.0.1:{socks.Port}"));
    }

    [Test]
    public async Task An_unreachable_SOCKS_server_is_a_connect_failure_naming_it()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var closed = TestPlugins.ClosedPort();

        var (verdict, _) = await FilterAsync(milter, $"SOCKS_HOST=127.0.0.1\nSOCKS_PORT={closed}\n");

        Assert.That(verdict.Failure!.Cause, Is.EqualTo($"can't connect to 127.0.0.1:{milter.Port} through SOCKS server 127.0.0.1:{closed}: Connection refused"), "the SOCKS server's address once");
    }
}
