using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;

namespace SpamFilterMilter.Tests.Diagnostics;

/// <summary>The host's logger factory is a collaborator: the plug-in must log through it, under its category.</summary>
public class HostLoggerFactoryTests
{
    [Test]
    public async Task The_plug_in_logs_through_the_hosts_logger_factory_under_its_category()
    {
        var logger = new Moq.Mock<ILogger>();
        logger.Setup(l => l.IsEnabled(Moq.It.IsAny<LogLevel>())).Returns(true);
        var factory = new Moq.Mock<ILoggerFactory>();
        factory.Setup(f => f.CreateLogger(Log.Category)).Returns(logger.Object);
        using var folder = new TempFolder();
        var optionFile = folder.Write("milter.opt", TestPlugins.Loopback(TestPlugins.ClosedPort()));

        await using (var plugin = DeployedPlugin.Create(optionFile, factory.Object))
        {
            await using var session = plugin.OpenSession();
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1));
        }

        factory.Verify(f => f.CreateLogger(Log.Category), Moq.Times.Once());
        factory.Verify(f => f.Dispose(), Moq.Times.Never(), "the host owns its factory");
        logger.Verify(l => l.Log(LogLevel.Warning, new EventId(4001, "Failure"), Moq.It.IsAny<Moq.It.IsAnyType>(), null,
            Moq.It.IsAny<Func<Moq.It.IsAnyType, Exception?, string>>()), Moq.Times.Once());
    }
}
