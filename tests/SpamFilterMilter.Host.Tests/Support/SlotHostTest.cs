using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>
/// A host whose plug-ins are mocked (<see cref="FakePlugins"/>, Moq) and whose slots 1 to 4 are all selected
/// through the source channel (sourcespamfilterX), so that the selection is not the point; a message from
/// alice to bob.
/// </summary>
public abstract class SlotHostTest : TempFolderTest
{
    protected const string Text = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nBody\r\n";

    /// <summary>Every slot selected for every message from tcp_local, with the opt-in value spam.</summary>
    protected static readonly ChannelTable Everything = new(
    [
        new ChannelDefinition("tcp_local")
            .AddSourceOptIn(1, "spam").AddSourceOptIn(2, "spam").AddSourceOptIn(3, "spam").AddSourceOptIn(4, "spam"),
    ]);

    /// <summary>The plug-ins the slots load, and what each was asked.</summary>
    protected FakePlugins Plugins { get; } = new();

    /// <summary><paramref name="text"/> from alice@example.org over tcp_local to <paramref name="recipients"/> (bob@example.com when none).</summary>
    protected static HostMessage Message(string text = Text, params string[] recipients) => new()
    {
        Message = Encoding.UTF8.GetBytes(text),
        Envelope = new Envelope("alice@example.org", ["BODY=8BITMIME"], (recipients.Length == 0 ? ["bob@example.com"] : recipients).Select(r => new EnvelopeRecipient(r)).ToArray()),
        SourceChannel = "tcp_local",
        Client = ClientInfo.Tcp(System.Net.IPAddress.Parse("192.0.2.7"), 4711, "client.example.net"),
        HeloName = "helo.example.net",
        Macros = new Dictionary<string, string> { ["j"] = "mx.example.com" },
    };

    /// <summary>Filters <paramref name="message"/> (default: <see cref="Message"/>) with a host on <paramref name="optionDat"/>, then disposes the host.</summary>
    protected async Task<HostResult> FilterAsync(string optionDat, HostMessage? message = null)
    {
        await using var host = Plugins.Host(Folder, optionDat, Everything);
        return await host.FilterAsync(message ?? Message());
    }

    /// <summary>
    /// Filters <paramref name="message"/> through slots 1, 2, ... whose plug-ins (a, b, ...) answer the string
    /// verdicts given, each run as the Sieve it is (the default spamfilterX_string_action, data:,$U).
    /// </summary>
    protected async Task<HostResult> FilterThroughAsync(HostMessage message, params string[] verdicts)
    {
        var optionDat = new StringBuilder();
        for (var i = 0; i < verdicts.Length; i++)
        {
            var name = ((char)('a' + i)).ToString();
            Plugins.Add(name, FakePlugins.Verdict(verdicts[i]));
            optionDat.Append(FakePlugins.Slot(i + 1, name));
        }

        return await FilterAsync(optionDat.ToString(), message);
    }

    /// <inheritdoc cref="FilterThroughAsync(HostMessage, string[])"/>
    protected Task<HostResult> FilterThroughAsync(params string[] verdicts) => FilterThroughAsync(Message(), verdicts);

    /// <summary>The delivered message as text.</summary>
    protected static string Body(DeliveryResult delivery) => Encoding.UTF8.GetString(delivery.Message);
}
