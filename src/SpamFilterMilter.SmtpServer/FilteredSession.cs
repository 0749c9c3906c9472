using System.Buffers;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Mail;
using SmtpServer.Net;
using SmtpServer.Protocol;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// One SMTP session of SmtpServer with its filter: what SmtpServer does at each command is turned into a call of the
/// host library's <see cref="SmtpFilterSession"/>, and its <see cref="SmtpAnswer"/> into the reply the client gets.
/// <para>
/// SmtpServer tells of a command in three ways: a synchronous event before it runs (<c>CommandExecuting</c>: HELO,
/// EHLO, DATA, RSET), an asynchronous mailbox filter (MAIL, RCPT: accept or refuse) and an asynchronous message store
/// (the message). What an event starts runs in the background, chained after the session's earlier calls, so the
/// filter hears the commands in order and one at a time; the reply that depends on it is held back until it is known
/// (the greeting waits for connect, the EHLO reply for HELO). A refusal is written in place of the reply SmtpServer
/// writes (<see cref="ReplyAsync"/>), so it keeps the filter's exact text; after a 421 the session ends.
/// </para>
/// </summary>
internal sealed class FilteredSession : IAsyncDisposable
{
    private const string PropertyKey = "SpamFilterMilter:Session";

    /// <summary>What Postfix answers when it cannot store a message (cleanup failed).</summary>
    private static readonly SmtpReply StoreFailed = new(451, "4.3.0", "Error: queue file write error");

    /// <summary>
    /// What a message is answered when taking it failed for a reason of this server's (a bug): Postfix's words for a
    /// cleanup that failed (cleanup_strerror's CLEANUP_STAT_BAD), as a 421 that closes the session, whose filter calls
    /// after the failed one cannot be trusted; the client keeps the message and tries again.
    /// </summary>
    internal static readonly SmtpReply InternalError = new(421, "4.3.0", "Error: internal error");

    /// <summary><see cref="InternalError"/> as it goes on the wire.</summary>
    internal static readonly ReadOnlyMemory<byte> InternalErrorLine = Encoding.ASCII.GetBytes(InternalError + "\r\n");

    /// <summary>What a message in a mail loop is answered: Postfix's words (cleanup_strerror's CLEANUP_STAT_HOPS).</summary>
    internal static readonly SmtpReply TooManyHops = new(554, "5.4.0", "Error: too many hops");

    /// <summary>
    /// Postfix's <c>hopcount_limit</c>: a message whose <c>Received:</c> fields, the one this server adds counted, reach it
    /// is going round in a loop (a next hop that sends it back), and refusing it is what ends the loop.
    /// </summary>
    internal const int HopCountLimit = 50;

    /// <summary>
    /// What a message in flight is answered when the server stops (its token cancelled): a transient code, so the client
    /// keeps the message and tries again, as Postfix's smtpd answers when it is told to stop.
    /// </summary>
    internal static readonly SmtpReply ShuttingDown = new(421, "4.3.2", "Service shutting down, try again later");

    /// <summary>
    /// What a message over SmtpServer's <c>MaxMessageSize</c> is answered after its final dot: Postfix's words
    /// (cleanup_strerror's CLEANUP_STAT_SIZE, as Postfix 3.7 answers past <c>message_size_limit</c>; its "Message size
    /// exceeds fixed limit" is for a MAIL whose SIZE= is too large). The session goes on.
    /// </summary>
    internal static readonly SmtpReply MessageTooLarge = new(552, "5.3.4", "Error: message file too big");

    /// <summary>What a recipient past <see cref="SmtpServerFilteringOptions.MaxRecipients"/> is answered: Postfix's words.</summary>
    internal static readonly SmtpReply TooManyRecipients = new(452, "4.5.3", "Error: too many recipients");

    /// <summary>
    /// Postfix's <c>smtpd_recipient_overshoot_limit</c>: how many recipients past the limit one transaction may send before
    /// each such refusal counts as an error.
    /// </summary>
    internal const int RecipientOvershootLimit = 1000;

    /// <summary>Postfix's <c>smtpd_junk_command_limit</c>: HELO, EHLO, RSET, NOOP, VRFY, ETRN past it each count as an error.</summary>
    internal const int JunkCommandLimit = 100;

    /// <summary><see cref="ShuttingDown"/> as it goes on the wire.</summary>
    internal static readonly ReadOnlyMemory<byte> ShuttingDownLine = Encoding.ASCII.GetBytes(ShuttingDown + "\r\n");

    private readonly ISessionContext _context;
    private readonly SmtpFilterSession _filter;
    private readonly IFilterSession _macros; // the same filter: the TLS and AUTH macros are set on it, in turn with its calls
    private readonly ReplyPipe _pipe;
    private readonly IFilteredMessageStore _store;
    private readonly MessagesInFlight _messages;
    private readonly bool _addTraceField;
    private readonly bool _noAuthentication; // NoAuthentication's authenticator: the server offers no AUTH
    private readonly ILogger _logger;
    private readonly SmtpReply _timeout; // Postfix's 421 4.4.2 <server> Error: timeout exceeded
    private readonly byte[] _timeoutLine; // as it goes on the wire
    private readonly SmtpServerFilteringOptions _options; // the limits: MaxRecipients, the error limits, ReadTimeout
    private readonly RelayRestriction? _relay;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly CancellationToken _serverStopping;

