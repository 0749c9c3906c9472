using System.Text;
using Microsoft.Extensions.Logging;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// A command line that is not UTF-8: Postfix 3.7 (<c>smtputf8_enable = yes</c>, its default) answers it
/// <c>500 5.5.2 Error: bad UTF-8 syntax</c> whatever its command, counts it as an error and goes on; SmtpServer's parser read
/// it with U+FFFD in place of each bad byte and took a MAIL or RCPT whose address was then not the one the client wrote.
/// The pipe gives SmtpServer a NOOP in the line's place (CommandLine) and the session answers Postfix's refusal. The lines
/// are written here in Latin-1, one character per byte.
/// </summary>
public class NotUtf8Tests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    private static string[] Warnings(CapturedLogs logs) => [.. logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}: {e.Message}")];

    [TestCase("MAIL FROM:<\u00ff@example.org>", TestName = "A MAIL with a bad byte in its address is refused, not taken with U+FFFD in it")]
    [TestCase("MAIL FROM:<a@example.org> ENVID=\u00c3", TestName = "A MAIL with a bad byte in a parameter is refused")]
    [TestCase("RCPT TO:<b\u00fe@example.com>", TestName = "A RCPT with a bad byte in its address is refused and adds no recipient")]
    [TestCase("RCPT TO:<b@example.com> NOTIFY=\u00c3", TestName = "A RCPT with a bad byte in a parameter is refused")]
    [TestCase("HELO \u00ff", TestName = "A HELO is refused and resets nothing")]
    [TestCase("EHLO x\u00c3(", TestName = "An EHLO is refused and resets nothing")]
    [TestCase("RSET \u00ff", TestName = "An RSET is refused and resets nothing")]
    [TestCase("DATA \u00ff", TestName = "A DATA is refused and starts no message")]
    [TestCase("QUIT \u00ff", TestName = "A QUIT is refused and ends no session")]
    [TestCase("NOOP \u00c0\u00af", TestName = "An overlong form is refused")]
    [TestCase("\u00ed\u00a0\u0080", TestName = "A surrogate alone is refused")]
    public async Task A_command_line_that_is_not_UTF8_gets_Postfixs_500_5_5_2_changes_nothing_and_the_session_goes_on(string line)
    {
        var filter = Filter();
        var store = new MemoryStore();
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false, logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<g@example.org>");

        var refused = await client.SendAsync(Bytes(line));
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
        var quit = await client.SendAsync("QUIT");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Text, Is.EqualTo("500 5.5.2 Error: bad UTF-8 syntax"));
            Assert.That((rcpt.Code, data.Code, end.Code, quit.Code), Is.EqualTo((250, 354, 250, 221)), "the transaction goes on as if the line had not come");
            filter.Verify(f => f.HeloAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.AbortAsync(It.IsAny<CancellationToken>()), Times.Never);
            Assert.That(store.Messages.Single().Filtered.Envelope.MailFrom, Is.EqualTo("g@example.org"));
            Assert.That(store.Messages.Single().Filtered.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "b@example.com" }));
            Assert.That(Warnings(logs), Is.Empty, "a client's bad bytes are the client's business, not the operator's");
        });
    }

    [Test]
    public async Task A_line_that_is_not_UTF8_sent_one_byte_per_write_is_still_judged_whole_and_the_lines_after_it_are_read()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendOneByteAtATimeAsync(Bytes("MAIL FROM:<\u00ff@example.org>\r\nMAIL FROM:<caf\u00c3\u00a9@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"));
        var replies = await client.ReadRepliesAsync(4);
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?.Text[..3]), Is.EqualTo(new[] { "500", "250", "250", "354" }), string.Join(" | ", replies.Select(r => r?.Text)));
            Assert.That(replies[0]?.Text, Is.EqualTo("500 5.5.2 Error: bad UTF-8 syntax"));
            Assert.That(end.Code, Is.EqualTo(250));
            filter.Verify(f => f.MailAsync("<caf\u00e9@example.org>", It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Once);
            Assert.That(store.Messages.Single().Filtered.Envelope.MailFrom, Is.EqualTo("caf\u00e9@example.org"), "an address in UTF-8 is taken as written");
        });
    }

    [TestCase("RCPT TO:<x", "\u00e9@example.com>\r\nRCPT TO:<c@example.com>\r\n")]
    [TestCase("NOOP ", "\u00ff\r\nRCPT TO:<c@example.com>\r\n")]
    public async Task A_line_whose_ASCII_start_came_first_and_its_bad_byte_after_is_still_refused_and_the_session_goes_on(string first, string rest)
    {
        // A review found SmtpServer, shown the start of the line, ended the session (421) when the NOOP took its place.
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");

        await client.SendWithoutReadingAsync(Bytes(first));
        await Task.Delay(100);
        await client.SendWithoutReadingAsync(Bytes(rest));
        var replies = await client.ReadRepliesAsync(2);

        Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "500 5.5.2 Error: bad UTF-8 syntax", "250 Ok" }));
        filter.Verify(f => f.RcptAsync("<c@example.com>", It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task Each_line_that_is_not_UTF8_is_an_error_of_the_sessions_and_the_error_limit_ends_it_as_Postfixs_does()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false, hardErrorLimit: 2);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var first = await client.SendAsync(Bytes("NOOP \u00ff"));
        await client.SendWithoutReadingAsync(Bytes("NOOP \u00ff\r\n"));
        var second = await client.ReadReplyAsync();
        var last = await client.ReadReplyAsync();

        Assert.Multiple(() =>
        {
            Assert.That(first.Text, Is.EqualTo("500 5.5.2 Error: bad UTF-8 syntax"));
            Assert.That(second?.Text, Is.EqualTo("500 5.5.2 Error: bad UTF-8 syntax"));
            Assert.That(last?.Text, Is.EqualTo($"421 4.7.0 {FilteringServer.Name} Error: too many errors"));
        });
    }

    /// <summary>The lines of the live comparison, each with Postfix's reply code (checked, so that it never compares two sides that took everything).</summary>
    private static IEnumerable<(string Line, int Code)> LiveLines()
    {
        yield return ("MAIL FROM:<\u00ff@example.org>", 500);
        yield return ("MAIL FROM:<a@example.org> ENVID=\u00ff", 500);
        yield return ("MAIL FROM:<a@example.org> BODY=8BITMIME X=\u00c3", 500);
        yield return ("MAIL FROM:<caf\u00c3\u00a9@example.org>", 250);
        yield return ("MAIL FROM:<caf\u00c3\u00a9@example.org> SMTPUTF8", 250);
        yield return ("MAIL FROM:<\u00c0\u00af@example.org>", 500); // overlong
        yield return ("MAIL FROM:<\u00ed\u00a0\u0080@example.org>", 500); // a surrogate
        yield return ("MAIL FROM:<\u00f4\u0090\u0080\u0080@example.org>", 500); // past U+10FFFF
        yield return ("MAIL FROM:<\u00f0\u009f\u0098\u0080@example.org>", 250); // U+1F600
        yield return ("NOOP \u00ff", 500);
        yield return ("HELO \u00ff", 500);
        yield return ("EHLO x\u00c3(", 500);
        yield return ("VRFY \u00c3", 500);
        yield return ("XYZZY \u00ff", 500);
        yield return ("\u0080", 500);
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_refuse_every_line_that_is_not_UTF8_with_the_same_words_and_take_those_that_are()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = new List<string>();
        foreach (var (line, code) in LiveLines())
        {
            var fromPostfix = (await LiveComparison.RepliesAsync(postfix.SmtpPort, [Bytes(line)]))[0];
            var ours = (await LiveComparison.RepliesAsync(server.Port, [Bytes(line)]))[0];
            if (LiveComparison.Difference(line, code, fromPostfix, ours) is { } difference)
            {
                differences.Add(difference);
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
