using Moq;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// The start the RCPT tests share: a filtering server that relays for example.com alone (no trusted network, no trace
/// field), a filter that lets everything through, a memory store, and a client that said EHLO and, unless told otherwise,
/// <c>MAIL FROM:&lt;a@example.org&gt;</c>.
/// </summary>
public sealed class RelayingSession : IAsyncDisposable
{
    private RelayingSession(Mock<IFilterSession> filter, MemoryStore store, FilteringServer server, SmtpLineClient client) =>
        (Filter, Store, Server, Client) = (filter, store, server, client);

    public Mock<IFilterSession> Filter { get; }

    public MemoryStore Store { get; }

    public FilteringServer Server { get; }

    public SmtpLineClient Client { get; }

    /// <summary>Starts the server and connects the client; <paramref name="mail"/> false stops after EHLO.</summary>
    public static async Task<RelayingSession> StartAsync(bool mail = true, int maxRecipients = SmtpServerFilteringOptions.DefaultMaxRecipients, int maxMessageSize = 0)
    {
        var filter = FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);
        var store = new MemoryStore();
        var server = await StartServerAsync(filter, store, maxRecipients, maxMessageSize);
        var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        if (mail)
        {
            await client.SendAsync("MAIL FROM:<a@example.org>");
        }

        return new RelayingSession(filter, store, server, client);
    }

    /// <summary>The server alone, for a test that talks to it its own way.</summary>
    public static Task<FilteringServer> StartServerAsync(Mock<IFilterSession> filter, MemoryStore store,
        int maxRecipients = SmtpServerFilteringOptions.DefaultMaxRecipients, int maxMessageSize = 0) =>
        FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false, relayDomains: ["example.com"], relayNetworks: [],
            maxRecipients: maxRecipients, maxMessageSize: maxMessageSize);

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}
