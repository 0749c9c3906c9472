using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace SpamFilterMilter.Transport;

/// <summary>
/// A non-blocking socket served by <see cref="IoReactor"/>: each read or write is tried at once and, when it would
/// block, parked until the reactor sees the socket ready; it then finishes on the reactor's thread, which runs what
/// awaited it (see <see cref="IoReactor"/> for why). A cancellation or a failure finishes it on the thread pool instead,
/// so that nothing of ours runs inside the caller of <see cref="CancellationTokenSource.Cancel()"/>. Owns the socket.
/// One read and one write may be under way at a time, as on any stream.
/// </summary>
internal sealed class ReactorStream : Stream
{
    private readonly Socket _socket;
    private readonly IoReactor _reactor;
    private readonly IoReactor.Registration _registration;
    private readonly Lock _gate = new();
    private readonly Reading _reading;
    private readonly Writing _writing;
    private bool _disposed;
    private volatile bool _peerClosed; // the peer closed or the socket failed: no read can be skipped as drained any more
    private ConnectionCount? _count;

    private ReactorStream(Socket socket, IoReactor reactor)
    {
        _socket = socket;
        _reactor = reactor;
        _reading = new Reading(this);
        _writing = new Writing(this);
        _registration = reactor.Register(this, socket);
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>
    /// Connects <paramref name="socket"/> (options already set) without blocking and serves it from then on. A UNIX
    /// socket connects at once or not at all: it is connected first, bounded by its send timeout, as blocking mode does.
    /// </summary>
    public static async ValueTask<ReactorStream> ConnectAsync(IoReactor reactor, Socket socket, EndPoint endpoint, TimeSpan bound, CancellationToken cancellationToken)
    {
        var pending = false;
        if (socket.AddressFamily == AddressFamily.Unix)
        {
            socket.SendTimeout = (int)Math.Clamp(Math.Ceiling(bound.TotalMilliseconds), 1, int.MaxValue);
            socket.Connect(endpoint);
            socket.SendTimeout = 0;
            socket.Blocking = false;
        }
        else
        {
            socket.Blocking = false;
            pending = !NativeSocket.StartConnect(socket, endpoint); // no exception for the connect under way
        }

        // Watched only now: a TCP socket not yet connecting reads as hung up, which would end the wait at once.
        var stream = new ReactorStream(socket, reactor);
        if (pending)
        {
            try
            {
                await stream._writing.ConnectAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return stream;
    }

    /// <summary>The reactor whose threads serve this stream.</summary>
    internal IoReactor Reactor => _reactor;

    /// <summary>Closes <paramref name="count"/> when the stream is disposed.</summary>
    public void CountAs(ConnectionCount count) => _count = count;

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _reading.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _writing.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            var read = _socket.Receive(buffer, SocketFlags.None, out var error);
            if (error != SocketError.WouldBlock)
            {
                return error == SocketError.Success ? read : throw Failure("read", error);
            }

            _socket.Poll(-1, SelectMode.SelectRead);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var sent = _socket.Send(buffer, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                _socket.Poll(-1, SelectMode.SelectWrite);
                continue;
            }

            buffer = error == SocketError.Success ? buffer[sent..] : throw Failure("write", error);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>The socket is readable or writable (or failed): a parked operation goes on.</summary>
    internal void OnEvents(uint events)
    {
        if ((events & (Epoll.ReadHangUp | Epoll.HangUp | Epoll.Error)) != 0)
        {
            _peerClosed = true; // before the edge is counted, so a read that sees the edge sees this too
        }

        if ((events & (Epoll.In | Epoll.ReadHangUp | Epoll.HangUp | Epoll.Error)) != 0)
        {
            _reading.OnReady();
        }

        if ((events & (Epoll.Out | Epoll.HangUp | Epoll.Error)) != 0)
        {
            _writing.OnReady();
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                base.Dispose(disposing);
                return;
            }

            _disposed = true;
        }

        _reactor.Unregister(_registration, _socket);
        _socket.Dispose();
        _reading.Abort();
        _writing.Abort();
        _count?.Close();

        base.Dispose(disposing);
    }

    /// <summary>What a NetworkStream throws for the same error, so callers handle both alike.</summary>
    private static IOException Failure(string what, SocketError error)
    {
        var cause = new SocketException((int)error);
        return new IOException($"Unable to {what} data from the transport connection: {cause.Message}.", cause);
    }

    private enum Outcome
    {
        Done,
        WouldBlock,
        Failed,
    }

    private enum State
    {
        Idle,
        Parked, // waiting for the reactor
        Running, // being tried again by the reactor
    }

    /// <summary>
    /// One direction's operation: tried by its caller, parked when it would block, tried again by the reactor on each
    /// readiness edge. The count of edges seen tells an attempt that raced with an edge to try once more rather than
    /// park (with edge-triggered epoll that edge would not come again), and tells a new operation whether anything
    /// came since the socket was last found drained: if not, it parks without a system call that would only say so
    /// (a read right after a command, before the milter could answer, is most of them).
    /// </summary>
    private abstract class Operation(ReactorStream stream) : IValueTaskSource<int>, IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<int> _core;
        private int _edges;
        private int _drainedAt = -1; // the edge count when an attempt last found nothing more to do
        private State _state;
        private bool _cancelled;
        private CancellationToken _token;
        private CancellationTokenRegistration _registration;

        protected ReactorStream Stream { get; } = stream;

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        /// <summary>
        /// <paramref name="operation"/> (from <see cref="Start"/>) as a <see cref="ValueTask"/>, without allocating: a
        /// parked one is this source's current operation (its version does not change until the caller has awaited it).
        /// </summary>
        protected ValueTask WithoutResult(ValueTask<int> operation) =>
            operation.IsCompletedSuccessfully ? ValueTask.CompletedTask
            : operation.IsCompleted ? new ValueTask(operation.AsTask())
            : new ValueTask(this, _core.Version);

        /// <summary>A readiness edge: counted, and a parked operation tried again on this thread.</summary>
        public void OnReady()
        {
            lock (Stream._gate)
            {
                _edges++;
                if (_state != State.Parked)
                {
                    return;
                }

                _state = State.Running;
            }

            Resume();
        }

        /// <summary>The stream is closing: a parked operation fails now, a running one when it next finds the socket gone.</summary>
        public void Abort()
        {
            lock (Stream._gate)
            {
                if (_state != State.Parked)
                {
                    return;
                }

                _state = State.Running;
            }

            Finish(Outcome.Failed, 0, new ObjectDisposedException(nameof(ReactorStream)));
        }

        /// <summary>Tries once: <see cref="Outcome.Done"/> with a result, <see cref="Outcome.Failed"/> with an exception, or would block.</summary>
        protected abstract Outcome Attempt(out int result, out Exception? error);

        /// <summary>Whether a done attempt with <paramref name="result"/> found the socket drained (a read that got less than it asked for).</summary>
        protected virtual bool Drained(int result) => false;

        /// <summary>Tries now; parks the operation when it would block. The caller set up what <see cref="Attempt"/> uses.</summary>
        protected ValueTask<int> Start(CancellationToken cancellationToken)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<int>(cancellationToken);
            }

            short version;
            while (true)
            {
                var edges = Volatile.Read(ref _edges);
                var (result, error) = (0, (Exception?)null);
                // Drained as of this edge: nothing new can be there, unless the peer has closed (the end of the stream,
                // or an error, came with the edge that brought the last bytes, and no edge will follow it).
                var outcome = edges == _drainedAt && !Stream._peerClosed ? Outcome.WouldBlock : Try(edges, out result, out error);
                if (outcome == Outcome.Done)
                {
                    return new ValueTask<int>(result);
                }

                if (outcome == Outcome.Failed)
                {
                    return ValueTask.FromException<int>(error!);
                }

                lock (Stream._gate)
                {
                    if (Stream._disposed)
                    {
                        return ValueTask.FromException<int>(new ObjectDisposedException(nameof(ReactorStream)));
                    }

                    if (_edges != edges)
                    {
                        continue; // ready again since we tried
                    }

                    _core.Reset();
                    version = _core.Version;
                    _state = State.Parked;
                    _cancelled = false;
                    _token = cancellationToken;
                }

                break;
            }

            if (cancellationToken.CanBeCanceled)
            {
                // Registered after parking: a token cancelled meanwhile calls back at once, and finds it parked.
                var registration = cancellationToken.UnsafeRegister(static s => ((Operation)s!).Cancel(), this);
                lock (Stream._gate)
                {
                    if (_state != State.Idle && _core.Version == version)
                    {
                        (_registration, registration) = (registration, default);
                    }
                }

                registration.Unregister(); // the operation finished first (never Dispose here: it would wait for a running callback)
            }

            return new ValueTask<int>(this, version);
        }