    private Task _tail = Task.CompletedTask;
    private Task<SmtpAnswer>? _nextReply;
    private Task<SmtpAnswer>? _data;
    private IReadOnlyList<string> _mailParameters = [];
    private bool _esmtp;
    private AuthenticationMethod? _authMechanism;
    private string? _queueId;
    private int _inMessage; // 1 while this session's message is counted in _messages
    private bool _heloTaken; // SmtpServer took a HELO or EHLO: the client's, or one given before its MAIL (CommandBefore)
    private string _lastCommand = "CONNECT"; // what a timeout came after, as Postfix logs it
    private int _errors; // Postfix's error_count: replies of 4xx and 5xx, junk commands past the limit; forgiven by a message accepted
    private int _junkCommands;
    private int _recipients; // recipients accepted in this transaction (each starts with MAIL)
    private int _overshoot; // recipients past the limit in this transaction
    private bool _commandSeen; // SmtpServer executed a command since the last reply (else the reply is to a line it could not parse)
    private bool _greeted;
    private bool _notAnError; // the reply about to be written is a refusal Postfix does not count (a recipient past the limit)

    /// <summary>
    /// Starts the session; when <paramref name="refusal"/> says so (the server drains, its client has too many sessions)
    /// it is greeted with a 421 and closed, and <paramref name="filter"/> is never called.
    /// </summary>
    public FilteredSession(ISessionContext context, ISecurableDuplexPipe connection, IFilterSession filter, SmtpServerFilteringOptions options,
        IReadOnlyCollection<string> droppedHeaderFields, RelayRestriction? relay, MessagesInFlight messages, SessionRefusal refusal, ILogger logger, CancellationToken serverStopping)
    {
        _context = context;
        _filter = new SmtpFilterSession(filter, context.ServerOptions.ServerName) { DroppedHeaderFields = droppedHeaderFields };
        _macros = filter;
        _store = options.Store;
        _messages = messages;
        _addTraceField = options.AddTraceField;
        _logger = logger;
        Client = ClientOf(context);
        _serverStopping = serverStopping;
        _options = options;
        _timeout = new SmtpReply(421, "4.4.2", $"{context.ServerOptions.ServerName} Error: timeout exceeded");
        _timeoutLine = Encoding.ASCII.GetBytes(_timeout + "\r\n");
        _relay = relay;
        _pipe = new ReplyPipe(connection, this, serverStopping);
        _pipe.Ended += () => Ended?.Invoke(this);
        context.Properties[PropertyKey] = this;
        context.CommandExecuting += OnCommandExecuting;
        _noAuthentication = NoAuthentication.IsInPlace(context);
        SmtpServerLog.SessionStarted(_logger, context.SessionId, Client.Address);
        if (refusal == SessionRefusal.Draining)
        {
            // RFC 5321 §3.1: a server that cannot take mail greets with 421 and closes; the client tries again later.
            var greeting = new SmtpReply(421, null, $"{context.ServerOptions.ServerName} {ShuttingDown.Lines[0]}");
            SmtpServerLog.RefusedAtStop(_logger, context.SessionId, "the greeting", LogText.Quote(greeting.ToString()));
            _nextReply = Task.FromResult(SmtpAnswer.Refuse(greeting));
            return;
        }

        if (refusal == SessionRefusal.TooManyConnections)
        {
            // Postfix's words (smtpd's anvil check): the client tries again later, with fewer connections.
            _nextReply = Task.FromResult(SmtpAnswer.Refuse(
                new SmtpReply(421, "4.7.0", $"{context.ServerOptions.ServerName} Error: too many connections from {Client.Address}")));
            return;
        }

        var lookUp = options.LookUpClientNames;
        var lookupTimeout = options.ClientNameLookupTimeout;
        _nextReply = Then(async token =>
        {
            if (lookUp)
            {
                Client = await ClientNameLookup.LookUpAsync(Client, ClientNameLookup.System, lookupTimeout, token).ConfigureAwait(false);
            }

            return await _filter.ConnectAsync(Client, token).ConfigureAwait(false);
        });
    }

    /// <summary>The session ended (its connection is gone): its filter session is to be closed.</summary>
    public event Action<FilteredSession>? Ended;

    /// <summary>The pipe SmtpServer is given for this session.</summary>
    public ISecurableDuplexPipe Pipe => _pipe;

    /// <summary>The client as the filter is told of it (its names once looked up: before the greeting is written).</summary>
    public ClientInfo Client { get; private set; }

    /// <summary>How long one read from the client may wait (<see cref="SmtpServerFilteringOptions.ReadTimeout"/>).</summary>
    public TimeSpan ReadTimeout => _options.ReadTimeout;

    /// <summary>
    /// SmtpServer's <c>MaxMessageSize</c> (0: none): a message is read through a <see cref="MessageSizeGate"/> of it,
    /// whatever the <c>MaxMessageSizeHandling</c>, so that one over it is read to its end and answered 552.
    /// </summary>
    public long MaxMessageSize => _context.ServerOptions.MaxMessageSizeOptions?.Length ?? 0;

    /// <summary>
    /// True once the session's last reply is decided: a reply that closes the session (a 421, or Postfix's 221 and 521 to a
    /// client that speaks no SMTP or sends BDAT) is about to be written or was.
    /// </summary>
    public bool IsClosing { get; private set; }

