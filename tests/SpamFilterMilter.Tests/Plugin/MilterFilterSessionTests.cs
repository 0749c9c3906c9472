using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>The host's stage-by-stage session: failures become decisions, logged once.</summary>
public class MilterFilterSessionTests : TempFolderTest
{
    private CapturedLogs _logs = null!;

    [SetUp]
    public void CaptureLogs() => _logs = new CapturedLogs();

    [TearDown]
    public void StopCapturing() => _logs.Dispose();

    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 1234);

    [Test]
    public async Task An_unreachable_milter_answers_every_call_with_the_failure_action_and_is_logged_once()
    {
        var port = TestPlugins.ClosedPort();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(port), _logs);
        await using var session = plugin.OpenSession();

        var atConnect = await session.ConnectAsync(Client);
        var atMail = await session.MailAsync("a@b");
        var verdict = await session.EndOfMessageAsync();

        Assert.That(atConnect.Failure, Is.Not.Null);
        Assert.That(atConnect.Failure!.Stage, Is.EqualTo(FilterStage.Connect));
        Assert.That(atConnect.Failure.Cause, Does.Contain($"can't connect to 127.0.0.1:{port}"));
        Assert.That((atConnect.Action, atConnect.Reply?.ToString()), Is.EqualTo((FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later")));
        Assert.That(atMail with { Stage = FilterStage.Connect }, Is.EqualTo(atConnect), "later calls answer at once with the same failure");
        Assert.That(atMail.Stage, Is.EqualTo(FilterStage.Mail), "each answers its own stage");
        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        var warnings = _logs.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0].EventId.Id, Is.EqualTo(4001));
        Assert.That(warnings[0].Message, Does.StartWith($"milter 127.0.0.1:{port}: connect: can't connect"));
        Assert.That(warnings[0].Message, Does.Contain("the verdict is the failure action tempfail, for the host to apply"));
    }

    [Test]
    public async Task Body_chunks_allocate_nothing_once_the_message_is_under_way()
    {
        // Blocking I/O runs every call to completion on this thread, so this thread's allocation
        // counter sees all of the plug-in's work and none of the milter's (which runs elsewhere).
        // The benchmark (StreamingBenchmarks) measures the same with asynchronous I/O.
        const int Chunks = 1000;
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, "IO_MODE=blocking\n"), _logs);
        var milterTask = Task.Run(async () =>
        {
            await using var milter = await listener.AcceptAsync();
            await milter.ExpectAsync('O');
            await milter.SendAsync(Raw.OptNeg(6, 0x1FF, 0));
            var bodyPackets = 0;
            while (true)
            {
                var packet = await milter.ReadAsync();
                switch (packet.Code)
                {
                    case 'D' or 'A':
                        continue;
                    case 'Q':
                        return bodyPackets;
                    case 'B':
                        bodyPackets++;
                        break;
                }

                await milter.SendAsync(Raw.Packet('c'));
            }
        });
        var chunk = new byte[64 * 1024];
        chunk.AsSpan().Fill((byte)'x');

        await using (var session = plugin.OpenSession())
        {
            await session.ConnectAsync(Client);
            await session.MailAsync("a@b");
            await session.RcptAsync("c@d");
            await session.DataAsync();
            await session.EndOfHeadersAsync();
            for (var i = 0; i < 100; i++)
            {
                await session.BodyAsync(chunk); // warm-up: buffers sized, pools filled
            }

            var continued = 0;
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Chunks; i++)
            {
                var decision = session.BodyAsync(chunk);
                if (decision.IsCompletedSuccessfully && decision.Result.Action == FilterAction.Continue)
                {
                    continued++; // (no Assert in here: NUnit's asserts allocate)
                }
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(continued, Is.EqualTo(Chunks), "blocking I/O: each chunk answered before the call returns");
            Assert.That(allocated, Is.LessThan(Chunks), $"{allocated} bytes for {Chunks} chunks of 64 KiB: the smallest object is 24 bytes, so less than one byte a chunk means none");
            Assert.That((await session.EndOfMessageAsync()).Kind, Is.EqualTo(VerdictKind.Default));
        }

        Assert.That(await milterTask, Is.GreaterThan(Chunks), "every chunk reached the milter as SMFIC_BODY");
    }

    [TestCase("accept", FilterAction.Accept, null)]
    [TestCase("reject", FilterAction.Reject, "550 5.7.1 Service unavailable")]
    [TestCase("tempfail", FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later")]
    public async Task The_failure_action_is_configurable(string policy, FilterAction action, string? reply)
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(TestPlugins.ClosedPort(), $"FAILURE_ACTION={policy}\n"), _logs);
        await using var session = plugin.OpenSession();

        var decision = await session.ConnectAsync(Client);

        Assert.That((decision.Action, decision.Reply?.ToString()), Is.EqualTo((action, reply)));
    }

    [Test]
    public async Task A_milter_that_hangs_up_at_the_end_of_the_message_gives_a_failure_verdict_naming_the_stage()
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port), _logs);
        await using var session = plugin.OpenSession();

        var milterTask = Task.Run(async () =>
        {
            await using var milter = await listener.AcceptAsync();
            await milter.ExpectAsync('O');
            await milter.SendAsync(Raw.OptNeg(6, 0x1FF, 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x40000)); // no replies before EOM
            while ((await milter.ReadAsync()).Code != 'E')
            {
            }

            milter.Close();
        });
        await session.ConnectAsync(Client);
        await session.HeloAsync("h");
        await session.MailAsync("a@b");
        await session.RcptAsync("c@d");
        await session.DataAsync();
        await session.EndOfHeadersAsync();
        var verdict = await session.EndOfMessageAsync();
        await milterTask;

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Stage, Is.EqualTo(FilterStage.EndOfMessage));
        Assert.That(verdict.Failure.Cause, Is.EqualTo("SMFIC_BODYEOB reply: can't read packet header: the milter closed the connection"));
        Assert.That(verdict.Text, Does.StartWith($"# milter failure: milter 127.0.0.1:{listener.Port}: eom: SMFIC_BODYEOB reply: can't read packet header"));
    }

    [TestCase("async")]
    [TestCase("blocking")]
    [Category("Integration")] // cancels after 200 ms of real time
    public async Task The_host_can_cancel_a_wait_at_once_and_the_session_then_answers_with_the_failure(string ioMode)
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, $"HOST=127.0.0.1\nPORT={listener.Port}\nTIMEOUT=3000\nIO_MODE={ioMode}\n", _logs);
        await using var session = plugin.OpenSession();
        var milter = Task.Run(async () =>
        {
            await using var m = await listener.AcceptAsync();
            await m.ExpectAsync('O');
            await m.SendAsync(Raw.OptNeg(6, 0, 0));
            await m.ExpectAsync('C');
            await m.SendAsync(Raw.Packet('c'));
            await m.ExpectAsync('M');
            return await m.SessionClosedAsync(TimeSpan.FromSeconds(10)); // never answers MAIL
        });
        await session.ConnectAsync(Client);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var started = System.Diagnostics.Stopwatch.StartNew();

        Assert.CatchAsync<OperationCanceledException>(async () => await session.MailAsync("a@b", null, cancel.Token));

        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "not the 30 s TIMEOUT");
        Assert.That(await milter, Is.True, "the connection was dropped");
        var after = await session.RcptAsync("c@d");
        Assert.That(after.Failure?.Cause, Is.EqualTo("SMFIC_MAIL reply: cancelled by the host"));
    }

    [TestCase("async")]
    [TestCase("blocking")]
    [Category("Integration")] // waits out TIMEOUT (0.5 s) on a full socket buffer
    public async Task A_milter_that_stops_reading_cannot_hold_a_write_longer_than_TIMEOUT(string ioMode)
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, $"HOST=127.0.0.1\nPORT={listener.Port}\nTIMEOUT=50\nIO_MODE={ioMode}\n", _logs);
        await using var session = plugin.OpenSession();
        var release = new TaskCompletionSource();
        var milter = Task.Run(async () =>
        {
            await using var m = await listener.AcceptAsync();
            await m.ExpectAsync('O');
            await m.SendAsync(Raw.OptNeg(6, 0x1FF, 0x80000)); // NR_BODY: body packets go out back to back
            foreach (var command in "CMRTN")
            {
                await m.ExpectAsync(command);
                await m.SendAsync(Raw.Packet('c'));
            }

            await release.Task.WaitAsync(TimeSpan.FromSeconds(20)); // holds the connection and reads nothing: the buffers fill up
            return await m.SessionClosedAsync(TimeSpan.FromSeconds(5));
        });
        await session.ConnectAsync(Client);
        await session.MailAsync("a@b");
        await session.RcptAsync("c@d");
        await session.DataAsync();
        await session.EndOfHeadersAsync();
        var chunk = new byte[1024 * 1024];
        StageDecision? decision = null;
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 200 && decision?.Failure is null; i++)
        {
            decision = await session.BodyAsync(chunk);
        }

        release.SetResult();
        Assert.That(decision!.Failure, Is.Not.Null, "200 MB did not fit in the socket buffers?");
        Assert.That(decision.Failure!.Cause, Is.EqualTo("SMFIC_BODY: can't write: timed out after 0.5 s (CONTENT_TIMEOUT)"));
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(await milter, Is.True);
    }

    [Test]
    public async Task Host_macros_set_before_connect_reach_the_milter()
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port), _logs);
        await using var session = plugin.OpenSession();
        session.SetMacro("j", "mx.example.com");
        session.SetMacro("{auth_authen}", "alice");

        var milterTask = Task.Run(async () =>
        {
            await using var milter = await listener.AcceptAsync();
            await milter.ExpectAsync('O');
            await milter.SendAsync(Raw.OptNeg(6, 0, 0));
            var connect = await milter.ReadSkippingMacrosAsync();
            await milter.SendAsync(Raw.Packet('c'));
            var mail = await milter.ReadSkippingMacrosAsync();
            await milter.SendAsync(Raw.Packet('c'));
            return (connect.Macros.Single().Macros, mail.Macros.Single().Macros);
        });
        await session.ConnectAsync(Client);
        await session.MailAsync("a@b");
        var (connectMacros, mailMacros) = await milterTask;

        Assert.That(connectMacros["j"], Is.EqualTo("mx.example.com"));
        Assert.That(mailMacros["{auth_authen}"], Is.EqualTo("alice"), "auth facts go with MAIL, as in sendmail and Postfix");
    }

    [Test]
    public async Task A_bad_macro_name_is_refused_at_once()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(1));
        await using var session = plugin.OpenSession();

        Assert.Throws<ArgumentException>(() => session.SetMacro("{two words}", "x"));
    }

    [Test]
    public async Task Calls_before_connect_are_host_bugs()
    {
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(1));
        await using var session = plugin.OpenSession();

        Assert.ThrowsAsync<InvalidOperationException>(async () => await session.MailAsync("a@b"));
    }
}