        private void Cancel()
        {
            lock (Stream._gate)
            {
                if (_state == State.Running)
                {
                    _cancelled = true; // the reactor is trying it: it fails when it would park again
                    return;
                }

                if (_state != State.Parked)
                {
                    return;
                }

                _state = State.Running;
            }

            Finish(Outcome.Failed, 0, new OperationCanceledException(_token));
        }

        /// <summary>One attempt, noting when it found the socket drained as of <paramref name="edges"/>.</summary>
        private Outcome Try(int edges, out int result, out Exception? error)
        {
            var outcome = Attempt(out result, out error);
            if (outcome == Outcome.WouldBlock || (outcome == Outcome.Done && Drained(result)))
            {
                _drainedAt = edges;
            }

            return outcome;
        }

        private void Resume()
        {
            while (true)
            {
                var edges = Volatile.Read(ref _edges);
                var outcome = Try(edges, out var result, out var error);
                if (outcome == Outcome.WouldBlock)
                {
                    lock (Stream._gate)
                    {
                        if (_edges != edges)
                        {
                            continue;
                        }

                        if (!_cancelled && !Stream._disposed)
                        {
                            _state = State.Parked;
                            return;
                        }

                        (outcome, error) = (Outcome.Failed, _cancelled ? new OperationCanceledException(_token) : new ObjectDisposedException(nameof(ReactorStream)));
                    }
                }

                Finish(outcome, result, error);
                return;
            }
        }