    /// <summary>
    /// The server offers AUTH now: the application registered an authenticator (NoAuthentication's is not in place), and TLS
    /// is up or the endpoint allows AUTH without it. An AUTH otherwise gets Postfix's 503 (<see cref="CommandLineKind.AuthNotEnabled"/>).
    /// </summary>
    public bool AuthOffered => !_noAuthentication && (_pipe.IsSecure || _context.EndpointDefinition.AllowUnsecureAuthentication);

    /// <summary>Where the session is, for Postfix's replies to a command SmtpServer refused (<see cref="PostfixWords"/>).</summary>
    private SessionPlace Place => new(InTransaction, _recipients, _pipe.IsSecure,
        CertificateFactory is not null, _context.Authentication.IsAuthenticated);

    /// <summary>
    /// A MAIL was taken and its message has not ended (by its final dot, RSET or HELO). It moves with SmtpServer's own state
    /// at every command: a MAIL counts only when the mailbox filter takes it, as SmtpServer's transaction starts only then,
    /// and after DATA no command is read until the message's reply, which ends it.
    /// </summary>
    private bool InTransaction => Volatile.Read(ref _inMessage) == 1;

    /// <summary>
    /// The command SmtpServer must be given before <paramref name="line"/> (<see cref="CommandLine.After"/>;
    /// <paramref name="bytes"/>, the client's, start with the line) to take it as Postfix does, where its state machine
    /// would refuse it: an RSET before a HELO or EHLO inside a transaction (RFC 5321 §4.1.4: it resets the transaction as
    /// RSET does) and before a STARTTLS there (Postfix resets it once TLS is up); a HELO before a MAIL, STARTTLS or AUTH
    /// that comes before any (Postfix takes them without <c>smtpd_helo_required</c>, its default: the session's HELO name
    /// stays unset and the milters hear of no HELO). Null for none. No RSET for a line SmtpServer's parser cannot read: it
    /// answers that line before its state machine looks, and the transaction goes on (Postfix keeps it after a HELO
    /// without a name too).
    /// </summary>
    public string? CommandBefore(CommandLine line, in ReadOnlySequence<byte> bytes) => line switch
    {
        { Verb: "HELO" or "EHLO", Kind: CommandLineKind.Other or CommandLineKind.EhloAddressLiteral }
            when InTransaction && line.ReadBySmtpServer(bytes) => RsetCommand.Command,
        { Verb: "STARTTLS", Kind: CommandLineKind.Other }
            when InTransaction && CertificateFactory is not null && !_pipe.IsSecure && line.ReadBySmtpServer(bytes) => RsetCommand.Command,
        { Verb: "MAIL", Kind: CommandLineKind.Other or CommandLineKind.Mail or CommandLineKind.MailTextAfterPath } when !_heloTaken => HeloCommand.Command,
        { Verb: "STARTTLS" or "AUTH", Kind: CommandLineKind.Other } when !_heloTaken => HeloCommand.Command,
        _ => null,
    };

    /// <summary>Where the session's endpoint takes its TLS certificate from.</summary>
    public ICertificateFactory? CertificateFactory => _context.EndpointDefinition.CertificateFactory;

    /// <summary>The client's last HELO or EHLO name.</summary>
    public string? HeloName { get; private set; }

    /// <summary>The session of <paramref name="context"/>; null when it is not one of this integration's.</summary>
    public static FilteredSession? Find(ISessionContext context) =>
        context.Properties.TryGetValue(PropertyKey, out var session) ? session as FilteredSession : null;

    /// <summary>The session of <paramref name="context"/>.</summary>
    public static FilteredSession Of(ISessionContext context) =>
        Find(context) ?? throw new InvalidOperationException("This SmtpServer session was not accepted by SmtpServerFiltering's endpoint listener: register all three of its services (SmtpServerFiltering.AddTo).");

    /// <summary>MAIL FROM (SmtpServer's mailbox filter): true to accept; false when the reply is the filter's refusal.</summary>
    public async Task<bool> MailAsync(IMailbox from)
    {
        if (!BeginMessage())
        {
            // The server drains: the messages under way finish, no new one starts; the client keeps this one for later.
            SmtpServerLog.RefusedAtStop(_logger, _context.SessionId, "MAIL", LogText.Quote(ShuttingDown.ToString()));
            return Accepts(SmtpAnswer.Refuse(ShuttingDown));
        }

        var parameters = _mailParameters;
        if (MailRefusal(parameters) is { } refusal)
        {
            EndMessage();
            return Accepts(SmtpAnswer.Refuse(refusal));
        }

        var auth = SecurityMacros.OfAuth(_authMechanism, AuthenticatedUser);
        var answer = await Then(token =>
        {
            SetMacros(auth);
            return _filter.MailAsync(PathOf(from), parameters, token);
        }).ConfigureAwait(false);
        if (Accepts(answer))
        {
            return true;
        }

        EndMessage();
        return false;
    }

    /// <summary>
    /// Postfix's refusal of a MAIL before its filter hears of it, in smtpd's order: text right after the path, then the
    /// parameters (<see cref="ClientParameters"/>), then a <c>SIZE=</c> over the limit (SmtpServer, given the MAIL without
    /// its parameters, no longer checks it: <see cref="CommandLineKind.Mail"/>).
    /// </summary>
    private SmtpReply? MailRefusal(IReadOnlyList<string> parameters)
    {
        if (_pipe.LastCommandLine.Kind == CommandLineKind.MailTextAfterPath)
        {
            return PostfixWords.BadSenderSyntax;
        }

        return ClientParameters.MailRefusal(parameters, MaxMessageSize);
    }

