namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// The host's stage-by-stage session throws <see cref="InvalidOperationException"/> for the orders no SMTP server
/// produces (a recipient without MAIL, content without an accepted DATA, anything before connect or after close), and
/// for nothing else (LibmilterOrderTests plays the orders servers do produce). A refused call sends the milter nothing
/// and leaves the session as it was.
/// </summary>
[TestFixture("async")]
[TestFixture("blocking")]
public class CallOrderTests(string ioMode) : TempFolderTest
{
    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 1234);

    private static IEnumerable<TestCaseData> Impossible()
    {
        // the calls before (all fine), the call no SMTP server makes there
        (string Before, string Call, string Name)[] orders =
        [
            ("", "RCPT b", "RCPT without MAIL"),
            ("", "RCPT! b", "a refused RCPT without MAIL"),
            ("MAIL a; RSET", "RCPT b", "RCPT after RSET"),
            ("MAIL a; RCPT b; DATA; MSG", "RCPT b", "RCPT after the end of the message"),
            ("EHLO c; MAIL a; RCPT b; DATA", "RCPT b", "RCPT in the content"),
            ("", "DATA", "DATA without MAIL"),
            ("MAIL a; RCPT b; DATA", "DATA", "DATA twice"),
            ("MAIL a; RCPT b; DATA; MSG", "DATA", "DATA after the end of the message"),
            ("MAIL a; RCPT b", "HDR", "a header without DATA"),
            ("MAIL a; RCPT b", "MSG", "the content without DATA"),
            ("MAIL a; RCPT b", "EOM", "the end of the message without DATA"),
            ("MAIL a; RCPT! b; DATA", "HDR", "a header after DATA without a recipient"),
            ("MAIL a; RCPT! b; DATA", "MSG", "the content after DATA without a recipient"),
            ("MAIL a; RCPT b; DATA; MSG", "HDR", "a header after the end of the message"),
            ("MAIL a; RCPT b; DATA; EOH", "MSG", "the content after the end of the headers"),
            ("MAIL a; RCPT b; DATA; EOH", "HDR", "a header after the end of the headers"),
            ("MAIL a; RCPT b; DATA", "BODY", "the body before the end of the headers"),
            ("MAIL a; RCPT b; DATA", "XYZZY", "an unknown command in the content"),
        ];
        return orders.Select(o => new TestCaseData(o.Before, o.Call).SetArgDisplayNames(o.Name));
    }

    [TestCaseSource(nameof(Impossible))]
    public async Task An_order_no_SMTP_server_produces_throws_and_the_milter_sees_nothing_of_it(string before, string call)
    {
        var withoutIt = await MilterSeesAsync(before, null);

        var withIt = await MilterSeesAsync(before, call);

        Assert.That(withIt, Is.EqualTo(withoutIt), "the milter got nothing of the refused call, and the session went on as it was");
    }

    /// <summary>
    /// Plays <paramref name="before"/>, then <paramref name="impossible"/> (which must throw), then a whole message; the
    /// commands the milter got.
    /// </summary>
    private async Task<string> MilterSeesAsync(string before, string? impossible)
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={ioMode}\n"));
        var milter = MilterScripts.RunAsync(listener, _ => null);
        await using (var session = plugin.OpenSession())
        {
            await session.ConnectAsync(Client);
            await SmtpCalls.PlayAsync(session, before);
            if (impossible is not null)
            {
                Assert.ThrowsAsync<InvalidOperationException>(async () => await SmtpCalls.CallAsync(session, impossible));
            }

            Assert.That(await SmtpCalls.PlayAsync(session, "RSET; MAIL a; RCPT b; DATA; MSG; QUIT"), Is.EqualTo("- c c c a -"));
        }

        return string.Concat((await milter).Select(p => p.Code).Where(c => c != 'D'));
    }

    private static readonly string[] EveryCall = ["EHLO c", "MAIL a", "RCPT b", "RCPT! b", "DATA", "HDR", "EOH", "BODY", "EOM", "MSG", "XYZZY", "RSET"];

    [Test]
    public async Task Every_call_but_close_throws_before_connect_and_after_close()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort(), $"IO_MODE={ioMode}\n"));
        await using var unconnected = plugin.OpenSession();
        foreach (var call in EveryCall)
        {
            Assert.ThrowsAsync<InvalidOperationException>(async () => await SmtpCalls.CallAsync(unconnected, call), $"{call} before connect");
        }

        await unconnected.CloseAsync();
        await unconnected.CloseAsync();
        foreach (var call in EveryCall)
        {
            Assert.ThrowsAsync<InvalidOperationException>(async () => await SmtpCalls.CallAsync(unconnected, call), $"{call} after close");
        }

        Assert.ThrowsAsync<InvalidOperationException>(async () => await unconnected.ConnectAsync(Client), "connect after close");
    }

    /// <summary>
    /// The stage calls are not async methods (a reply resumes fewer methods so), but a refused call behaves as if they
    /// were: it returns a failed task and throws nothing at the call itself.
    /// </summary>
    [Test]
    public async Task A_refused_call_returns_a_failed_task_and_throws_nothing_at_the_call()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort(), $"IO_MODE={ioMode}\n"));
        await using var unconnected = plugin.OpenSession();
        var calls = new Dictionary<string, Func<ValueTask<StageDecision>>>
        {
            ["MAIL"] = () => unconnected.MailAsync("<a@example.com>"),
            ["RCPT"] = () => unconnected.RcptAsync("<b@example.com>"),
            ["DATA"] = () => unconnected.DataAsync(),
            ["header"] = () => unconnected.HeaderAsync("Subject", " partial"),
            ["end of headers"] = () => unconnected.EndOfHeadersAsync(),
        };
        foreach (var (name, call) in calls)
        {
            ValueTask<StageDecision> task = default;
            Assert.DoesNotThrow(() => task = call(), $"{name} threw at the call");
            Assert.That(task.IsFaulted, Is.True, $"{name} returned a task that did not fail");
            Assert.ThrowsAsync<InvalidOperationException>(async () => await task, name);
        }
    }

    [Test]
    public async Task After_a_failure_the_content_answers_with_it_unread_and_close_may_come_twice()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort(), $"IO_MODE={ioMode}\n"));
        await using var session = plugin.OpenSession();

        var connect = await session.ConnectAsync(Client);
        var content = new ThrowingStream();
        var verdict = await session.MessageAsync(content);
        await session.CloseAsync();
        await session.CloseAsync();

        Assert.That(connect.Failure, Is.Not.Null);
        Assert.That((verdict.Kind, verdict.Failure), Is.EqualTo((VerdictKind.Failure, connect.Failure)));
        Assert.That(content.Reads, Is.Zero, "the stream was not read"); // a read would fail too, with the same verdict
    }

    /// <summary>A stream that fails when read, and counts the reads tried.</summary>
    private sealed class ThrowingStream : MemoryStream
    {
        public int Reads { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Fail();

        public override int Read(Span<byte> buffer) => Fail();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Fail());

        private int Fail()
        {
            Reads++;
            throw new IOException("read");
        }
    }
}
