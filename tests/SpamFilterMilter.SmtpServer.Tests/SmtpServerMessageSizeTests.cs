using System.Buffers;
using System.Text;
using Moq;
using SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// A message over SmtpServer's <c>MaxMessageSize</c>, sent by a client that ignores the <c>SIZE</c> announced: read to
/// its final dot, nothing of it kept past the limit, answered <c>552 5.3.4 Error: message file too big</c> as
/// Postfix answers it, and the session goes on.
/// </summary>
public class SmtpServerMessageSizeTests
{
    private const string TooLarge = "552 5.3.4 Error: message file too big";
    private const int Limit = 10_000;

    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    /// <summary>A message of <paramref name="size"/> bytes, its last CRLF counted: header, blank line, lines of 78 x.</summary>
    private static string MessageOf(int size)
    {
        var message = new StringBuilder("Subject: big\r\n\r\n");
        while (message.Length + 80 <= size)
        {
            message.Append('x', 78).Append("\r\n");
        }

        message.Append('y', size - message.Length - 2).Append("\r\n");
        return message.ToString();
    }

    private static async Task<SmtpLineClient> InDataAsync(FilteringServer server)
    {
        var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        Assert.That((await client.SendAsync("DATA")).Code, Is.EqualTo(354));
        return client;
    }

    [TestCase(MaxMessageSizeHandling.Strict)]
    [TestCase(MaxMessageSizeHandling.Ignore)]
    public async Task A_message_over_the_limit_is_read_to_its_final_dot_and_answered_552_as_Postfix_answers_it(MaxMessageSizeHandling handling)
    {
        var filter = Filter();
        var store = new MemoryStore();
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, logs: logs, maxMessageSize: Limit, maxMessageSizeHandling: handling);
        await using var client = await InDataAsync(server);

        var end = await client.SendMessageAsync(MessageOf(3 * Limit));

