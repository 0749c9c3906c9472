using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Net;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// Wraps SmtpServer's endpoint listener (or the application's): each connection it accepts becomes a
/// <see cref="FilteredSession"/>, whose pipe is what SmtpServer reads commands from and writes replies to. SmtpServer
/// disposes that pipe when the session ends, however it ends, which closes the filter session.
/// </summary>
internal sealed class FilteringListenerFactory(SmtpServerFilteringOptions options) : IEndpointListenerFactory
{
    private readonly IEndpointListenerFactory _inner = options.EndpointListenerFactory ?? new EndpointListenerFactory();
    private readonly ILogger _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SpamFilterMilter.SmtpServer");
    private readonly ConcurrentDictionary<FilteredSession, Task> _closing = new();

    public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition) =>
        new Listener(_inner.CreateListener(endpointDefinition), this);

    /// <summary>Completes once every session that ended has closed its filter session.</summary>
    public Task WhenClosedAsync() => Task.WhenAll(_closing.Values);

    private ISecurableDuplexPipe Open(ISessionContext context, ISecurableDuplexPipe pipe)
    {
        IFilterSession filter;
        try
        {
            filter = options.OpenFilter is { } open ? open(context) : new PassThroughFilterSession();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpServerLog.OpenFilterFailed(_logger, e);
            pipe.Dispose();
            throw;
        }

        var session = new FilteredSession(context, pipe, filter, options, _logger);
        session.Ended += ended => _closing[ended] = CloseAsync(ended);
        return session.Pipe;
    }

    private async Task CloseAsync(FilteredSession session)
    {
        await session.DisposeAsync().ConfigureAwait(false);
        _closing.TryRemove(session, out _);
    }

    private sealed class Listener(IEndpointListener inner, FilteringListenerFactory factory) : IEndpointListener
    {
        public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken) =>
            factory.Open(context, await inner.GetPipeAsync(context, cancellationToken).ConfigureAwait(false));

        public void Dispose() => inner.Dispose();
    }
}
