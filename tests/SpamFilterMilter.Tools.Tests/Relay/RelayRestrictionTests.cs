using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Relay;
using SpamFilterMilter.SmtpServer;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// <c>--relay-domain</c> and <c>--relay-network</c> (their command line: RelayCommandTests): the warning of a relay open
/// to other machines without them, and the replies side by side with a private Postfix 3.7 whose <c>smtpd_relay_restrictions</c> are
/// <c>permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination</c> with the same domains and network.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class RelayRestrictionTests : TempFolderTest
{
    /// <summary>The trusted client: a second loopback address, which Linux routes to 127.0.0.1 like the first.</summary>
    private static readonly IPAddress Trusted = IPAddress.Parse("127.0.0.2");

    private static RelayOptions Options(string optionFile, string folder, IPEndPoint listen, IReadOnlyList<string>? relayDomains = null,
        IReadOnlyList<IPNetwork>? relayNetworks = null) =>
        new()
        {
            Listen = [listen],
            ServerName = "relay.example",
            OptionFile = optionFile,
            PluginFolder = Path.Combine(AppContext.BaseDirectory, "plugins"),
            Maildir = Path.Combine(folder, "mail"),
            Quarantine = Path.Combine(folder, "quarantine"),
            RelayDomains = relayDomains,
            RelayNetworks = relayNetworks ?? SmtpServerFilteringOptions.DefaultRelayNetworks,
        };

    [TestCase("0.0.0.0", null, true, TestName = "Listening beyond loopback without relay domains logs one warning naming the docs section")]
    [TestCase("127.0.0.1", null, false, TestName = "Listening on loopback alone without relay domains logs no warning")]
    [TestCase("0.0.0.0", "example.com", false, TestName = "Listening beyond loopback with relay domains logs no warning")]
    public async Task The_open_relay_warning(string address, string? domain, bool warned)
    {
        var logs = new CapturedLogs();
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        await using (await RelayServer.StartAsync(Options(optionFile, Folder.Path, new IPEndPoint(IPAddress.Parse(address), 0), domain is null ? null : [domain]), logs, default))
        {
        }

        var warnings = logs.Entries.Where(e => e.EventId.Id == 7021).ToList();
        Assert.That(warnings, Has.Count.EqualTo(warned ? 1 : 0));
        if (warned)
        {
            Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warnings[0].Message, Does.Contain("without --relay-domain").And.Contain("docs/relay.md, \"The next hop's relay rules\""));
        }
    }

    [Test]
    public async Task The_relay_answers_an_allowed_domain_a_subdomain_a_foreign_domain_a_bare_postmaster_and_a_trusted_client_as_Postfix_does()
    {
        // Both with explicit-style domains: example.com itself, the subdomains of example.net (Postfix without
        // relay_domains in parent_domain_matches_subdomains, as it means to become).
        await using var postfix = await PostfixInstance.StartAsync("",
            "smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination",
            "relay_domains=example.com,.example.net", "mynetworks=127.0.0.2/32",
            "parent_domain_matches_subdomains=debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,smtpd_access_maps");
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        await using var relay = await RelayServer.StartAsync(Options(optionFile, Folder.Path, new IPEndPoint(IPAddress.Loopback, 0), ["example.com", ".example.net"],
            [IPNetwork.Parse("127.0.0.2/32")]), new CapturedLogs(), default);
        // A postmaster without a domain (RFC 5321 §4.5.1), in any letter case, is no relay: Postfix skips its recipient
        // restrictions for it (smtpd_check_rcpt).
        string[] recipients = ["<u@example.com>", "<u@sub.example.net>", "<u@sub.example.com>", "<u@example.net>", "<u@example.org>", "<postmaster>", "<PostMaster>"];

        var fromPostfix = await RecipientsAsync(postfix.SmtpPort, IPAddress.Loopback, recipients);
        var fromRelay = await RecipientsAsync(relay.EndPoints[0].Port, IPAddress.Loopback, recipients);
        var trustedPostfix = await RecipientsAsync(postfix.SmtpPort, Trusted, "<u@example.org>");
        var trustedRelay = await RecipientsAsync(relay.EndPoints[0].Port, Trusted, "<u@example.org>");

        Assert.Multiple(() =>
        {
            // Postfix's 250 says "2.1.5 Ok", SmtpServer's "Ok": the refusals are the same to the byte.
            Assert.That(fromRelay.Select(Comparable), Is.EqualTo(fromPostfix.Select(Comparable)), string.Join(" | ", fromPostfix));
            Assert.That(fromPostfix.Select(r => r[..3]), Is.EqualTo(new[] { "250", "250", "554", "554", "554", "250", "250" }));
            Assert.That(trustedRelay.Select(Comparable), Is.EqualTo(trustedPostfix.Select(Comparable)).And.EqualTo(new[] { "250" }));
            // NOQUEUE before any recipient was accepted, the queue id after (here: after two).
            Assert.That(postfix.Log, Does.Match(@"\b\w+: reject: RCPT from unknown\[127\.0\.0\.1\]: 554 5\.7\.1 <u@sub\.example\.com>: Relay access denied;"));
        });

        static string Comparable(string reply) => reply.StartsWith("250 ", StringComparison.Ordinal) ? "250" : reply;
    }

    [Test]
    public async Task A_bare_postmaster_goes_to_the_next_hop_as_the_client_wrote_it_and_a_Postfix_next_hop_delivers_it_to_its_own_postmaster()
    {
        // The relay has no domain of its own to qualify the address with (Postfix's myorigin): the next hop's own
        // postmaster gets it, which Postfix there qualifies with its own origin.
        await using var postfix = await PostfixInstance.StartAsync("");
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        var options = Options(optionFile, Folder.Path, new IPEndPoint(IPAddress.Loopback, 0), ["example.com"], []) with
        {
            Maildir = null,
            NextHop = NextHop.TryParse($"127.0.0.1:{postfix.SmtpPort}"),
        };
        await using var relay = await RelayServer.StartAsync(options, new CapturedLogs(), default);
        var seen = new HashSet<string>(SmtpSink.DumpsIn(postfix.SinkFolder));

        var replies = await SmtpScriptClient.RunAsync(relay.EndPoints[0].Port, new SmtpDialogue("client.example",
            [new SmtpTransaction("<a@sender.example>", ["<PostMaster>"], Encoding.ASCII.GetBytes("Subject: x\r\n\r\nbody\r\n"))]));
        var delivered = await SmtpSink.WaitForNewDumpAsync(postfix.SinkFolder, seen, TimeSpan.FromSeconds(20));

        Assert.Multiple(() =>
        {
            Assert.That(replies.Where(r => r.Code >= 400), Is.Empty, "the relay took the message");
            Assert.That(delivered.RcptArgs.Single(), Does.StartWith("<PostMaster@"), "Postfix qualified it with its own origin");
            Assert.That(postfix.Log, Does.Contain("orig_to=<PostMaster>"), "what the relay sent it: the path as the client wrote it");
        });
    }

    /// <summary>EHLO, MAIL and one RCPT for each of <paramref name="recipients"/>, from <paramref name="source"/>: the RCPT replies.</summary>
    private static async Task<List<string>> RecipientsAsync(int port, IPAddress source, params string[] recipients)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await ReplyAsync();
        await SendAsync("EHLO client.example");
        await SendAsync("MAIL FROM:<a@sender.example>");
        var replies = new List<string>();
        foreach (var recipient in recipients)
        {
            replies.Add(await SendAsync($"RCPT TO:{recipient}"));
        }

        await SendAsync("QUIT");
        return replies;

        async Task<string> SendAsync(string line)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
            return await ReplyAsync();
        }

        async Task<string> ReplyAsync()
        {
            string? line;
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while ((line = await reader.ReadLineAsync(bound.Token)) is { Length: > 3 } && line[3] == '-')
            {
            }

            return line ?? "(closed)";
        }
    }
}
