using System.Globalization;
using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Running;

/// <summary>
/// A reload with the milter plug-in loaded by path and real libmilter milters: the option file is pointed from one
/// milter to another while a message is held on its way to the first (a proxy keeps its connection from reaching
/// the milter until the test lets it through).
/// </summary>
[Category("Integration")]
public sealed class ReloadEndToEndTests : TempFolderTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly ChannelTable Everything = new([new ChannelDefinition("tcp_local").AddSourceOptIn(1, "spam")]);

    private static HostMessage Message() => new()
    {
        Message = Encoding.ASCII.GetBytes("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nBody\r\n"),
        Envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]),
        SourceChannel = "tcp_local",
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net"),
        HeloName = "client.example.net",
    };

    private static string Milter(HostResult result) =>
        MessageEditor.ReadFields(result.Deliveries.Single().Message).Single(f => f.Name == "X-Milter").Value.ToString().Trim();

    private string OptionFile(int port, int poolSize) =>
        Folder.Write("milter.opt", string.Create(CultureInfo.InvariantCulture, $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=1000\nPOOL_SIZE={poolSize}\n"));

    [Test]
    public async Task New_messages_go_to_the_reloaded_HOST_and_PORT_while_a_message_in_flight_finishes_with_the_old_milter_whose_pool_is_closed_after_it()
    {
        await using var oldMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:old");
        await using var newMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:new");
        await using var proxy = new TcpProxy(oldMilter.Port);
        using var logs = new CapturedLogs();
        var optionFile = OptionFile(proxy.Port, poolSize: 1);
        var optionDat = Folder.Write("option.dat", $"spamfilter1_library={DeployedPlugin.Path}\nspamfilter1_config_file={optionFile}\n");
        await using var host = SpamFilterHost.Create(SpamFilterHostOptions.Load(optionDat), Everything, loggerFactory: logs);

        proxy.Hold();
        var inFlight = host.FilterAsync(Message());
        await proxy.FirstAccepted.WaitAsync(Patience);
        OptionFile(newMilter.Port, poolSize: 0);
        var reload = await host.ReloadAsync();
        var after = await host.FilterAsync(Message());

        Assert.That((reload.Applied, reload.MessagesInFlight), Is.EqualTo((true, 1)));
        Assert.That(reload.Changes, Is.EquivalentTo(new[]
        {
            $"slot 1 ({optionFile}): PORT: \"{proxy.Port}\" -> \"{newMilter.Port}\"",
            $"slot 1 ({optionFile}): POOL_SIZE: \"1\" -> \"0\"",
        }));
        Assert.That(Milter(after), Is.EqualTo("new"), "a message after the reload goes to the new PORT");
        Assert.That(proxy.ClientClosed.IsCompleted, Is.False, "the old plug-in's connection is still in use");

        proxy.Release();
        var held = await inFlight;

        Assert.That(Milter(held), Is.EqualTo("old"), "the message in flight finished with the milter it started with");
        await proxy.ClientClosed.WaitAsync(Patience);
        Assert.That(logs.Entries.Select(e => e.EventId.Id), Does.Contain(5043), "the old plug-in was disposed after its last message");
        Assert.That(proxy.Accepted, Is.EqualTo(1), "the new settings never reached the old milter");
    }
}
