using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Tests.Protocol.Codec;

/// <summary>
/// The macros derived from the connection facts the host gives (<see cref="ClientInfo"/>), with Postfix's values
/// (smtpd_milter.c, smtpd_peer.c). A null value: the macro has none and is not sent.
/// </summary>
public class ConnectionMacrosTests
{
    private static readonly IPAddress ClientV4 = IPAddress.Parse("192.0.2.1");

    // Each row: the connection, then the macros it must give (others are not checked by the row).
    private static readonly object?[][] Connections =
    [
        [ClientInfo.Tcp(ClientV4, 4321, "client.example.net"), new Dictionary<string, string?>
        {
            ["_"] = "client.example.net [192.0.2.1]", ["{client_name}"] = "client.example.net", ["{client_ptr}"] = "client.example.net",
            ["{client_addr}"] = "192.0.2.1", ["{client_port}"] = "4321", ["{client_resolve}"] = "OK",
        }],
        [ClientInfo.Tcp(ClientV4, 4321), new Dictionary<string, string?>
        {
            ["_"] = "unknown [192.0.2.1]", ["{client_name}"] = "unknown", ["{client_ptr}"] = "unknown", ["{client_resolve}"] = "FAIL",
        }],
        [ClientInfo.Tcp(ClientV4, 4321) with { PtrName = "ptr.example" }, new Dictionary<string, string?>
        {
            ["_"] = "ptr.example [192.0.2.1] (may be forged)", ["{client_name}"] = "unknown", ["{client_ptr}"] = "ptr.example",
            ["{client_resolve}"] = "FORGED",
        }],
        [ClientInfo.Tcp(ClientV4, 4321) with { NameLookupFailedTemporarily = true }, new Dictionary<string, string?>
        {
            ["_"] = "unknown [192.0.2.1]", ["{client_name}"] = "unknown", ["{client_ptr}"] = "unknown", ["{client_resolve}"] = "TEMP",
        }],
        [ClientInfo.Tcp(ClientV4, 4321) with { PtrName = "ptr.example", NameLookupFailedTemporarily = true }, new Dictionary<string, string?>
        {
            ["_"] = "ptr.example [192.0.2.1] (may be forged)", ["{client_name}"] = "unknown", ["{client_ptr}"] = "ptr.example",
            ["{client_resolve}"] = "TEMP",
        }],
        [ClientInfo.Tcp(ClientV4, 4321, "client.example.net") with { PtrName = "Client.Example.NET" }, new Dictionary<string, string?>
        {
            ["_"] = "Client.Example.NET [192.0.2.1]", ["{client_ptr}"] = "Client.Example.NET", ["{client_resolve}"] = "OK",
        }],
        [ClientInfo.Tcp(IPAddress.Parse("2001:db8::1"), 587, "v6.example.net"), new Dictionary<string, string?>
        {
            ["_"] = "v6.example.net [2001:db8::1]", ["{client_addr}"] = "IPv6:2001:db8::1", ["{client_port}"] = "587",
        }],
        [ClientInfo.Tcp(IPAddress.Parse("::ffff:192.0.2.7"), 40000), new Dictionary<string, string?>
        {
            ["_"] = "unknown [192.0.2.7]", ["{client_addr}"] = "192.0.2.7",
        }],
        [new ClientInfo { LocalSocketPath = "/run/smtp.sock" }, new Dictionary<string, string?>
        {
            ["_"] = "localhost [127.0.0.1]", ["{client_name}"] = "localhost", ["{client_ptr}"] = "localhost", ["{client_addr}"] = "127.0.0.1",
            ["{client_port}"] = "0", ["{client_resolve}"] = "OK", ["{daemon_addr}"] = "127.0.0.1", ["{daemon_port}"] = "0",
        }],
        [null, new Dictionary<string, string?>
        {
            ["_"] = "localhost [127.0.0.1]", ["{client_addr}"] = "127.0.0.1", ["{daemon_addr}"] = "127.0.0.1", ["{if_addr}"] = null,
        }],
        [ClientInfo.Tcp(ClientV4, 4321) with { ServerAddress = IPAddress.Parse("2001:db8::25"), ServerPort = 25, ServerName = "mx.example.com" }, new Dictionary<string, string?>
        {
            ["j"] = "mx.example.com", ["{daemon_name}"] = "mx.example.com", ["{daemon_addr}"] = "2001:db8::25", ["{daemon_port}"] = "25",
            ["{if_name}"] = "mx.example.com", ["{if_addr}"] = "IPv6:2001:db8::25",
        }],
        [ClientInfo.Tcp(ClientV4, 4321) with { ServerAddress = IPAddress.Loopback, ServerPort = 2525 }, new Dictionary<string, string?>
        {
            ["{daemon_addr}"] = "127.0.0.1", ["{daemon_port}"] = "2525", ["{if_addr}"] = null,
        }],
        [ClientInfo.Tcp(ClientV4, 4321), new Dictionary<string, string?>
        {
            ["j"] = ConnectionMacros.DefaultServerName, ["{daemon_name}"] = ConnectionMacros.DefaultServerName, ["{daemon_addr}"] = null,
            ["{daemon_port}"] = null, ["v"] = ConnectionMacros.Version,
        }],
    ];

    [TestCaseSource(nameof(Connections))]
    public void The_connection_facts_give_Postfixs_macro_values(ClientInfo? client, Dictionary<string, string?> expected)
    {
        var derived = ConnectionMacros.Of(client).ToDictionary(m => m.Name, m => m.Value);

        Assert.That(expected.Select(e => KeyValuePair.Create(e.Key, derived.GetValueOrDefault(e.Key))), Is.EqualTo(expected));
    }

    [Test]
    public void The_MTA_is_named_with_a_version_and_the_server_by_this_machine_when_the_host_names_none()
    {
        Assert.That(ConnectionMacros.Version, Does.Match(@"^SpamFilterMilter \d+\.\d+\.\d+$"));
        Assert.That(ConnectionMacros.DefaultServerName, Is.EqualTo(Dns.GetHostName()));
    }
}
