using System.Net;
using System.Text;
using Moq;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// <see cref="SmtpServerFilteringOptions.RelayDomains"/> and <see cref="SmtpServerFilteringOptions.RelayNetworks"/>, as
/// Postfix's <c>smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination</c>
/// with <c>relay_domains</c> in its explicit style (<c>.example.com</c> for the subdomains), with Postfix's replies.
/// The tests' clients are all on loopback: untrusted when <see cref="SmtpServerFilteringOptions.RelayNetworks"/> is empty.
/// </summary>
public class RelayRestrictionTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static async Task<(SmtpLineClient Client, List<ClientReply> Replies)> RecipientsAsync(FilteringServer server, params string[] recipients)
    {
        var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@sender.example>");
        var replies = new List<ClientReply>();
        foreach (var recipient in recipients)
        {
            replies.Add(await client.SendAsync($"RCPT TO:{recipient}"));
        }

        return (client, replies);
    }

    [Test]
    public async Task A_recipient_outside_the_relay_domains_from_an_untrusted_client_gets_Postfixs_554_and_never_reaches_the_filter()
    {
        var filter = Filter();
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), logs: logs, relayDomains: ["example.com"], relayNetworks: []);

        var (client, replies) = await RecipientsAsync(server, "<u@example.com>", "<u@EXAMPLE.com>", "<u@other.org>", "<u@badexample.com>", "<\"a b\"@other.org>", "<u@[192.0.2.9]>");
        await using (client)
        {
            Assert.Multiple(() =>
            {
                Assert.That(replies.Take(2).Select(r => r.Code), Is.All.EqualTo(250), "the relay domain, in any letter case");
                Assert.That(replies.Skip(2).Select(r => r.Text), Is.EqualTo(new[]
                {
                    "554 5.7.1 <u@other.org>: Relay access denied",
                    "554 5.7.1 <u@badexample.com>: Relay access denied",
                    "554 5.7.1 <a b@other.org>: Relay access denied", // Postfix's internal form: the quotes off
                    "554 5.7.1 <u@[192.0.2.9]>: Relay access denied",
                }));
                filter.Verify(f => f.RcptAsync(It.Is<string>(r => !r.Contains("example.com", StringComparison.OrdinalIgnoreCase)), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
                filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Exactly(2));
                Assert.That(logs.Entries.First(e => e.EventId.Id == 6040).Message,
                    Does.EndWith(": RCPT from 127.0.0.1 to a domain not relayed (other.org): answered 554 5.7.1 Relay access denied"));
            });
        }
    }

    [Test]
    public async Task A_domain_is_itself_alone_and_with_a_leading_dot_its_subdomains_alone()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), relayDomains: ["example.com", ".example.net"], relayNetworks: []);

        var (client, replies) = await RecipientsAsync(server, "<u@example.com>", "<u@sub.example.com>", "<u@example.net>", "<u@deep.sub.example.net>");
        await using (client)
        {
            Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 554, 554, 250 }));
        }
    }

    [Test]
    public async Task A_client_in_a_relay_network_may_send_anywhere_and_loopback_is_one_by_default()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), relayDomains: ["example.com"]);

        var (client, replies) = await RecipientsAsync(server, "<u@other.org>");
        await using (client)
        {
            Assert.That(replies.Single().Code, Is.EqualTo(250), replies.Single().Text);
        }
    }

    [Test]
    public async Task An_authenticated_client_may_send_anywhere_and_the_same_client_unauthenticated_may_not()
    {
        var users = new Dictionary<string, string> { ["alice"] = "s3cret" };
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), users: users, relayDomains: ["example.com"], relayNetworks: []);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<alice@sender.example>");
        var before = await client.SendAsync("RCPT TO:<u@other.org>");
        await client.SendAsync("RSET");

        var auth = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0s3cret")));
        await client.SendAsync("MAIL FROM:<alice@sender.example>");
        var after = await client.SendAsync("RCPT TO:<u@other.org>");

        Assert.Multiple(() =>
        {
            Assert.That(before.Code, Is.EqualTo(554));
            Assert.That(auth.Code, Is.EqualTo(235), auth.Text);
            Assert.That(after.Code, Is.EqualTo(250), after.Text);
        });
    }

    [Test]
    public async Task Each_relay_denial_counts_as_an_error_so_the_twentieth_is_followed_by_421_too_many_errors()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), relayDomains: ["example.com"], relayNetworks: [], errorSleepTime: TimeSpan.Zero);

        var (client, replies) = await RecipientsAsync(server, [.. Enumerable.Range(1, 20).Select(i => $"<u{i}@other.org>")]);
        await using (client)
        {
            var last = await client.ReadReplyAsync();
            Assert.Multiple(async () =>
            {
                Assert.That(replies.Select(r => r.Code), Is.All.EqualTo(554));
                Assert.That(last?.Text, Is.EqualTo("421 4.7.0 mx.example.com Error: too many errors"));
                Assert.That(await client.IsClosedByServerAsync(), Is.True);
            });
        }
    }

    [Test]
    public async Task Without_relay_domains_every_recipient_from_every_client_is_accepted_as_before()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), relayNetworks: []);

        var (client, replies) = await RecipientsAsync(server, "<u@other.org>", "<u@[192.0.2.9]>");
        await using (client)
        {
            Assert.That(replies.Select(r => r.Code), Is.All.EqualTo(250));
        }
    }

    [Test]
    public async Task An_empty_list_of_relay_domains_lets_only_relay_networks_send_at_all()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), relayDomains: [], relayNetworks: [IPNetwork.Parse("192.0.2.0/24")]);

        var (client, replies) = await RecipientsAsync(server, "<u@example.com>");
        await using (client)
        {
            Assert.That(replies.Single().Text, Is.EqualTo("554 5.7.1 <u@example.com>: Relay access denied"));
        }
    }

    [TestCase("")]
    [TestCase(".")]
    [TestCase("user@example.com")]
    [TestCase("exa mple.com")]
    public void A_relay_domain_that_is_no_domain_is_refused_when_the_integration_is_made(string domain) =>
        Assert.That(() => new SmtpServerFiltering(new SmtpServerFilteringOptions { Store = new MemoryStore(), RelayDomains = [domain] }),
            Throws.ArgumentException.With.Message.Contains("is not a domain"));
}
