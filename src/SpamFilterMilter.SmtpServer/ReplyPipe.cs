using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SmtpServer.IO;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The pipe SmtpServer talks to the client through, around the connection's own. Every reply SmtpServer flushes goes
/// through <see cref="FilteredSession.ReplyAsync"/> first, which may put the filter's reply in its place (SmtpServer
/// writes one line of its own text, or a fixed one such as <c>550 mailbox unavailable</c>; a milter's reply has its own
/// text and may have several lines). Once the session is closing (a 421 was written) the client's input ends, so
/// SmtpServer ends the session as when a client leaves. A session SmtpServer ends without a last word because the server
/// stopped between two commands (it looks at its token only there) gets a 421 before its connection closes. Each command
/// line is looked at as the client sent it before SmtpServer parses it (<see cref="LastCommandLine"/>), for what SmtpServer's
/// parser cannot read or does not keep.
/// </summary>
internal sealed class ReplyPipe : ISecurableDuplexPipe
{
    /// <summary>How long the last reply may take to go out once the server stops (a client that reads nothing).</summary>
    private static readonly TimeSpan FinalReplyTimeout = TimeSpan.FromSeconds(5);

    private readonly ISecurableDuplexPipe _connection;
    private readonly FilteredSession _session;
    private readonly CancellationToken _serverStopping;

    private TlsConnection? _tls; // after STARTTLS (or on a TLS endpoint): the client's bytes go through it
    private volatile bool _writeAbandoned; // a write over TLS outlived its bound: nothing more can be written, the connection is closed
    private int _ended;
    private volatile bool _saidGoodbye; // a 221 or 421 was written: the client knows the session is over
    private volatile bool _clientLeft; // the client ended its side of the connection
    private volatile bool _faulted; // SmtpServer ended the session on an exception of its own
    private volatile bool _tlsFailed; // the TLS handshake failed: nothing more can be said on the connection
    private volatile bool _timedOut; // a read waited too long: the 421 4.4.2 went out, nothing more does
    private MessageSizeGate? _message; // after a 354, when the server has a MaxMessageSize: the message is read through it
    private MessageSizeGate? _taken; // the message it read, until the session takes it
    // What SmtpServer is given in place of what the client sent: the final dot alone for the message the gate read, or
    // a command line's CommandLine.Replacement (a RCPT TO:<postmaster> without a domain, a MAIL with parameters, a NOOP
    // for a line refused before SmtpServer may read it), or a long line as it was cut.
    private ReadOnlySequence<byte> _standIn;
    private volatile bool _awaitingText; // SmtpServer's last reply was a 3xx (334, 354): it reads an AUTH answer or a message next, no command
    private byte[]? _cut; // a command line longer than Postfix reads: its first bytes and a CR LF, while the rest of it is skipped
    private bool _dropReply; // SmtpServer was given a command before the client's line (CommandLine.Before): its next reply is that one's

    /// <param name="connection">The connection's own pipe.</param>
    /// <param name="session">The session whose replies are written here.</param>
    /// <param name="serverStopping">The token SmtpServer runs the session with: cancelled when the server stops.</param>
    public ReplyPipe(ISecurableDuplexPipe connection, FilteredSession session, CancellationToken serverStopping)
    {
        _connection = connection;
        _session = session;
        _serverStopping = serverStopping;
        Input = new ClosingReader(this);
        Output = new ReplyWriter(this);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public bool IsSecure => _tls is not null || _connection.IsSecure;

    public SslProtocols SslProtocol => _tls?.Protocol ?? _connection.SslProtocol;

    /// <summary>The session's TLS once STARTTLS succeeded: what the milter is told of it.</summary>
    public TlsConnection? Tls => _tls;

    /// <summary>
    /// The command line SmtpServer was last given to parse, as the client sent it: what the command SmtpServer executes
    /// now was written as (<see cref="CommandLine"/>). SmtpServer reads one line, executes its command, then reads the next.
    /// </summary>
    public CommandLine LastCommandLine { get; private set; }

    /// <summary>What the client sends: the connection's own reader, or TLS's over it.</summary>
    private PipeReader ClientInput => _tls?.Input ?? _connection.Input;

    /// <summary>What goes to the client: the connection's own writer, or TLS's over it.</summary>
    private PipeWriter ClientOutput => _tls?.Output ?? _connection.Output;

    /// <summary>STARTTLS (or a TLS endpoint's first step): from here on the client's bytes go through TLS.</summary>
    public async Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken)
    {
        if (_tls is not null)
        {
            throw new InvalidOperationException("TLS is already running on this connection.");
        }

        var chain = (_session.CertificateFactory as PemServerCertificate)?.ContextFor(certificate);
        // The handshake's reads have the same bound as any other (Postfix's smtpd_starttls_timeout is smtpd_timeout's 300 s).
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_session.ReadTimeout != Timeout.InfiniteTimeSpan)
        {
            limit.CancelAfter(_session.ReadTimeout);
        }

