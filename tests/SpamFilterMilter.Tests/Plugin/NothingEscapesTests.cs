using SpamFilterMilter.Options;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Tests.Transport;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// Nothing but <see cref="OperationCanceledException"/> for the host's own token escapes a filtering call: what the
/// runtime refuses, a message the plug-in cannot read, a fault of its own, all become the failure outcome (or, where
/// the options can tell in advance, a configuration error when the option file is read).
/// </summary>
public class NothingEscapesTests : TempFolderTest
{
    private static MessageSubmission Message(Stream body) => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25),
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = body,
    };

    [Test]
    public void A_host_name_longer_than_DNS_takes_is_a_configuration_error()
    {
        var path = Folder.Write("long.opt", $"HOST={new string('a', 300)}.example\nPORT=8890\n");

        var e = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((1, "HOST", "a host name is at most 253 characters; this one has 308")));
    }

    [Test]
    public void A_socket_path_longer_than_a_UNIX_domain_socket_holds_is_a_configuration_error()
    {
        var path = Folder.Write("unix.opt", $"HOST=unix:/{new string('s', 200)}\n");

        var e = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;

        Assert.That((e.Line, e.Option), Is.EqualTo((1, "HOST")));
        Assert.That(e.Problem, Does.StartWith("the socket path is 201 bytes long"));
    }

    [Test]
    public async Task What_the_runtime_refuses_while_connecting_is_a_connect_failure_not_an_exception()
    {
        var options = new MilterOptions { Host = "milter.example", Port = 8890, SourcePath = "test" };
        var connector = Connectors.ToFirstServer(options,
            (_, _) => throw new ArgumentOutOfRangeException("hostName", "The runtime refuses this name."));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await connector.ConnectAsync(default))!;

        Assert.That((error.Kind, error.Stage), Is.EqualTo((MilterFailureKind.ConnectFailed, FilterStage.Connect)));
        Assert.That(error.Cause, Does.StartWith("can't connect to milter.example:8890: ArgumentOutOfRangeException:"));
        await Task.CompletedTask;
    }

    [TestCase("header")]
    [TestCase("body")]
    public async Task A_message_the_host_cannot_deliver_whole_gets_the_failure_outcome(string where)
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, _ => null);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port));
        var text = where == "header" ? "Subject: broken" : "Subject: fine\r\n\r\nbody that breaks";

        var verdict = await plugin.FilterMessageAsync(Message(new BreakingStream(System.Text.Encoding.ASCII.GetBytes(text))));
        await milter;

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Stage, Is.EqualTo(where == "header" ? FilterStage.Header : FilterStage.Body));
        Assert.That(verdict.Failure.Cause, Is.EqualTo("the message could not be read: the host's disk went away"));
        Assert.That(verdict.Action, Is.EqualTo(FilterAction.TempFail), "the configured failure action");
    }

    [Test]
    public async Task A_header_line_longer_than_the_reader_takes_gets_the_failure_outcome()
    {
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, _ => null);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port));

        var verdict = await plugin.FilterMessageAsync(Message(new MemoryStream(System.Text.Encoding.ASCII.GetBytes("X-Long: " + new string('x', 2 << 20) + "\r\n\r\nbody\r\n"))));
        await milter;

        Assert.That((verdict.Kind, verdict.Failure!.Stage), Is.EqualTo((VerdictKind.Failure, (FilterStage?)FilterStage.Header)));
        Assert.That(verdict.Failure.Cause, Does.StartWith("the message could not be read: A header line of the message is longer than"));
    }

    /// <summary>Gives its bytes, then fails as a host's storage might.</summary>
    private sealed class BreakingStream(byte[] start) : MemoryStream(start)
    {
        public override int Read(byte[] buffer, int offset, int count) => Position < Length
            ? base.Read(buffer, offset, count)
            : throw new IOException("the host's disk went away");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Position < Length
            ? base.ReadAsync(buffer, cancellationToken)
            : throw new IOException("the host's disk went away");
    }
}
