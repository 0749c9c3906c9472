namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Connection reuse (POOL_SIZE, SMFIC_QUIT_NC) against a real libmilter milter after every kind of verdict at
/// every stage, and after the host abandons a message. libmilter takes QUIT_NC only in some of its states and
/// silently ignores it (and the CONNECT after it) in the others, so a connection parked in the wrong state makes
/// the next SMTP session wait for TIMEOUT. Each SMTP session must get the milter's own verdict, and a connection is
/// reused exactly where libmilter allows it.
/// </summary>
[Category("Integration")]
public class LibmilterPoolTests : TempFolderTest
{
    private const int Sessions = 3;
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net");

    private static IEnumerable<TestCaseData> Cases()
    {
        // milter action, what the host does, the verdict the message gets, whether libmilter takes QUIT_NC afterwards
        (string Action, bool HostAborts, FilterAction? Verdict, bool Reused)[] cases =
        [
            ("eom=continue", false, FilterAction.Accept, true),
            ("eom=skip", false, FilterAction.Accept, true),
            ("eom=accept", false, FilterAction.Accept, false),
            ("eom=reject", false, FilterAction.Reject, false),
            ("eom=tempfail", false, FilterAction.TempFail, false),
            ("eom=discard", false, FilterAction.Discard, false),
            ("eom=reply:550:5.7.1:Not here", false, FilterAction.Reject, false),
            ("eom=quarantine:held", false, FilterAction.Accept, true),
            ("mail=accept", false, FilterAction.Accept, false),
            ("mail=reject", false, FilterAction.Reject, false),
            ("rcpt=accept", false, FilterAction.Accept, false),
            ("rcpt/bob@=reject", false, FilterAction.Accept, true), // that recipient alone is refused; the message goes on to its end
            ("header=accept", false, FilterAction.Accept, false),
            ("body=discard", false, FilterAction.Discard, false),
            ("eoh=tempfail", false, FilterAction.TempFail, false),
            ("eom=continue", true, null, false), // the host abandons the message (RSET) before its end
        ];
        foreach (var io in new[] { "async", "blocking" })
        {
            foreach (var (action, aborts, verdict, reused) in cases)
            {
                yield return new TestCaseData(action, aborts, verdict, reused, io)
                    .SetName($"{{m}}({action}{(aborts ? ",host aborts" : string.Empty)},{io})");
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public async Task Every_SMTP_session_gets_the_milters_verdict_and_a_connection_is_reused_only_where_libmilter_takes_QUIT_NC(
        string action, bool hostAborts, FilterAction? expected, bool reused, string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", action);
        // A short TIMEOUT: a connection parked where libmilter ignores QUIT_NC would fail the next session within it.
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, $"POOL_SIZE=2\nIO_MODE={io}\n", timeout: 300));

        for (var i = 0; i < Sessions; i++)
        {
            await using var session = plugin.OpenSession();
            var connect = await session.ConnectAsync(Client);
            Assert.That(connect.Failure, Is.Null, $"session {i}: {connect.Failure}");
            var verdict = await MessageAsync(session, hostAborts);
            if (expected is { } milterVerdict)
            {
                Assert.That(verdict!.Failure, Is.Null, $"session {i}: {verdict.Failure}");
                Assert.That(verdict.Action, Is.EqualTo(milterVerdict), $"session {i}");
            }

            await session.CloseAsync();
        }

        var transcript = await milter.TranscriptAfterAsync("connect", Sessions);
        Assert.That(transcript.Count(l => l.Event == "negotiate"), Is.EqualTo(reused ? 1 : Sessions),
            reused ? "one negotiated connection for every SMTP session" : "a fresh connection for every SMTP session");
        Assert.That(transcript.Count(l => l.Event == "connect"), Is.EqualTo(Sessions), "libmilter took every CONNECT");
    }

    /// <summary>One message as an SMTP server drives it; null when the host abandons it after DATA.</summary>
    private static async Task<FilterVerdict?> MessageAsync(IFilterSession session, bool hostAborts)
    {
        await session.HeloAsync("client.example.net");
        await session.MailAsync("alice@example.org");
        await session.RcptAsync("bob@example.com");
        await session.RcptAsync("carol@example.com");
        await session.DataAsync();
        if (hostAborts)
        {
            await session.AbortAsync();
            return null;
        }

        await session.HeaderAsync("Subject", " pool");
        await session.EndOfHeadersAsync();
        await session.BodyAsync(Encoding.ASCII.GetBytes("hello\r\n"));
        return await session.EndOfMessageAsync();
    }
}
