namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Every order of calls an RFC 5321 server produces, driven through the plug-in loaded by path against the real
/// libmilter test milter, in both I/O modes: each call gets the decision it should, nothing throws, and the milter's
/// callbacks (its transcript) are what libmilter makes of the sequencing Postfix uses (ABORT after a refused MAIL,
/// after RSET only in a transaction, after every finished transaction, HELO before ABORT on a second EHLO; libmilter
/// ignores an ABORT outside a transaction and calls xxfi_abort itself on a MAIL or HELO inside one).
/// </summary>
[Category("Integration")]
public class LibmilterOrderTests : TempFolderTest
{
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net");

    /// <summary>
    /// One order of SMTP commands: the milter's actions, the calls (<see cref="SmtpCalls"/>), each call's decision
    /// (c continue, a accept, r reject, t tempfail, - none), and the milter's callbacks in order.
    /// </summary>
    private static IEnumerable<TestCaseData> Orders()
    {
        (string Name, string[] Milter, string Calls, string Decisions, string Callbacks)[] orders =
        [
            ("many transactions on one session", [],
                "EHLO c; MAIL a; RCPT b; DATA; MSG; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c c c a c c c a -",
                "helo mail rcpt data header eoh body eom mail rcpt data header eoh body eom close"),
            ("HELO is optional", [],
                "MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c c a -",
                "mail rcpt data header eoh body eom close"),
            ("MAIL right after a refused MAIL", ["-a", "mail/spam@=reject"],
                "EHLO c; MAIL spam@x; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c r c c c a -",
                "helo mail mail rcpt data header eoh body eom close"),
            ("a host that goes on after a refused MAIL gets the refusal again, without the milter", ["-a", "mail/spam@=reject"],
                "EHLO c; MAIL spam@x; RCPT b; DATA; MSG; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c r r r r c c c a -",
                "helo mail mail rcpt data header eoh body eom close"),
            ("MAIL while a transaction is open ends it first", [],
                "EHLO c; MAIL a; RCPT b; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c c c c c a -",
                "helo mail rcpt abort mail rcpt data header eoh body eom close"),
            ("MAIL in the middle of a message the host gave up on", [],
                "EHLO c; MAIL a; RCPT b; DATA; HDR; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c c c c c c c a -",
                "helo mail rcpt data header abort mail rcpt data header eoh body eom close"),
            ("RSET anywhere, a no-op outside a transaction", [],
                "EHLO c; RSET; MAIL a; RSET; RSET; MAIL a; RCPT b; DATA; HDR; RSET; MAIL a; RCPT b; DATA; MSG; RSET; QUIT",
                "c - c - - c c c c - c c c a - -",
                "helo mail abort mail rcpt data header abort mail rcpt data header eoh body eom close"),
            ("EHLO again, inside a transaction and after a message", [],
                "EHLO a; MAIL a; RCPT b; EHLO b; MAIL a; RCPT b; DATA; MSG; EHLO c; QUIT",
                "c c c c c c c a c -",
                "helo mail rcpt abort helo mail rcpt data header eoh body eom helo close"),
            ("DATA when every recipient was refused, then another recipient and DATA", ["-a", "rcpt/nobody@=reject"],
                "EHLO c; MAIL a; RCPT nobody@x; RCPT! gone@x; DATA; RCPT b; DATA; MSG; QUIT",
                "c c r c c c c a -",
                "helo mail rcpt rcpt data header eoh body eom close"),
            ("DATA when every recipient was refused, then RSET", ["-a", "rcpt/nobody@=reject"],
                "EHLO c; MAIL a; RCPT nobody@x; DATA; RSET; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c r c - c c c a -",
                "helo mail rcpt abort mail rcpt data header eoh body eom close"),
            ("a message refused at a header, then the next", ["-a", "header/spam=reject"],
                "EHLO c; MAIL a; RCPT b; DATA; MSG spam; MAIL a; RCPT b; DATA; MSG ham; QUIT",
                "c c c c r c c c a -",
                "helo mail rcpt data header mail rcpt data header eoh body eom close"),
            ("a message tempfailed at the end, then the next", ["-a", "eom=tempfail"],
                "EHLO c; MAIL a; RCPT b; DATA; MSG; MAIL a; RCPT b; DATA; MSG; QUIT",
                "c c c c t c c c t -",
                "helo mail rcpt data header eoh body eom mail rcpt data header eoh body eom close"),
            // After UNKNOWN libmilter takes ABORT as a move of its own (engine.c NX_UNKN) and calls xxfi_abort: the ABORT
            // Postfix sends at QUIT for the HELO (helo_reset) reaches the milter, as it does from Postfix.
            ("unknown commands between and inside transactions", [],
                "EHLO c; XYZZY; MAIL a; XYZZY; RCPT b; DATA; MSG; XYZZY; QUIT",
                "c c c c c c a c -",
                "helo unknown mail unknown rcpt data header eoh body eom unknown abort close"),
            ("QUIT in the middle of a message, twice", [],
                "EHLO c; MAIL a; RCPT b; DATA; HDR; QUIT; QUIT",
                "c c c c c - -",
                "helo mail rcpt data header abort close"),
            ("QUIT after a refused MAIL", ["-a", "mail=reject"],
                "EHLO c; MAIL a; QUIT",
                "c r -",
                "helo mail close"),
            ("QUIT right after connect", [],
                "QUIT",
                "-",
                "close"),
        ];
        foreach (var io in new[] { "async", "blocking" })
        {
            foreach (var (name, milter, calls, decisions, callbacks) in orders)
            {
                yield return new TestCaseData(milter, calls, decisions, callbacks, io).SetArgDisplayNames(name, io);
            }
        }
    }

    [TestCaseSource(nameof(Orders))]
    public async Task Every_order_an_SMTP_server_produces_gets_its_decisions_and_libmilter_sees_a_session_it_accepts(
        string[] milterArguments, string calls, string decisions, string callbacks, string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(milterArguments);
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, $"IO_MODE={io}\n"));
        await using var session = plugin.OpenSession();
        Assert.That((await session.ConnectAsync(Client)).Failure, Is.Null);

        var answered = await SmtpCalls.PlayAsync(session, calls);

        Assert.That(answered, Is.EqualTo(decisions));
        var transcript = await milter.TranscriptAfterAsync("close");
        var seen = transcript.Where(l => l.Event is not ("negotiate" or "connect" or "macro" or "action")).Select(l => l.Event);
        Assert.That(string.Join(' ', seen), Is.EqualTo(callbacks));
    }
}