        Assert.Multiple(() =>
        {
            Assert.That(end.Text, Is.EqualTo(TooLarge));
            Assert.That(store.Messages, Is.Empty);
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6033).Message,
                Does.EndWith($": message of {3 * Limit} bytes from 127.0.0.1, more than {Limit} (MaxMessageSize); answered {TooLarge}"));
        });
        filter.Verify(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>()), Times.Never);
        filter.Verify(f => f.HeaderAsync(It.IsAny<string>(), It.IsAny<RawText>(), It.IsAny<CancellationToken>()), Times.Never);
        filter.Verify(f => f.BodyAsync(It.IsAny<ReadOnlyMemory<byte>>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task After_a_message_over_the_limit_the_session_goes_on_and_the_next_message_is_taken_whole()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, addTraceField: false, maxMessageSize: Limit);
        await using var client = await InDataAsync(server);
        var tooLarge = await client.SendMessageAsync(MessageOf(Limit + 1));

        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<c@example.com>");
        await client.SendAsync("DATA");
        var next = await client.SendMessageAsync(MessageOf(Limit));

        Assert.Multiple(() =>
        {
            Assert.That(tooLarge.Text, Is.EqualTo(TooLarge));
            Assert.That(next.Code, Is.EqualTo(250), "a message of the limit exactly is taken");
            Assert.That(Encoding.ASCII.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo(MessageOf(Limit)));
            Assert.That(store.Messages.Single().Filtered.Envelope.Recipients.Single().Address, Is.EqualTo("c@example.com"));
        });
    }

    [Test]
    public async Task Commands_pipelined_after_the_final_dot_of_a_message_over_the_limit_are_read_as_commands()
    {
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), maxMessageSize: Limit);
        await using var client = await InDataAsync(server);

        var end = await client.SendRawAsync(MessageOf(2 * Limit) + ".\r\nNOOP\r\n");
        var noop = await client.ReadReplyAsync();

        Assert.That(end.Text, Is.EqualTo(TooLarge));
        Assert.That(noop?.Text, Does.StartWith("250"));
    }

    [Test]
    public async Task A_message_many_times_the_limit_is_answered_without_more_than_the_limit_held()
    {
        // 40 times the limit: a pipe that kept it all would hold 8 MB; the limit is 200 KB.
        const int limit = 200_000;
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, maxMessageSize: limit, maxMessageSizeHandling: MaxMessageSizeHandling.Ignore);
        await using var client = await InDataAsync(server);

        var end = await client.SendMessageAsync(MessageOf(40 * limit));

        Assert.That(end.Text, Is.EqualTo(TooLarge));
        Assert.That(store.Messages, Is.Empty);
    }

    [Test]
    public async Task Dot_stuffing_is_undone_as_SmtpServer_undoes_it_and_does_not_count_against_the_limit()
    {
        var store = new MemoryStore();
        // Ignore: Strict would bound the command lines to 20 bytes too.
        await using var server = await FilteringServer.StartAsync(null, store, addTraceField: false, maxMessageSize: 20, maxMessageSizeHandling: MaxMessageSizeHandling.Ignore);
        await using var client = await InDataAsync(server);

        // 5 lines of one dot after a first line: 23 bytes on the wire, 18 in the message.
        var end = await client.SendRawAsync("a\r\n" + string.Concat(Enumerable.Repeat("..\r\n", 5)) + ".\r\n");

        Assert.That(end.Code, Is.EqualTo(250));
        Assert.That(Encoding.ASCII.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo("a\r\n" + string.Concat(Enumerable.Repeat(".\r\n", 5))));
    }

    [Test]
    public async Task Over_STARTTLS_a_message_over_the_limit_is_answered_552_and_the_next_one_taken()
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(null, store, addTraceField: false, certificate: TestCertificate.Create(FilteringServer.Name), maxMessageSize: Limit);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.StartTlsAsync();

        var tooLarge = await client.SendMailAsync("a@example.org", ["b@example.com"], MessageOf(5 * Limit));
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");
        var next = await client.SendMessageAsync("Subject: small\r\n\r\nbody\r\n");

        Assert.That(tooLarge.Text, Is.EqualTo(TooLarge));
        Assert.That(next.Code, Is.EqualTo(250));
        Assert.That(Encoding.ASCII.GetString(store.Messages.Single().Filtered.Message), Is.EqualTo("Subject: small\r\n\r\nbody\r\n"));
    }

    [TestCase("..first\r\n.\r\r\n..\r\n\r.\r\nx\r\n.\rz\r\n\r\n.\r\n")]
    [TestCase(".\r\nQUIT\r\n.\r\n")]
    [TestCase("\r\n.\r\n")]
    [TestCase("a\nb\r\n..\n\r\n.\r\n")]
    public async Task A_message_under_the_limit_is_stored_as_SmtpServer_alone_reads_it(string wire)
    {
        var alone = new MemoryStore();
        var gated = new MemoryStore();
        await using var withoutLimit = await FilteringServer.StartAsync(null, alone, addTraceField: false);
        await using var withLimit = await FilteringServer.StartAsync(null, gated, addTraceField: false, maxMessageSize: Limit);

        foreach (var server in new[] { withoutLimit, withLimit })
        {
            await using var client = await InDataAsync(server);
            Assert.That((await client.SendRawAsync(wire)).Code, Is.EqualTo(250));
        }

        Assert.That(gated.Messages.Single().Filtered.Message, Is.EqualTo(alone.Messages.Single().Filtered.Message));
    }

    /// <summary>The gate reads <paramref name="wire"/> cut into pieces of <paramref name="piece"/> bytes: the content, and how many bytes were the message's.</summary>
    private static (string Content, long Consumed, MessageSizeGate Gate) ReadInPieces(string wire, int piece, long limit = 1_000_000)
    {
        var gate = new MessageSizeGate(limit);
        var bytes = Encoding.ASCII.GetBytes(wire);
        for (var offset = 0; offset < bytes.Length; offset += piece)
        {
            var length = Math.Min(piece, bytes.Length - offset);
            var buffer = new ReadOnlySequence<byte>(bytes, offset, length);
            if (gate.Read(buffer) is { } end)
            {
                return (Encoding.ASCII.GetString(gate.Content().ToArray()), offset + buffer.Slice(0, end).Length, gate);
            }
        }

        return (string.Empty, -1, gate);
    }

    [Test]
    public void The_gate_reads_a_message_cut_anywhere_as_SmtpServer_reads_it_whole()
    {
        // SmtpServer's reading: the first CR LF "." CR LF ends the message, a doubled dot after CR LF loses one (that of the
        // first line keeps both), a lone dot first does not end it; what follows the final dot is the next command's.
        const string wire = "..first\r\n.\r\r\n..\r\n\r.\r\nx\r\n.\rz\r\n\r\n.\r\nNOOP\r\n";
        const string content = "..first\r\n.\r\r\n.\r\n\r.\r\nx\r\n.\rz\r\n";

        for (var piece = 1; piece <= wire.Length; piece++)
        {
            var (read, consumed, _) = ReadInPieces(wire, piece);
            Assert.That(read, Is.EqualTo(content), $"in pieces of {piece}");
            Assert.That(consumed, Is.EqualTo(wire.Length - "NOOP\r\n".Length), $"in pieces of {piece}");
        }

        // And in one read whose buffer is one segment per byte: the final dot found across segment ends.
        var gate = new MessageSizeGate(1_000_000);
        var buffer = ByteSegments.OnePerSegment(Encoding.ASCII.GetBytes(wire));
        var end = gate.Read(buffer);
        Assert.That(end, Is.Not.Null);
        Assert.That(buffer.Slice(0, end!.Value).Length, Is.EqualTo(wire.Length - "NOOP\r\n".Length), "in one-byte segments");
        Assert.That(Encoding.ASCII.GetString(gate.Content().ToArray()), Is.EqualTo(content), "in one-byte segments");
    }

    [Test]
    public void The_gate_holds_no_more_than_the_limit_of_a_message_many_times_larger_and_keeps_nothing_of_it()
    {
        const int limit = 100_000;
        var gate = new MessageSizeGate(limit);
        var line = Encoding.ASCII.GetBytes(new string('x', 998) + "\r\n");
        var held = 0L;
        for (var i = 0; i < 50 * limit / line.Length; i++)
        {
            Assert.That(gate.Read(new ReadOnlySequence<byte>(line)), Is.Null);
            held = Math.Max(held, gate.Held);
        }

        var end = gate.Read(new ReadOnlySequence<byte>(".\r\n"u8.ToArray()));

        Assert.Multiple(() =>
        {
            Assert.That(end, Is.Not.Null);
            Assert.That(held, Is.LessThanOrEqualTo(limit));
            Assert.That(gate.IsTooLarge, Is.True);
            Assert.That(gate.Size, Is.EqualTo(50L * limit));
            Assert.That(gate.Held, Is.Zero);
            Assert.That(gate.Content().IsEmpty, Is.True);
        });
    }

    [Test]
    public void The_gate_takes_a_message_of_the_limit_exactly_and_not_one_byte_more()
    {
        var atLimit = ReadInPieces(MessageOf(1000) + ".\r\n", 7, limit: 1000);
        var over = ReadInPieces(MessageOf(1001) + ".\r\n", 7, limit: 1000);

        Assert.That((atLimit.Gate.IsTooLarge, atLimit.Content), Is.EqualTo((false, MessageOf(1000)[..^2])));
        Assert.That((over.Gate.IsTooLarge, over.Gate.Size, over.Content), Is.EqualTo((true, 1001L, string.Empty)));
    }
}