    /// <summary>RCPT TO (SmtpServer's mailbox filter): true to accept; false when the reply is the filter's refusal.</summary>
    public async Task<bool> RcptAsync(IMailbox to)
    {
        // What SmtpServer's parser dropped of the line (CommandLine), checked first, as Postfix's rcpt_cmd checks the address's
        // syntax and then the parameters before its recipient limit and restrictions.
        var line = _pipe.LastCommandLine;
        if (line.Kind == CommandLineKind.RcptTextAfterPath)
        {
            return Accepts(SmtpAnswer.Refuse(PostfixWords.BadRecipientSyntax));
        }

        var parameters = line.RcptParameters(to);
        if (ClientParameters.RcptRefusal(parameters) is { } badParameter)
        {
            return Accepts(SmtpAnswer.Refuse(badParameter));
        }

        if (_options.MaxRecipients > 0 && _recipients >= _options.MaxRecipients)
        {
            // Postfix's smtpd_recipient_limit, before the filter hears of the recipient: the client sends the rest later.
            _notAnError = _overshoot++ < RecipientOvershootLimit;
            return Accepts(SmtpAnswer.Refuse(TooManyRecipients));
        }

        // RCPT TO:<postmaster> without a domain (RFC 5321 §4.5.1), which SmtpServer's parser was given with one (CommandLine):
        // as Postfix's smtpd_check_rcpt, no recipient restriction applies to it, and the filter hears it as the client wrote it.
        var barePostmaster = line.BarePostmasterPath(to);
        if (_relay is not null && barePostmaster is null && !_relay.Trusts(Client.Address, _context.Authentication.IsAuthenticated) && !_relay.IsRelayDomain(to.Host))
        {
            // Postfix's reject_unauth_destination, after its recipient limit and before the filter hears of the
            // recipient; an error like any other refusal (the hard error limit).
            SmtpServerLog.RelayDenied(_logger, _context.SessionId, Client.Address, to.Host ?? string.Empty);
            return Accepts(SmtpAnswer.Refuse(RelayRestriction.Denied(to)));
        }

        var path = barePostmaster ?? PathOf(to);
        var answer = await Then(token => _filter.RcptAsync(path, parameters, token)).ConfigureAwait(false);
        var accepted = Accepts(answer);
        _recipients += accepted ? 1 : 0;
        return accepted;
    }

