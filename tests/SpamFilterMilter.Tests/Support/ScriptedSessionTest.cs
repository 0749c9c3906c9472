using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;

namespace SpamFilterMilter.Tests.Support;

/// <summary>
/// The fixture of the session tests: a <see cref="SessionPair"/> per test, each test run three times, with whole
/// reads, with one-byte reads, and with blocking I/O. <see cref="Session"/> is made on first use with the pair's
/// settings, unless the test chose others first (<see cref="UseSession"/>), and is disposed after the test.
/// </summary>
[TestFixture(int.MaxValue, false)]
[TestFixture(1, false)]
[TestFixture(int.MaxValue, true)]
public abstract class ScriptedSessionTest(int delivery, bool blocking)
{
    private SessionPair? _pair;
    private MilterSession? _session;

    /// <summary>True when the session waits in blocking reads.</summary>
    protected bool Blocking => blocking;

    internal SessionPair Pair => _pair ?? throw new InvalidOperationException("The pair is made in SetUp.");

    internal ScriptedMilter Milter => Pair.Milter;

    internal MilterSession Session => _session ??= Pair.CreateSession();

    [SetUp]
    public async Task StartPairAsync() => _pair = await SessionPair.StartAsync(delivery, blocking);

    [TearDown]
    public async Task StopPairAsync()
    {
        if (_session is not null)
        {
            await _session.DisposeAsync();
            _session = null;
        }

        await Pair.DisposeAsync();
    }

    /// <summary>Makes <see cref="Session"/> with <paramref name="settings"/> (the pair's, with this fixture's I/O mode, when null) before anything used it.</summary>
    internal MilterSession UseSession(MilterSessionSettings? settings = null, Action? acknowledgeNow = null)
    {
        Assert.That(_session, Is.Null, "a test chooses its session's settings before it uses the session");
        return _session = Pair.CreateSession(settings: settings, acknowledgeNow: acknowledgeNow);
    }

    /// <summary>Negotiates (OPTNEG answered with <paramref name="reply"/>).</summary>
    internal Task<NegotiatedOptions> NegotiateAsync(byte[] reply) => Pair.NegotiateAsync(Session, reply);

    /// <summary>Negotiates version 6 and connects (see <see cref="SessionPair.OpenAsync"/>).</summary>
    internal Task<NegotiatedOptions> OpenAsync(uint actions = 0x1FF, uint protocol = 0) => Pair.OpenAsync(Session, actions, protocol);

    /// <summary>Makes <paramref name="call"/>, which must send <paramref name="command"/>, and answers it with <paramref name="replies"/> (CONTINUE when none).</summary>
    internal async Task<T> ExchangeAsync<T>(Func<ValueTask<T>> call, char command, params byte[][] replies)
    {
        var running = SessionPair.Run(call);
        await Milter.ExpectAsync(command);
        await Milter.SendAsync(replies.Length > 0 ? replies : [Raw.Packet('c')]);
        return await running;
    }

    /// <summary>
    /// MAIL, RCPT and (unless the milter's version lacks it) DATA, each answered with CONTINUE. After a finished message
    /// (<paramref name="afterMessage"/>) the MAIL comes behind the ABORT that reset it, as in Postfix.
    /// </summary>
    internal async Task ReachHeadersAsync(bool expectData = true, bool afterMessage = false)
    {
        if (afterMessage)
        {
            var mail = SessionPair.Run(() => Session.MailAsync("a@b", null));
            await Milter.ExpectAsync('A');
            await Milter.ExpectAsync('M');
            await Milter.SendAsync(Raw.Packet('c'));
            await mail;
        }
        else
        {
            await ExchangeAsync(() => Session.MailAsync("a@b", null), 'M');
        }

        await ExchangeAsync(() => Session.RcptAsync("c@d", null), 'R');
        if (expectData)
        {
            await ExchangeAsync(() => Session.DataAsync(), 'T');
        }
        else
        {
            await Session.DataAsync();
        }
    }

    /// <summary><see cref="ReachHeadersAsync"/>, then the end of headers answered with CONTINUE.</summary>
    internal async Task ReachBodyAsync(bool afterMessage = false)
    {
        await ReachHeadersAsync(afterMessage: afterMessage);
        await ExchangeAsync(() => Session.EndOfHeadersAsync(), 'N');
    }
}