        try
        {
            try
            {
                _tls = await TlsConnection.AcceptAsync(_connection, certificate, chain, protocols, limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // An IOException ends the session, as a failed handshake does: there is no plain-text session to go back to.
                throw new IOException($"the TLS handshake took more than {_session.ReadTimeout.TotalSeconds} s", e);
            }
        }
        catch (Exception e) when (e is AuthenticationException or IOException or System.Security.Cryptography.CryptographicException)
        {
            _tlsFailed = true;
            _session.TlsFailed(e);
            throw;
        }

        _session.TlsStarted(_tls);
    }

    /// <summary>
    /// The message the pipe read after the 354 in SmtpServer's place (<see cref="MessageSizeGate"/>), when the server has
    /// a <c>MaxMessageSize</c>: SmtpServer was given it empty; null when it read none (no limit).
    /// </summary>
    public MessageSizeGate? TakeMessage()
    {
        var taken = _taken;
        _taken = null;
        return taken;
    }

    /// <summary>
    /// The session ended: raised once, before the connection closes, when SmtpServer completes the input (which closes
    /// the connection's stream) or disposes the pipe, whichever comes first (it does both, however a session ends).
    /// </summary>
    public event Action? Ended;

    public void Dispose()
    {
        End();
        _tls?.Dispose();
        _connection.Dispose();
    }

    /// <summary>
    /// SmtpServer ended the session on <paramref name="exception"/> (its parser's, on a MAIL it cannot take): the session's
    /// last words are then <see cref="FilteredSession.InternalError"/>, where SmtpServer would close the connection in
    /// silence. False, and nothing written, when there is no one to tell or it was told already: the connection broke (a
    /// client that reset it, a socket gone), a TLS handshake failed (logged already), the client left, a write was given
    /// up, or a goodbye or a closing reply went out.
    /// </summary>
    public bool Faulted(Exception exception)
    {
        _faulted = exception is not (IOException or SocketException or ObjectDisposedException)
            && !_tlsFailed && !_saidGoodbye && !_session.IsClosing && !_clientLeft && !_writeAbandoned;
        return _faulted;
    }