    /// <summary>
    /// The message (SmtpServer's message store, after the final dot): the filter's DATA decision, then the message
    /// through the filter, then the application's store. Returns SmtpServer's reply; the one the client gets is the
    /// filter's or the store's when they give one.
    /// </summary>
    public async Task<SmtpResponse> MessageAsync(ReadOnlySequence<byte> content, CancellationToken cancellationToken)
    {
        _queueId = null; // an earlier message's id is not this one's
        _lastCommand = "END-OF-MESSAGE";
        _commandSeen = true; // the reply to the final dot is this command's, though SmtpServer raised no event for it
        var gated = _pipe.TakeMessage(); // the message as the pipe read it, in SmtpServer's place, when there is a size limit
        SmtpAnswer answer;
        try
        {
            answer = await FilterAndStoreAsync(gated?.Content() ?? content, gated, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !_serverStopping.IsCancellationRequested)
        {
            // The session's own time ran out (SmtpServer's SessionTimeout), not the server's: the client is told so.
            SmtpServerLog.TimedOut(_logger, _context.SessionId, "the session's time limit", "DATA", LogText.Quote(_timeout.ToString()));
            answer = SmtpAnswer.Refuse(_timeout);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The server stops (its token cancelled) while the message is in flight: SmtpServer would turn the exception
            // into a bare 554, and the client would bounce the message; a 421 makes it keep the message for later.
            SmtpServerLog.GivenUpAtStop(_logger, _context.SessionId, _queueId ?? "(none yet)");
            answer = SmtpAnswer.ReplyWith(ShuttingDown);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // SmtpServer would write a bare "554 " and log nothing; the filter's calls after a failed one would fail too.
            // A cancellation here is not the session's (the catches above take those): a failure like any other.
            SmtpServerLog.MessageFailed(_logger, _context.SessionId, _queueId ?? "(none yet)", e);
            answer = SmtpAnswer.Refuse(InternalError);
        }
        finally
        {
            EndMessage(); // its reply is known: a drain waits no longer for it
        }

        if (answer.Reply is not { Code: >= 400 })
        {
            // A message accepted forgives the session's errors, as Postfix forgives them.
            _errors = 0;
            _junkCommands = 0;
        }

        // Always held for ReplyAsync, Proceed too: the reply to the final dot is then known to be this message's,
        // also when it is written while the server stops.
        _nextReply = Task.FromResult(answer);
        return answer.Reply is { } text ? new SmtpResponse((SmtpReplyCode)text.Code, text.Lines[^1]) : SmtpResponse.Ok;
    }

    /// <summary>
    /// The bytes to send for what SmtpServer flushed (<paramref name="written"/>): its own reply, or the one a command's
    /// filter call decided on, waited for here when it is not known yet.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReplyAsync(ReadOnlyMemory<byte> written, CancellationToken cancellationToken)
    {
        if (written.IsEmpty)
        {
            return written;
        }

        var notAnError = _notAnError;
        _notAnError = false;

        if (_options.SoftErrorLimit > 0 && _errors >= _options.SoftErrorLimit && _options.ErrorSleepTime > TimeSpan.Zero)
        {
            // Postfix's smtpd_error_sleep_time: every reply waits once the client made smtpd_soft_error_limit errors.
            try
            {
                await Task.Delay(_options.ErrorSleepTime, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The server stops: the reply goes out now.
            }
        }

        var reply = await ChooseReplyAsync(written, cancellationToken).ConfigureAwait(false);
        var command = _commandSeen;
        _commandSeen = false;
        if (IsClosing || reply.IsEmpty)
        {
            return reply;
        }

        if (reply.Span[0] is (byte)'4' or (byte)'5' && !notAnError)
        {
            _errors++;
            // A reply with no command event (a line SmtpServer refused, out of order or malformed): the line's command, as
            // Postfix names it in its log ("after RCPT"), or "UNKNOWN" for a line that is none.
            _lastCommand = command || !_greeted ? _lastCommand : _pipe.LastCommandLine.Verb ?? "UNKNOWN";
        }

        _greeted = true;
        // Checked after every reply, as Postfix checks before it reads the next command: junk commands count too.
        if (_options.HardErrorLimit <= 0 || _errors < _options.HardErrorLimit)
        {
            return reply;
        }

        // Postfix's smtpd_hard_error_limit: the error's reply, then 421 at once, before the next command is read.
        SmtpServerLog.TooManyErrors(_logger, _context.SessionId, Client.Address, _errors, _lastCommand);
        IsClosing = true;
        return (byte[])[.. reply.Span, .. Encoding.ASCII.GetBytes($"421 4.7.0 {_context.ServerOptions.ServerName} Error: too many errors\r\n")];
    }

    /// <summary>The bytes to send for <paramref name="written"/>, before the errors are counted (<see cref="ReplyAsync"/>).</summary>
    private async ValueTask<ReadOnlyMemory<byte>> ChooseReplyAsync(ReadOnlyMemory<byte> written, CancellationToken cancellationToken)
    {
        if (written.IsEmpty)
        {
            return written;
        }

        var pending = _nextReply;
        _nextReply = null;
        if (SmtpServersTimeout(written.Span, pending is { IsCompletedSuccessfully: true }, cancellationToken) is { } limit)
        {
            // SmtpServer's CommandWaitTimeout (its "221 Timeout while waiting for input.": a 221, as if the client had said QUIT),
            // or the session's SessionTimeout (its token cancelled while the server's is not): a timeout, answered as Postfix
            // answers one. Never "shutting down".
            SmtpServerLog.TimedOut(_logger, _context.SessionId, limit, _lastCommand, LogText.Quote(Encoding.ASCII.GetString(written.Span).TrimEnd()));
            IsClosing = true;
            return _timeoutLine;
        }

        // SmtpServer writes with the session's token, cancelled when the server stops, but its 221 for a session it gave up
        // (a stop while a STARTTLS handshake waits) with none: the server's own token says so then.
        if ((cancellationToken.IsCancellationRequested || _serverStopping.IsCancellationRequested) && pending is not { IsCompletedSuccessfully: true })
        {
            // The server stops: what SmtpServer writes now on its own is its bare 554 for a message it could not read
            // to the end, or its 221 for a session it gave up. Neither may make a client drop a message: 421, then close.
            var own = Encoding.ASCII.GetString(written.Span).TrimEnd();
            SmtpServerLog.ClosedAtStop(_logger, _context.SessionId, LogText.Quote(own));
            IsClosing = true;
            return ShuttingDownLine;
        }

        if (pending is null)
        {
            return PostfixWords.ForOwnReply(written, _pipe.LastCommandLine, Place);
        }

        var answer = await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (answer.Reply is not { } text)
        {
            return written;
        }

        SmtpServerLog.Replaced(_logger, _context.SessionId, LogText.Quote(Encoding.ASCII.GetString(written.Span).TrimEnd()), LogText.Quote(text.ToString()));
        IsClosing |= answer.ClosesSession;
        return Encoding.UTF8.GetBytes(text + "\r\n");
    }

    /// <summary>
    /// SmtpServer ended the session on <paramref name="exception"/> (its <c>SessionFaulted</c>: a MAIL its parser cannot
    /// take, a repeated or 4 KB parameter), which it neither answers nor logs: logged here, and the pipe writes 421 (but
    /// after a failed TLS handshake, logged as such already).
    /// </summary>
    public void Faulted(Exception exception)
    {
        if (_pipe.Faulted(exception))
        {
            SmtpServerLog.SessionFaulted(_logger, _context.SessionId, $"{Client.Address}:{Client.Port}", exception.GetType().Name, LogText.Quote(exception.Message));
        }
    }

    /// <summary>
    /// Which of SmtpServer's own limits ended the session, if one did and the reply it writes now says so: its
    /// <c>CommandWaitTimeout</c> (its reply's text tells) or the endpoint's <c>SessionTimeout</c> (the session's token
    /// cancelled, the server's not; SmtpServer then writes its 221, or its 554 for a message it could not read to the end).
    /// </summary>
    private string? SmtpServersTimeout(ReadOnlySpan<byte> written, bool replyKnown, CancellationToken sessionToken) =>
        written.Length > 4 && written[4..].StartsWith("Timeout while waiting for input"u8) ? "SmtpServer's CommandWaitTimeout" // its code is 221!
        : sessionToken.IsCancellationRequested && !_serverStopping.IsCancellationRequested && !replyKnown ? "the session's time limit (SessionTimeout)"
        : null;

    /// <summary>
    /// A read from the client waited <see cref="ReadTimeout"/> for nothing: the reply the pipe writes before it ends the
    /// session, as Postfix's <c>421 4.4.2 &lt;server&gt; Error: timeout exceeded</c>.
    /// </summary>
    public ReadOnlyMemory<byte> ReadTimedOut()
    {
        SmtpServerLog.TimedOut(_logger, _context.SessionId, $"no input for {ReadTimeout.TotalSeconds} s", _lastCommand, LogText.Quote(_timeout.ToString()));
        IsClosing = true;
        EndMessage();
        return _timeoutLine;
    }

    /// <summary>The server stopped between two commands and SmtpServer ended the session without a reply: the pipe writes 421.</summary>
    public void StoppedBetweenCommands()
    {
        SmtpServerLog.ClosedAtStop(_logger, _context.SessionId, "silent close");
        IsClosing = true;
    }

    /// <summary>Closes and disposes the filter session once its last call is done (whatever became of it).</summary>
    public async ValueTask DisposeAsync()
    {
        _context.CommandExecuting -= OnCommandExecuting;
        EndMessage(); // a client that left in the middle of a message
        // The client is gone: a call still waiting for the filter is given up (the filter session then breaks off).
        await _lifetime.CancelAsync().ConfigureAwait(false);
        try
        {
            await _tail.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The call that failed, or was given up, already ended the session; the filter session is closed all the same.
        }

        try
        {
            await _filter.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpServerLog.CloseFailed(_logger, _context.SessionId, e);
        }
        finally
        {
            _lifetime.Dispose();
        }
    }

    private void OnCommandExecuting(object? sender, SmtpCommandEventArgs e)
    {
        var line = _pipe.LastCommandLine;
        if (e.Command.Name == line.Before)
        {
            // A command the client did not send, given to SmtpServer before its line (CommandBefore): no junk command, and its
            // reply is not the client's (the pipe drops it). The RSET ends the transaction; the filter's is ended by the
            // STARTTLS it came for (Postfix resets it once TLS is up), or by the filter's HELO itself, which a filter session
            // inside a transaction ends as Postfix does (its milters get the HELO, then an ABORT: docs/plugin.md).
            if (e.Command is RsetCommand)
            {
                EndMessage();
                if (line.Verb == "STARTTLS")
                {
                    _ = ResetFilterAsync();
                }
            }

            _heloTaken |= e.Command is HeloCommand;
            return;
        }

        _commandSeen = true;
        if (line.Kind is CommandLineKind.NotSmtp or CommandLineKind.Bdat)
        {
            // Postfix ends the session at once: what follows (a web request's body, a message's text, BDAT's chunk) is not
            // run as commands.
            if (line.Kind == CommandLineKind.NotSmtp)
            {
                SmtpServerLog.NotSmtp(_logger, _context.SessionId, Client.Address, LogText.Quote(new RawText(Encoding.Latin1.GetBytes(line.Text!))));
            }

            _lastCommand = line.Verb ?? "UNKNOWN";
            IsClosing = true;
            _nextReply = Task.FromResult(SmtpAnswer.ReplyWith(line.Kind == CommandLineKind.Bdat ? PostfixWords.BdatNotImplemented : PostfixWords.NotSmtp));
            return;
        }

        if (line.Kind == CommandLineKind.Vrfy)
        {
            // Postfix answers it without looking (smtpd_delay_reject): a junk command; without an address, an error.
            _lastCommand = "VRFY";
            _errors += _junkCommands++ > JunkCommandLimit ? 1 : 0;
            _nextReply = Task.FromResult(SmtpAnswer.ReplyWith(PostfixWords.Vrfy(line.Text!)));
            return;
        }

        if (line.Kind == CommandLineKind.Unrecognized)
        {
            // Postfix asks its milters' UNKNOWN stage, with the command's word, before it says it does not know it.
            _lastCommand = "UNKNOWN";
            _nextReply = Then(token => _filter.UnknownAsync(line.Text!, token));
            return;
        }

        if (line.Kind switch
        {
            CommandLineKind.NotUtf8 => PostfixWords.NotUtf8,
            CommandLineKind.AuthTooLong => PostfixWords.AuthTooLong,
            CommandLineKind.AuthNotEnabled => PostfixWords.AuthNotEnabled,
            CommandLineKind.Blank => PostfixWords.BadSyntax,
            CommandLineKind.NotImplemented => PostfixWords.NotImplemented,
            _ => null,
        } is { } refused)
        {
            // The NOOP stands in for a line refused before its command is looked at: an error, not a junk command, named as
            // Postfix names it in its log (the command, or "after UNKNOWN" for a line that is not UTF-8 or has no word).
            _lastCommand = line.Kind == CommandLineKind.AuthTooLong ? "AUTH" : line.Verb ?? "UNKNOWN";
            _nextReply = Task.FromResult(SmtpAnswer.Refuse(refused));
            return;
        }

        _lastCommand = e.Command.Name;
        if (e.Command.Name is "HELO" or "EHLO" or "RSET" or "NOOP" or "VRFY" or "ETRN" && _junkCommands++ > JunkCommandLimit)
        {
            _errors++; // Postfix's smtpd_junk_command_limit: a client that only idles along is ended by the error limit too
        }

        switch (e.Command)
        {
            case EhloCommand ehlo:
                // SmtpServer's parser takes an address literal's brackets off: the line says whether there were any.
                Helo(_pipe.LastCommandLine.EhloName(ehlo.DomainOrAddress), esmtp: true);
                break;
            case HeloCommand helo:
                Helo(helo.DomainOrAddress, esmtp: false);
                break;
            case AuthCommand auth:
                _authMechanism = auth.Method;
                break;
            case MailCommand mail:
                // The line's own parameters, which SmtpServer was not given (CommandLine), else what it read: it gives a keyword
                // without a value (SMTPUTF8) a null value.
                _mailParameters = _pipe.LastCommandLine is { Kind: CommandLineKind.Mail, Parameters: { } parameters } ? parameters
                    : [.. mail.Parameters.Select(p => string.IsNullOrEmpty(p.Value) ? p.Key : p.Key + "=" + p.Value)];
                break;
            case DataCommand:
                // SmtpServer writes its 354 right after this event and gives no asynchronous point before it: the
                // filter's DATA decision is asked now and answered at the final dot (docs/smtpserver.md).
                _data = Then(token => _filter.DataAsync(token));
                break;
            case RsetCommand:
                EndMessage();
                _ = ResetFilterAsync();
                break;
        }
    }

    private void Helo(string name, bool esmtp)
    {
        EndMessage(); // HELO and EHLO reset the transaction (RFC 5321 §4.1.4)
        _heloTaken = true;
        HeloName = name;
        _esmtp = esmtp;
        var tls = _pipe.Tls; // RFC 3207: after STARTTLS the client says EHLO again, so this one knows the TLS
        _nextReply = Then(token =>
        {
            SetMacros(SecurityMacros.OfTls(tls));
            return _filter.HeloAsync(name, token);
        });
    }

    /// <summary>STARTTLS (or a TLS endpoint) succeeded.</summary>
    public void TlsStarted(TlsConnection tls) =>
        SmtpServerLog.TlsStarted(_logger, _context.SessionId, SecurityMacros.VersionName(tls.Protocol) ?? tls.Protocol.ToString(), tls.CipherSuite.ToString());

    /// <summary>The TLS handshake failed: the session ends.</summary>
    public void TlsFailed(Exception e) => SmtpServerLog.TlsFailed(_logger, _context.SessionId, LogText.Quote(e.GetBaseException().Message));

    private void SetMacros(IEnumerable<(string Name, string? Value)> macros)
    {
        foreach (var (name, value) in macros)
        {
            _macros.SetMacro(name, value);
        }
    }

    /// <summary>Counts this session's message as under way; false when the server drains.</summary>
    private bool BeginMessage()
    {
        (_recipients, _overshoot) = (0, 0);
        // A MAIL ends whatever transaction came before (SmtpServer 11 refuses one within a transaction itself, so this
        // only matters if a way to end one was missed): never counted twice, never let through a drain.
        EndMessage();
        if (!_messages.TryBegin())
        {
            return false;
        }

        _inMessage = 1;
        return true;
    }

    /// <summary>This session's message is over, if one was counted: answered, reset, or the client gone.</summary>
    private void EndMessage()
    {
        if (Interlocked.Exchange(ref _inMessage, 0) == 1)
        {
            _messages.End();
        }
    }

    private bool Accepts(SmtpAnswer answer)
    {
        if (!answer.IsRefused)
        {
            return true;
        }

        // SmtpServer writes "550 mailbox unavailable" for a refusal; the filter's reply is written in its place.
        _nextReply = Task.FromResult(answer);
        return false;
    }

    private async Task<SmtpAnswer> FilterAndStoreAsync(ReadOnlySequence<byte> content, MessageSizeGate? gated, CancellationToken cancellationToken)
    {
        var data = await (_data ?? Then(token => _filter.DataAsync(token))).ConfigureAwait(false);
        _data = null;
        if (data.IsRefused)
        {
            // The client has sent the message SmtpServer asked for; the transaction is over, for the filter too.
            await ResetFilterAsync().ConfigureAwait(false);
            return data;
        }

        if (gated is { IsTooLarge: true })
        {
            // Read to its end and none of it kept: the filter never sees it, and its transaction ends.
            SmtpServerLog.MessageTooLarge(_logger, _context.SessionId, gated.Size, Client.Address, gated.Limit);
            await ResetFilterAsync().ConfigureAwait(false);
            return SmtpAnswer.Refuse(MessageTooLarge);
        }

        var queueId = TraceField.NewQueueId();
        _queueId = queueId;
        var traceField = _addTraceField ? TraceField.Write(_context, Client, HeloName, _esmtp, queueId) : null;
        // SmtpServer keeps the CRLF before the final dot out of the content: it ends the last line (RFC 5321 §4.1.1.4).
        var message = new byte[content.Length + 2];
        content.CopyTo(message);
        message[^2] = (byte)'\r';
        message[^1] = (byte)'\n';
        var hops = ReceivedFields(message);
        if (hops + 1 >= HopCountLimit) // + this server's own, as Postfix's cleanup counts the Received field smtpd added
        {
            SmtpServerLog.TooManyHops(_logger, _context.SessionId, queueId, hops, HopCountLimit);
            await ResetFilterAsync().ConfigureAwait(false);
            return SmtpAnswer.Refuse(TooManyHops);
        }

        var filtered = await Then(token => _filter.MessageAsync(new MemoryStream(message, writable: false), traceField, token)).ConfigureAwait(false);
        if (filtered.Answer.IsRefused || filtered.Disposition == Disposition.Discard)
        {
            SmtpServerLog.NotStored(_logger, _context.SessionId, queueId, filtered.Disposition);
            return filtered.Answer;
        }

        try
        {
            var stored = await _store.SaveAsync(new ReceivedMessage
            {
                Context = _context,
                Client = Client,
                HeloName = HeloName,
                QueueId = queueId,
                TraceField = traceField is null ? null : MessageEditor.ReadFields(traceField)[0],
                Macros = SessionMacros(),
                Filtered = filtered,
            }, cancellationToken).ConfigureAwait(false);
            // A store's reply is written in place of SmtpServer's 250, whatever its code (the relay's "250 2.0.0 Ok:
            // queued as ..." too); a 421 closes the session.
            return stored is null ? SmtpAnswer.Proceed : SmtpAnswer.ReplyWith(stored);
        }
        catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException)
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // A store's own timeout (an HttpClient's, say) is its failure, not the session's end: 451, never SmtpServer's 554.
            SmtpServerLog.StoreFailed(_logger, _context.SessionId, queueId, e.Message, e is IOException or UnauthorizedAccessException ? null : e);
            return SmtpAnswer.Refuse(StoreFailed);
        }
    }

