using Moq;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Net;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// What the integration's listener does with each connection SmtpServer accepts: it opens the connection's filter session
/// and makes the SMTP session that owns it, and when that fails, nothing it opened is left open.
/// </summary>
public class FilteringListenerFactoryTests
{
    [Test]
    public async Task A_filter_session_opened_for_a_session_that_cannot_be_made_is_closed_with_the_connection()
    {
        var filter = new Mock<IFilterSession>();
        filter.Setup(f => f.DisposeAsync()).Returns(ValueTask.CompletedTask);
        var connection = new Mock<ISecurableDuplexPipe>();
        var inner = new Mock<IEndpointListener>();
        inner.Setup(l => l.GetPipeAsync(It.IsAny<ISessionContext>(), It.IsAny<CancellationToken>())).ReturnsAsync(connection.Object);
        var listeners = new Mock<IEndpointListenerFactory>();
        listeners.Setup(f => f.CreateListener(It.IsAny<IEndpointDefinition>())).Returns(inner.Object);
        var factory = new FilteringListenerFactory(new SmtpServerFilteringOptions
        {
            OpenFilter = _ => filter.Object,
            Store = new MemoryStore(),
            EndpointListenerFactory = listeners.Object,
        }, SmtpFilterSession.DefaultDroppedHeaderFields);
        // A server without a name: the session, which words Postfix's greetings with it, cannot be made.
        var context = new Mock<ISessionContext>();
        context.Setup(c => c.ServerOptions).Returns(new SmtpServerOptionsBuilder().ServerName(string.Empty).Build());
        context.Setup(c => c.Properties).Returns(new Dictionary<string, object>());
        var listener = factory.CreateListener(Mock.Of<IEndpointDefinition>());

        Assert.That(async () => await listener.GetPipeAsync(context.Object, CancellationToken.None), Throws.ArgumentException);
        await factory.WhenClosedAsync();

        Assert.Multiple(() =>
        {
            filter.Verify(f => f.DisposeAsync(), Times.Once);
            connection.Verify(c => c.Dispose(), Times.Once);
            Assert.That(factory.ClosingCount, Is.Zero);
        });
    }
}
