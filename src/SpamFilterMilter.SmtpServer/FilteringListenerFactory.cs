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
/// disposes that pipe when the session ends, however it ends, which closes the filter session; a filter session opened
/// for a connection whose session then cannot be made is closed with the connection.
/// </summary>
internal sealed class FilteringListenerFactory(SmtpServerFilteringOptions options, IReadOnlyCollection<string> droppedHeaderFields) : IEndpointListenerFactory
{
    private readonly IEndpointListenerFactory _inner = options.EndpointListenerFactory ?? new EndpointListenerFactory();
    private readonly ILogger _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("SpamFilterMilter.SmtpServer");
    private readonly ConcurrentDictionary<object, Task> _closing = new(ReferenceEqualityComparer.Instance);
    private readonly ClientConnections _connections = new(options.MaxConnectionsPerClient, options.ConnectionLimitExemptions);
    private readonly RelayRestriction? _relay = RelayRestriction.Of(options);

    // MaxConnections: a place is taken before a connection is accepted and given back when its session ends.
    private readonly SemaphoreSlim? _places = options.MaxConnections > 0 ? new SemaphoreSlim(options.MaxConnections) : null;
    private long _lastFullWarning = -60_000; // Environment.TickCount64 of the last 6032: none yet

    /// <summary>The messages under way in every session of this factory's listeners (<see cref="SmtpServerFiltering.DrainAsync"/>).</summary>
    public MessagesInFlight Messages { get; } = new();

    public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition) =>
        new Listener(_inner.CreateListener(endpointDefinition), this);

    /// <summary>Completes once every session that ended has closed its filter session (and every filter session no session came to own is closed).</summary>
    public Task WhenClosedAsync() => Task.WhenAll(_closing.Values);

    /// <summary>How many sessions that ended are still closing their filter session.</summary>
    internal int ClosingCount => _closing.Count;

    /// <summary>
    /// Waits for a place under <see cref="SmtpServerFilteringOptions.MaxConnections"/> before the next connection is
    /// accepted: while none is free the listener accepts nothing, and new clients wait in the system's listen queue, as
    /// Postfix's master stops accepting at its process limit. Warns (6032) when the limit is reached, at most once a minute.
    /// </summary>
    private async Task TakePlaceAsync(CancellationToken cancellationToken)
    {
        if (_places is null)
        {
            return;
        }

        if (!_places.Wait(0, CancellationToken.None))
        {
            var now = Environment.TickCount64;
            var last = Interlocked.Read(ref _lastFullWarning);
            if (now - last >= 60_000 && Interlocked.CompareExchange(ref _lastFullWarning, now, last) == last)
            {
                SmtpServerLog.ConnectionLimitReached(_logger, options.MaxConnections);
            }

            await _places.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <param name="context">The new session's context.</param>
    /// <param name="pipe">Its connection.</param>
    /// <param name="serverStopping">The token SmtpServer accepts with and runs the session with: cancelled when it stops.</param>
    private ISecurableDuplexPipe Open(ISessionContext context, ISecurableDuplexPipe pipe, CancellationToken serverStopping)
    {
        IFilterSession? filter = null;
        var counted = _connections.Open(FilteredSession.ClientAddressOf(context));
        var refusal = Messages.IsDraining ? SessionRefusal.Draining
            : counted is { OverLimit: true } ? SessionRefusal.TooManyConnections
            : SessionRefusal.None;
        FilteredSession session;
        try
        {
            // A refused session is greeted with 421: its filter is never asked, so none is opened.
            filter = options.OpenFilter is { } openFilter && refusal == SessionRefusal.None ? openFilter(context) : new PassThroughFilterSession();
            if (refusal == SessionRefusal.TooManyConnections)
            {
                SmtpServerLog.TooManyConnections(_logger, context.SessionId, counted!.Address, counted.Count, _connections.Limit);
            }

            session = new FilteredSession(context, pipe, filter, options, droppedHeaderFields, _relay, Messages, refusal, _logger, serverStopping);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpServerLog.OpenFilterFailed(_logger, e);
            if (filter is not null)
            {
                // Opened, but the session that was to own and close it was never made: closed here (its milter connection),
                // first, so that nothing below that throws can leave it open.
                Close(filter, () => CloseUnownedAsync(filter, context.SessionId));
            }

            counted?.Close();
            GiveBack();
            pipe.Dispose();
            throw;
        }

        session.Ended += endedSession => // once (ReplyPipe)
        {
            GiveBack();
            counted?.Close();
            Close(endedSession, endedSession.DisposeAsync);
        };
        return session.Pipe;
    }

    /// <summary>Closes a filter session no <see cref="FilteredSession"/> owns, as a session closes its own (6012 when that fails).</summary>
    private async ValueTask CloseUnownedAsync(IFilterSession filter, Guid sessionId)
    {
        try
        {
            await filter.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpServerLog.CloseFailed(_logger, sessionId, e);
        }
    }

    /// <summary>Gives back the place under MaxConnections that every accepted connection took (<see cref="TakePlaceAsync"/>).</summary>
    private void GiveBack() => _places?.Release();

    /// <summary>Runs <paramref name="close"/> for <paramref name="closing"/> (a session, or a filter session no session owns), counted in <see cref="WhenClosedAsync"/>.</summary>
    private void Close(object closing, Func<ValueTask> close)
    {
        // The closing is entered before it starts: one that completes at once must find its entry to remove.
        var entered = new TaskCompletionSource();
        _closing[closing] = CloseAsync(closing, close, entered.Task);
        entered.SetResult();
    }

    private async Task CloseAsync(object closing, Func<ValueTask> close, Task entered)
    {
        await entered.ConfigureAwait(false);
        try
        {
            await close().ConfigureAwait(false);
        }
        finally
        {
            _closing.TryRemove(closing, out _);
        }
    }

    private sealed class Listener(IEndpointListener inner, FilteringListenerFactory factory) : IEndpointListener
    {
        public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
        {
            await factory.TakePlaceAsync(cancellationToken).ConfigureAwait(false);
            ISecurableDuplexPipe pipe;
            try
            {
                pipe = await inner.GetPipeAsync(context, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                factory.GiveBack(); // nothing accepted (the server stops, or accepting failed)
                throw;
            }

            return factory.Open(context, pipe, cancellationToken);
        }

        public void Dispose() => inner.Dispose();
    }
}