    /// <summary>The session's TLS and AUTH macros that have a value, as the filter at the commands was told them.</summary>
    private Dictionary<string, string> SessionMacros() =>
        SecurityMacros.OfTls(_pipe.Tls).Concat(SecurityMacros.OfAuth(_authMechanism, AuthenticatedUser))
            .Where(macro => macro.Value is not null)
            .ToDictionary(macro => macro.Name, macro => macro.Value!, StringComparer.Ordinal);

    /// <summary>The user the client authenticated as; null before it did.</summary>
    private string? AuthenticatedUser => _context.Authentication.IsAuthenticated ? _context.Authentication.User : null;

    /// <summary>Ends the filter's transaction (RSET, or a message refused before the filter saw it), after every call before.</summary>
    private Task<bool> ResetFilterAsync() => Then(async token =>
    {
        await _filter.ResetAsync(token).ConfigureAwait(false);
        return true;
    });

    /// <summary>
    /// Runs <paramref name="call"/> on the filter after every call started before it. Its answer is handed on from a
    /// thread-pool thread: with <c>IO_MODE=async</c> the plug-in finishes a call on the thread of its own that read the
    /// milter's reply, and what awaits it runs there, which would be SmtpServer's session and the application's code
    /// (its store, its authenticator): code that blocks there would hold up every milter connection that thread serves.
    /// </summary>
    private Task<T> Then<T>(Func<CancellationToken, ValueTask<T>> call)
    {
        var token = _lifetime.Token;
        var task = After(_tail, call, token);
        _tail = task;
        return task;

        static async Task<T> After(Task previous, Func<CancellationToken, ValueTask<T>> call, CancellationToken token)
        {
            await previous.ConfigureAwait(false);
            var answer = await call(token).ConfigureAwait(false);
            if (!Thread.CurrentThread.IsThreadPoolThread)
            {
                await Task.Yield(); // one hop per SMTP command, after the milter answered: the milter waits on nothing here
            }

            return answer;
        }
    }

