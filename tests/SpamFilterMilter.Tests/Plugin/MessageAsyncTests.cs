namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// <see cref="IFilterSession.MessageAsync"/>: an SMTP server hands over the content after DATA as a stream; the session
/// splits it as the whole-message path does and plays HEADER*, EOH, BODY*, EOM; a decision before the end stops the
/// reading there and says where.
/// </summary>
[TestFixture("async")]
[TestFixture("blocking")]
public class MessageAsyncTests(string ioMode) : TempFolderTest
{
    private const string Message = "From: Alice <alice@example.org>\nSubject: Hello\n folded\nX-Repeat: 1\nX-Repeat: 2\n\nBody line 1\nBody line 2\n";

    private static readonly ClientInfo Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 1234, "client.example.net");

    /// <summary>Connects, plays MAIL, RCPT and DATA, then <paramref name="content"/> through MessageAsync, then a second MAIL, and closes.</summary>
    private async Task<(FilterVerdict Verdict, List<ReceivedPacket> Packets)> PlayAsync(Stream content, Func<ReceivedPacket, byte[][]?> answer)
    {
        using var listener = new ScriptedMilterListener();
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={ioMode}\n"));
        var milter = MilterScripts.RunAsync(listener, answer);
        FilterVerdict verdict;
        await using (var session = plugin.OpenSession())
        {
            await session.ConnectAsync(Client);
            Assert.That(await SmtpCalls.PlayAsync(session, "MAIL a; RCPT b; DATA"), Is.EqualTo("c c c"));
            verdict = await session.MessageAsync(content);
            await session.MailAsync("next@example.org"); // the transaction is over: no RSET needed
        }

        return (verdict, await milter);
    }

    [Test]
    public async Task The_content_reaches_the_milter_header_by_header_then_the_body_in_CRLF()
    {
        var (verdict, packets) = await PlayAsync(new MemoryStream(Encoding.ASCII.GetBytes(Message)), _ => null);

        Assert.That((verdict.Kind, verdict.DecidedAt), Is.EqualTo((VerdictKind.Default, (FilterStage?)FilterStage.EndOfMessage)));
        Assert.That(new string(packets.Where(p => p.Code != 'D').Select(p => p.Code).ToArray()), Is.EqualTo("CMRTLLLLNBEAMAQ"));
        Assert.That(packets.Where(p => p.Code == 'L').Select(p => (p.Strings[0], p.Strings[1])), Is.EqualTo(new[]
        {
            ("From", "Alice <alice@example.org>"), ("Subject", "Hello\n folded"), ("X-Repeat", "1"), ("X-Repeat", "2"),
        }));
        Assert.That(Encoding.ASCII.GetString(packets.Single(p => p.Code == 'B').Payload), Is.EqualTo("Body line 1\r\nBody line 2\r\n"));
    }

    [Test]
    public async Task A_field_with_blanks_before_its_colon_reaches_the_milter_without_them_cut_at_its_NUL_in_pieces_that_count_them()
    {
        // smtpd's first 2,048-byte piece of the line holds "X-Nul  :" and 2,040 bytes of the value (what Postfix sent its
        // milter in the Postfix differential's "delivered: blanks before the colon counted" case).
        var message = "X-Nul  : a\0" + new string('b', 3000) + "\r\nSubject: s\r\n\r\nbody\r\n";

        var (_, packets) = await PlayAsync(new MemoryStream(Encoding.ASCII.GetBytes(message)), _ => null);

        Assert.That(packets.Where(p => p.Code == 'L').Select(p => (p.Strings[0], p.Strings[1])), Is.EqualTo(new[]
        {
            ("X-Nul", "a" + new string('b', 963)), ("Subject", "s"),
        }));
    }

    [Test]
    public async Task A_reject_at_a_header_stops_the_reading_there_and_the_verdict_names_the_header_stage()
    {
        var body = new string('x', 998) + "\r\n";
        var message = Encoding.ASCII.GetBytes("Subject: spam\r\nX-After: 1\r\n\r\n" + string.Concat(Enumerable.Repeat(body, 10_000)));
        using var content = new CountingStream(message);

        var (verdict, packets) = await PlayAsync(content, p => p is { Code: 'L' } && p.Strings[0] == "Subject" ? [Raw.Packet('r')] : null);

        Assert.That((verdict.Action, verdict.DecidedAt, verdict.Reply?.Code), Is.EqualTo((FilterAction.Reject, (FilterStage?)FilterStage.Header, (int?)550)));
        Assert.That(new string(packets.Where(p => p.Code != 'D').Select(p => p.Code).ToArray()), Is.EqualTo("CMRTLAMAQ"),
            "one header, then the reset of the decided transaction in front of the next MAIL");
        Assert.That(content.BytesRead, Is.LessThan(message.Length / 10), "the rest of the 10 MB body was left unread");
    }

    [Test]
    public async Task A_reject_at_the_first_header_leaves_the_rest_of_the_header_section_unread()
    {
        var fields = Enumerable.Range(0, 10_000).Select(i => $"X-Filler-{i}: {new string('x', 980)}\r\n");
        var message = Encoding.ASCII.GetBytes("Subject: spam\r\n" + string.Concat(fields) + "\r\nbody\r\n");
        using var content = new CountingStream(message);

        var (verdict, packets) = await PlayAsync(content, p => p is { Code: 'L' } && p.Strings[0] == "Subject" ? [Raw.Packet('r')] : null);

        Assert.That((verdict.Action, verdict.DecidedAt), Is.EqualTo((FilterAction.Reject, (FilterStage?)FilterStage.Header)));
        Assert.That(packets.Count(p => p.Code == 'L'), Is.EqualTo(1));
        Assert.That(content.BytesRead, Is.LessThan(message.Length / 10), "the 10 MB of header fields after the deciding one were left unread");
    }

    /// <summary>A read-only stream over bytes that counts what was read.</summary>
    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes, writable: false)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Count(base.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(base.Read(buffer));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        private int Count(int read)
        {
            BytesRead += read;
            return read;
        }
    }
}