    private void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            Ended?.Invoke();
        }
    }

    /// <summary>
    /// Writes 421 when the session ends because the server stopped and the client was told nothing: SmtpServer looks at
    /// its token before reading each command and ends the session in silence when it finds it cancelled there, where a
    /// client, which cannot tell a silent close from a broken connection, might count its message as failed. The same
    /// for a session SmtpServer ended on an exception (<see cref="Faulted"/>), with its own 421.
    /// </summary>
    private async ValueTask SayGoodbyeIfStoppedAsync()
    {
        // IsClosing: a 421 of the filter's went out (a reply of several lines starts "421-").
        var stopped = _serverStopping.IsCancellationRequested;
        if (!(stopped || _faulted) || _saidGoodbye || _session.IsClosing || _clientLeft || _writeAbandoned || Volatile.Read(ref _ended) == 1)
        {
            return;
        }

        _saidGoodbye = true;
        if (stopped)
        {
            _session.StoppedBetweenCommands();
        }

        await WriteLastLineAsync(stopped ? FilteredSession.ShuttingDownLine : FilteredSession.InternalErrorLine, stopped ? _serverStopping : null).ConfigureAwait(false);
    }

    /// <summary>
    /// A read waited its whole <see cref="FilteredSession.ReadTimeout"/>: the client is told (421 4.4.2), within
    /// <see cref="FinalReplyTimeout"/>, and the input ends, so SmtpServer ends the session as when a client leaves. What
    /// SmtpServer writes after it (its 554 for a message it could not read to the end) is not sent.
    /// </summary>
    private async ValueTask TimedOutAsync()
    {
        _timedOut = true;
        _saidGoodbye = true;
        await WriteLastLineAsync(_session.ReadTimedOut()).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the session's last line (a 421) and sends it: within <see cref="FinalReplyTimeout"/>, or as
    /// <see cref="FlushToClientAsync"/> sends once <paramref name="stopping"/> fired. A client gone or not reading changes
    /// nothing: the connection closes all the same.
    /// </summary>
    private async ValueTask WriteLastLineAsync(ReadOnlyMemory<byte> line, CancellationToken? stopping = null)
    {
        try
        {
            using var bound = new CancellationTokenSource(FinalReplyTimeout);
            ClientOutput.Write(line.Span);
            await FlushToClientAsync(stopping ?? bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException or NotSupportedException)
        {
            // (NotSupportedException: SslStream's answer to a write while another is pending, should one ever get here.)
        }
    }

    /// <summary>
    /// Sends what was written to the client: until <paramref name="cancellationToken"/> fires, and once it has (the server
    /// stops; the client must still learn what became of its message) within <see cref="FinalReplyTimeout"/>. Over TLS no
    /// cancellation reaches the write: one that stopped part-way could lose a record <c>SslStream</c> had encrypted, and
    /// every record after it, encrypted under the next sequence number, would not decrypt; the wait is bounded instead,
    /// and past its bound the session ends (its connection closes with the write still pending).
    /// </summary>
    private async ValueTask<FlushResult> FlushToClientAsync(CancellationToken cancellationToken)
    {
        var output = ClientOutput;
        if (_writeAbandoned)
        {
            throw new IOException("the client read nothing of an earlier reply");
        }

        if (_tls is null)
        {
            return cancellationToken.IsCancellationRequested
                ? await FlushLastAsync(output).ConfigureAwait(false)
                : await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        var flush = output.FlushAsync(CancellationToken.None).AsTask();
        if (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                return await flush.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The server stops while the client reads slowly: the reply is on its way, for a bounded time more.
            }
        }

        try
        {
            return await flush.WaitAsync(FinalReplyTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            // The write is still pending inside SslStream, and another may not start: closing the connection fails it (and
            // frees what it holds) rather than leave the session's end to a client that reads nothing.
            _writeAbandoned = true;
            _ = flush.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            _connection.Dispose();
            throw new IOException($"the client read no reply within {FinalReplyTimeout.TotalSeconds} s of the server's stop", e);
        }
    }

    /// <summary>
    /// Sends what <paramref name="output"/> (a plain connection's writer) holds, the last words of a session whose server stops, within
    /// <see cref="FinalReplyTimeout"/>. .NET's stream pipe writer can keep a cancellation that reached it just as the
    /// flush before ended (the server's token, cancelled then): its next flush then reports itself cancelled and sends
    /// nothing, and the flush after that sends.
    /// </summary>
    private static async ValueTask<FlushResult> FlushLastAsync(PipeWriter output)
    {
        using var deadline = new CancellationTokenSource(FinalReplyTimeout);
        var result = await output.FlushAsync(deadline.Token).ConfigureAwait(false);
        return result.IsCanceled ? await output.FlushAsync(deadline.Token).ConfigureAwait(false) : result;
    }

    /// <summary>Collects what SmtpServer writes until it flushes; then writes the reply the session decides on.</summary>
    private sealed class ReplyWriter(ReplyPipe pipe) : PipeWriter
    {
        private readonly ArrayBufferWriter<byte> _written = new(256);

        public override Memory<byte> GetMemory(int sizeHint = 0) => _written.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => _written.GetSpan(sizeHint);

        public override void Advance(int bytes) => _written.Advance(bytes);

        public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (pipe._timedOut)
            {
                _written.ResetWrittenCount(); // the session ended with its 421 4.4.2: SmtpServer's 554 after it is not the client's
                return new FlushResult(isCanceled: false, isCompleted: true);
            }

            if (pipe._dropReply)
            {
                // The reply to a command the client did not send (an RSET or a HELO given before its line): not the client's.
                pipe._dropReply = false;
                _written.ResetWrittenCount();
                return new FlushResult(isCanceled: false, isCompleted: false);
            }

            // SmtpServer's own reply tells what it reads next, whatever the client is answered: after a 3xx an AUTH answer or
            // (354) the message, no command; a 354 the session replaced is a 421, after which nothing more is read.
            var said = _written.WrittenSpan;
            if (!said.IsEmpty)
            {
                pipe._awaitingText = said[0] == (byte)'3';
            }

            if (said.StartsWith("354 "u8) && pipe._session.MaxMessageSize > 0)
            {
                // The client sends the message now: read through the gate, which holds no more of it than the limit.
                (pipe._message, pipe._taken) = (new MessageSizeGate(pipe._session.MaxMessageSize), null);
            }

            var reply = await pipe._session.ReplyAsync(_written.WrittenMemory, cancellationToken).ConfigureAwait(false);
            pipe._saidGoodbye |= reply.Span.StartsWith("221 "u8) || reply.Span.StartsWith("421 "u8);

            pipe.ClientOutput.Write(reply.Span);
            _written.ResetWrittenCount();

            // When the server stops SmtpServer writes with its cancelled token: the reply still goes out, the client must
            // learn what became of its message (250 when it was stored, else 421), but for a bounded time only.
            return await pipe.FlushToClientAsync(cancellationToken).ConfigureAwait(false);
        }

        public override void CancelPendingFlush() => pipe.ClientOutput.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            pipe._tls?.Output.Complete(exception);
            pipe._connection.Output.Complete(exception);
        }
    }

    /// <summary>The client's input, ended once the session is closing.</summary>
    private sealed class ClosingReader(ReplyPipe pipe) : PipeReader
    {
        private PipeReader Connection => pipe.ClientInput;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (pipe._session.IsClosing)
            {
                return Ended;
            }

            if (!pipe._standIn.IsEmpty)
            {
                // Handed back at once, no wait that would see the token: a stop must not find SmtpServer in a loop here.
                cancellationToken.ThrowIfCancellationRequested();
                return new ReadResult(pipe._standIn, isCanceled: false, isCompleted: false);
            }

            return pipe._message is { } message ? await ReadMessageAsync(message, cancellationToken).ConfigureAwait(false)
                : await ReadCommandAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// What the client sent from its next command on, its first line noted (<see cref="LastCommandLine"/>) and given to
        /// SmtpServer as it came, but for a line SmtpServer's parser cannot read as it is (a <c>RCPT TO:&lt;postmaster&gt;</c>
        /// without a domain, a MAIL with parameters, a line that is not UTF-8, one not ended by a CR LF): SmtpServer is given
        /// the line's <see cref="CommandLine.Replacement"/> in its place. Every line is read to its end before SmtpServer sees any of it:
        /// SmtpServer goes on looking for the end of a line it has seen part of from where it stopped in the buffer it was
        /// given, which a stand-in is not. A line longer than Postfix reads (<see cref="CommandLine.LongestCommand"/>) is cut
        /// there as Postfix cuts it, the rest of it skipped as it comes (a client's command line holds no more memory than
        /// that), and it is then read as any other. A line ends at its LF, as at Postfix (<see cref="CommandLine"/>).
        /// </summary>
        private async ValueTask<ReadResult> ReadCommandAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var read = await ReadClientAsync(cancellationToken).ConfigureAwait(false);
                if (pipe._cut is not null)
                {
                    if (pipe._timedOut || pipe._session.IsClosing)
                    {
                        return read; // Ended: not the connection's buffer
                    }

                    if (read.IsCanceled)
                    {
                        Connection.AdvanceTo(read.Buffer.Start); // the skip goes on at the next read
                        return new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: true, isCompleted: false);
                    }

                    if (SkipToLineEnd(read.Buffer))
                    {
                        return GiveCutLine();
                    }

                    if (read.IsCompleted)
                    {
                        return Ended; // the client left in the middle of the line
                    }

                    continue;
                }

                if (IsUnendedCommand(read))
                {
                    var longest = CommandLine.LongestOf(read.Buffer);
                    if (read.Buffer.Length < longest + 2)
                    {
                        Connection.AdvanceTo(read.Buffer.Start, read.Buffer.End); // its end has not come yet
                        continue;
                    }

                    pipe._cut = new byte[longest + 2];
                    read.Buffer.Slice(0, longest).CopyTo(pipe._cut);
                    "\r\n"u8.CopyTo(pipe._cut.AsSpan(longest));
                    if (SkipToLineEnd(read.Buffer.Slice(longest)))
                    {
                        return GiveCutLine();
                    }

                    continue;
                }

                var line = NoteCommandLine(read);
                if (line.Replacement is { } replacement)
                {
                    if (CommandLine.WholeLength(read.Buffer) != line.Length)
                    {
                        // Never go on from inside the client's line: what is left of it would run as commands.
                        throw new InvalidOperationException($"a replaced command line's length ({line.Length}) does not end at its LF");
                    }

                    Connection.AdvanceTo(read.Buffer.GetPosition(line.Length));
                    return GiveStandIn(line, replacement);
                }

                return read;
            }
        }

        /// <summary>A command line whose LF has not come within the most of it that is read: held, or cut when that much came.</summary>
        private bool IsUnendedCommand(in ReadResult read) =>
            !pipe._awaitingText && !read.IsCanceled && !read.IsCompleted && CommandLine.WholeLength(read.Buffer) < 0;

        /// <summary>
        /// Skips <paramref name="rest"/>, the bytes of a cut line past what Postfix reads, to the line's LF: true when it
        /// came (the connection advanced past it), else all of it is skipped.
        /// </summary>
        private bool SkipToLineEnd(in ReadOnlySequence<byte> rest)
        {
            if (rest.PositionOf((byte)'\n') is { } end)
            {
                Connection.AdvanceTo(rest.GetPosition(1, end));
                return true;
            }

            Connection.AdvanceTo(rest.End);
            return false;
        }

        /// <summary>The cut line, read to its end: noted and given to SmtpServer as any other (or its stand-in).</summary>
        private ReadResult GiveCutLine()
        {
            var cut = new ReadOnlySequence<byte>(pipe._cut!);
            pipe._cut = null;
            var line = pipe.LastCommandLine = AsTaken(CommandLine.ReadCut(cut), cut);
            return line.Replacement is { } replacement ? GiveStandIn(line, replacement)
                : new ReadResult(pipe._standIn = cut, isCanceled: false, isCompleted: false);
        }

        /// <summary>
        /// Gives SmtpServer <paramref name="replacement"/> in the place of <paramref name="line"/>; when it starts with a
        /// command the client did not send (<see cref="CommandLine.Before"/>), the reply to that one is dropped.
        /// </summary>
        private ReadResult GiveStandIn(in CommandLine line, byte[] replacement)
        {
            pipe._dropReply = line.Before is not null;
            pipe._standIn = new ReadOnlySequence<byte>(replacement);
            return new ReadResult(pipe._standIn, isCanceled: false, isCompleted: false);
        }

        /// <summary>
        /// Notes the command line SmtpServer parses from <paramref name="read"/>: none after a 334 or a 354 (an AUTH answer
        /// or a message comes then, whose lines are never looked at), or when SmtpServer reads nothing from it.
        /// </summary>
        private CommandLine NoteCommandLine(in ReadResult read) => pipe.LastCommandLine =
            pipe._awaitingText || read.IsCanceled || read.IsCompleted ? default : AsTaken(CommandLine.Read(read.Buffer), read.Buffer);

        /// <summary>
        /// <paramref name="line"/> (whose bytes <paramref name="bytes"/> starts with) as SmtpServer is to take it: an AUTH where
        /// the server offers none refused before SmtpServer starts its exchange (Postfix checks that first); a line its state
        /// machine would refuse where Postfix takes it given after the command that makes it take it
        /// (<see cref="FilteredSession.CommandBefore"/>).
        /// </summary>
        private CommandLine AsTaken(CommandLine line, in ReadOnlySequence<byte> bytes) =>
            line is { Verb: "AUTH", Kind: CommandLineKind.Other } && !pipe._session.AuthOffered ? line.AuthNotEnabled()
                : pipe._session.CommandBefore(line, bytes) is { } before ? line.After(before, bytes)
                : line;

        /// <summary>
        /// Reads the message after the 354 to its final dot through <paramref name="message"/>, and gives SmtpServer the
        /// final dot alone (an empty message, which comes to the session's store, where the gate's is taken instead); what
        /// the client sent after it stays for SmtpServer to read as commands. SmtpServer is given the client's end, or a
        /// timeout's, as it comes.
        /// </summary>
        private async ValueTask<ReadResult> ReadMessageAsync(MessageSizeGate message, CancellationToken cancellationToken)
        {
            var resumed = false; // a cancelled read: the next read goes on with the same message
            try
            {
                while (true)
                {
                    var read = await ReadClientAsync(cancellationToken).ConfigureAwait(false);
                    if (pipe._timedOut || pipe._session.IsClosing)
                    {
                        return read; // Ended: not the connection's buffer
                    }

                    if (read.IsCanceled)
                    {
                        Connection.AdvanceTo(read.Buffer.Start);
                        resumed = true;
                        return new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: true, isCompleted: false);
                    }

                    if (message.Read(read.Buffer) is { } end)
                    {
                        Connection.AdvanceTo(end);
                        (pipe._taken, pipe._standIn) = (message, FinalDot);
                        return new ReadResult(FinalDot, isCanceled: false, isCompleted: false);
                    }

                    Connection.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        return Ended; // the client left in the middle of the message
                    }
                }
            }
            finally
            {
                if (!resumed)
                {
                    pipe._message = null; // read to its end, or no more to be read: a failure too
                }
            }
        }

        /// <summary>A read from the client, bounded by the session's <see cref="FilteredSession.ReadTimeout"/>: <see cref="Ended"/> past it.</summary>
        private async ValueTask<ReadResult> ReadClientAsync(CancellationToken cancellationToken)
        {
            var timeout = pipe._session.ReadTimeout;
            if (timeout == Timeout.InfiniteTimeSpan)
            {
                var read = await Connection.ReadAsync(cancellationToken).ConfigureAwait(false);
                pipe._clientLeft |= read.IsCompleted;
                return read;
            }

            // Each read has its own bound (Postfix's smtpd_timeout): a long message that keeps coming is read to its end.
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout);
            ReadResult result;
            try
            {
                result = await Connection.ReadAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                await pipe.TimedOutAsync().ConfigureAwait(false);
                return Ended;
            }

            pipe._clientLeft |= result.IsCompleted;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (pipe._session.IsClosing)
            {
                result = Ended;
                return true;
            }

            if (!pipe._standIn.IsEmpty)
            {
                result = new ReadResult(pipe._standIn, isCanceled: false, isCompleted: false);
                return true;
            }

            if (pipe._message is not null)
            {
                result = default; // the message is read by ReadAsync alone
                return false;
            }

            var read = Connection.TryRead(out result);
            pipe._clientLeft |= read && result.IsCompleted;
            if (read && (pipe._cut is not null
                || IsUnendedCommand(result)
                || NoteCommandLine(result) is { Replacement: not null }))
            {
                // A line not whole yet, one being cut, or one to replace: ReadAsync alone reads it to its end and puts the
                // stand-in in its place.
                Connection.AdvanceTo(result.Buffer.Start);
                result = default;
                return false;
            }

            return read;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (pipe._standIn.IsEmpty)
            {
                Connection.AdvanceTo(consumed, examined);
                return;
            }

            if (consumed.Equals(pipe._standIn.Start) && examined.Equals(pipe._standIn.End))
            {
                // SmtpServer looked at the whole stand-in and took none of it: it waits for bytes after it, which no read
                // gives (the stand-in is handed back whole until taken). Ending the session beats reading it again for ever.
                throw new InvalidOperationException("SmtpServer did not take the line the integration gave it in place of the client's");
            }

            pipe._standIn = pipe._standIn.Slice(consumed); // SmtpServer's read of the stand-in it was given: not the connection's
        }

        public override void CancelPendingRead() => Connection.CancelPendingRead();

        /// <summary>SmtpServer ends every session here (then disposes the pipe): the last chance to tell the client.</summary>
        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            try
            {
                await pipe.SayGoodbyeIfStoppedAsync().ConfigureAwait(false);
            }
            finally
            {
                Complete(exception); // whatever the goodbye did: the session ends, and gives back its place and its counts
            }
        }

        public override void Complete(Exception? exception = null)
        {
            pipe.End();
            pipe._tls?.Input.Complete(exception);
            pipe._connection.Input.Complete(exception);
        }

        private static ReadResult Ended => new(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);

        /// <summary>An empty message's final dot, as SmtpServer looks for it.</summary>
        private static readonly ReadOnlySequence<byte> FinalDot = new("\r\n.\r\n"u8.ToArray());
    }
}