    /// <summary>
    /// The message's <c>Received:</c> fields, counted as the one header reader splits them, over the array as it is; a
    /// field of any length is read (Postfix takes it, and cuts it when it stores the message).
    /// </summary>
    private static int ReceivedFields(byte[] message)
    {
        using var stream = new MemoryStream(message, writable: false);
        using var reader = new MessageHeaderReader(stream, Math.Max(message.Length, MessageHeaderReader.MaxFieldBytes));
        var count = 0;
        while (reader.ReadField() is { } field)
        {
            count += field.Name.Equals("Received", StringComparison.OrdinalIgnoreCase) ? 1 : 0;
        }

        return count;
    }

    private static string PathOf(IMailbox? mailbox) =>
        mailbox is null || (string.IsNullOrEmpty(mailbox.User) && string.IsNullOrEmpty(mailbox.Host)) ? "<>"
            : $"<{MailPath.Address(mailbox.User, mailbox.Host)}>"; // SmtpServer takes a quoted local part's quotes off: put them back

    /// <summary>The client's address, as <see cref="Client"/> will have it; null when the listener does not say.</summary>
    public static IPAddress? ClientAddressOf(ISessionContext context) => Unmapped(EndPointOf(context, EndpointListener.RemoteEndPointKey)?.Address);

    /// <summary>An end of the connection, as SmtpServer's listener notes it in the session's properties.</summary>
    private static IPEndPoint? EndPointOf(ISessionContext context, string key) =>
        context.Properties.TryGetValue(key, out var endPoint) ? endPoint as IPEndPoint : null;

    private static ClientInfo ClientOf(ISessionContext context)
    {
        var remote = EndPointOf(context, EndpointListener.RemoteEndPointKey);
        var local = EndPointOf(context, EndpointListener.LocalEndPointKey);
        return new ClientInfo
        {
            Address = Unmapped(remote?.Address),
            Port = remote?.Port ?? 0,
            ServerAddress = Unmapped(local?.Address),
            ServerPort = local?.Port ?? 0,
            ServerName = context.ServerOptions.ServerName,
        };
    }

    private static IPAddress? Unmapped(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
}