        private void Finish(Outcome outcome, int result, Exception? error)
        {
            CancellationTokenRegistration registration;
            lock (Stream._gate)
            {
                _state = State.Idle;
                (registration, _registration) = (_registration, default);
            }

            registration.Unregister();

            // Data goes on on this (the reactor's) thread; a failure or a cancellation on the thread pool.
            _core.RunContinuationsAsynchronously = outcome != Outcome.Done;
            if (outcome == Outcome.Done)
            {
                _core.SetResult(result);
            }
            else
            {
                _core.SetException(error!);
            }
        }
    }

    private sealed class Reading(ReactorStream stream) : Operation(stream)
    {
        private Memory<byte> _buffer;

        public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            _buffer = buffer;
            return Start(cancellationToken);
        }

        // Less than asked for: a stream socket's queue was empty then (end of stream, 0, is not: it reads 0 again at once).
        protected override bool Drained(int result) => result > 0 && result < _buffer.Length;

        protected override Outcome Attempt(out int result, out Exception? error)
        {
            error = null;
            try
            {
                result = Stream._socket.Receive(_buffer.Span, SocketFlags.None, out var code);
                switch (code)
                {
                    case SocketError.Success:
                        return Outcome.Done;
                    case SocketError.WouldBlock:
                        return Outcome.WouldBlock;
                    default:
                        error = Failure("read", code);
                        return Outcome.Failed;
                }
            }
            catch (ObjectDisposedException e)
            {
                (result, error) = (0, e);
                return Outcome.Failed;
            }
        }
    }

    private sealed class Writing(ReactorStream stream) : Operation(stream)
    {
        private ReadOnlyMemory<byte> _rest;
        private bool _connecting;

        public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        {
            _rest = buffer;
            _connecting = false;
            return WithoutResult(Start(cancellationToken));
        }

        public ValueTask ConnectAsync(CancellationToken cancellationToken)
        {
            _connecting = true;
            return WithoutResult(Start(cancellationToken));
        }

        protected override Outcome Attempt(out int result, out Exception? error)
        {
            (result, error) = (0, null);
            try
            {
                return _connecting ? Connected(out error) : Sent(out error);
            }
            catch (ObjectDisposedException e)
            {
                error = e;
                return Outcome.Failed;
            }
        }

        private Outcome Connected(out Exception? error)
        {
            error = null;
            var socket = Stream._socket;
            if (!socket.Poll(0, SelectMode.SelectWrite) && !socket.Poll(0, SelectMode.SelectError))
            {
                return Outcome.WouldBlock;
            }

            var code = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
            if (code == 0)
            {
                return Outcome.Done;
            }

            error = new SocketException(code);
            return Outcome.Failed;
        }

        private Outcome Sent(out Exception? error)
        {
            error = null;
            while (!_rest.IsEmpty)
            {
                var sent = Stream._socket.Send(_rest.Span, SocketFlags.None, out var code);
                if (code == SocketError.WouldBlock)
                {
                    return Outcome.WouldBlock;
                }

                if (code != SocketError.Success)
                {
                    error = Failure("write", code);
                    return Outcome.Failed;
                }

                _rest = _rest[sent..];
            }

            return Outcome.Done;
        }
    }
}
