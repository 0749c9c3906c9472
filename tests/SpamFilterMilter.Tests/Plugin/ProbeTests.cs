using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// <c>MilterPlugin.ProbeAsync</c>, what check-config --reach and the health check call: what the milter negotiated, or a
/// public <see cref="MilterProtocolException"/> that says which failure it was.
/// </summary>
[TestFixture("async")]
[TestFixture("blocking")]
public class ProbeTests(string io) : TempFolderTest
{
    [Test]
    [Category("Integration")] // a real libmilter milter
    public async Task A_milter_that_answers_is_probed_for_what_it_negotiated()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(milter.Port, $"IO_MODE={io}\n"));

        var negotiated = await plugin.ProbeAsync();

        Assert.That(negotiated.Version, Is.EqualTo(6));
    }

    [Test]
    public async Task A_port_where_nothing_listens_is_a_connect_failure_a_caller_can_tell_apart()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort(), $"IO_MODE={io}\n"));

        var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await plugin.ProbeAsync())!;

        Assert.That((error.Kind, error.ErrorType, error.Stage), Is.EqualTo((MilterFailureKind.ConnectFailed, "connect", FilterStage.Connect)));
        Assert.That(error, Is.InstanceOf<IOException>(), "a caller that need not know catches IOException");
    }
}
