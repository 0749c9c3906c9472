using System.Buffers;
using System.IO.Pipelines;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.IO;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The pipe SmtpServer talks to the client through, around the connection's own. Every reply SmtpServer flushes goes
/// through <see cref="FilteredSession.ReplyAsync"/> first, which may put the filter's reply in its place (SmtpServer
/// writes one line of its own text, or a fixed one such as <c>550 mailbox unavailable</c>; a milter's reply has its own
/// text and may have several lines). Once the session is closing (a 421 was written) the client's input ends, so
/// SmtpServer ends the session as when a client leaves.
/// </summary>
internal sealed class ReplyPipe : ISecurableDuplexPipe
{
    private readonly ISecurableDuplexPipe _connection;

    private int _ended;

    public ReplyPipe(ISecurableDuplexPipe connection, FilteredSession session)
    {
        _connection = connection;
        Input = new ClosingReader(connection, session, End);
        Output = new ReplyWriter(connection, session);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public bool IsSecure => _connection.IsSecure;

    public SslProtocols SslProtocol => _connection.SslProtocol;

    /// <summary>STARTTLS: the connection replaces its own reader and writer, which this pipe always asks it for.</summary>
    public Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken) =>
        _connection.UpgradeAsync(certificate, protocols, cancellationToken);

    /// <summary>
    /// The session ended: raised once, before the connection closes, when SmtpServer completes the input (which closes
    /// the connection's stream) or disposes the pipe, whichever comes first (it does both, however a session ends).
    /// </summary>
    public event Action? Ended;

    public void Dispose()
    {
        End();
        _connection.Dispose();
    }

    private void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            Ended?.Invoke();
        }
    }

    /// <summary>Collects what SmtpServer writes until it flushes; then writes the reply the session decides on.</summary>
    private sealed class ReplyWriter(ISecurableDuplexPipe connection, FilteredSession session) : PipeWriter
    {
        /// <summary>How long the last reply may take to go out once the server stops (a client that reads nothing).</summary>
        private static readonly TimeSpan FinalReplyTimeout = TimeSpan.FromSeconds(5);

        private readonly ArrayBufferWriter<byte> _written = new(256);

        public override Memory<byte> GetMemory(int sizeHint = 0) => _written.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => _written.GetSpan(sizeHint);

        public override void Advance(int bytes) => _written.Advance(bytes);

        public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var reply = await session.ReplyAsync(_written.WrittenMemory, cancellationToken).ConfigureAwait(false);
            var output = connection.Output;
            output.Write(reply.Span);
            _written.ResetWrittenCount();
            if (!cancellationToken.IsCancellationRequested)
            {
                return await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            // The server stops (SmtpServer writes with its cancelled token): the reply still goes out, the client must
            // learn what became of its message (250 when it was stored, else 421), but for a bounded time only.
            using var deadline = new CancellationTokenSource(FinalReplyTimeout);
            return await output.FlushAsync(deadline.Token).ConfigureAwait(false);
        }

        public override void CancelPendingFlush() => connection.Output.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => connection.Output.Complete(exception);
    }

    /// <summary>The client's input, ended once the session is closing.</summary>
    private sealed class ClosingReader(ISecurableDuplexPipe connection, FilteredSession session, Action end) : PipeReader
    {
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            session.IsClosing ? Ended : await connection.Input.ReadAsync(cancellationToken).ConfigureAwait(false);

        public override bool TryRead(out ReadResult result)
        {
            if (session.IsClosing)
            {
                result = Ended;
                return true;
            }

            return connection.Input.TryRead(out result);
        }

        public override void AdvanceTo(SequencePosition consumed) => connection.Input.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => connection.Input.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => connection.Input.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            end();
            connection.Input.Complete(exception);
        }

        private static ReadResult Ended => new(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);
    }
}
