using System.Text;
using Microsoft.Extensions.Logging;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// What SmtpServer 11.1.0 answered on its own, in Postfix's words (PostfixWords, CommandLine): a command out of order got
/// its state machine's <c>501 expected NOOP/RSET/QUIT/RCPT, 19 retry(ies) remaining.</c>, a line its parser could not
/// read <c>502 Unrecognized command</c>, and a line that is no SMTP at all (a web browser's request, a message's text)
/// ran on as commands where Postfix ends the session. <c>PROXY</c>, HAProxy's header, was taken from any client, and a
/// second one ended the session with an internal error.
/// </summary>
public class PostfixWordsTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    [TestCase("GET / HTTP/1.1\r\nHost: mx.example\r\n\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n", "GET / HTTP/1.1", TestName = "A web browser's request ends the session at its first line and nothing after it runs")]
    [TestCase("Subject: hi\r\nMAIL FROM:<a@example.org>\r\n", "Subject: hi", TestName = "A header line sent as a command ends the session")]
    [TestCase("  1 MAIL FROM:<a@example.org>\r\n", "  1 MAIL FROM:<a@example.org>", TestName = "A word that does not start with a letter ends the session")]
    [TestCase("\u00f1oop\r\n", "\u00f1oop", TestName = "A word in UTF-8 that does not start with an ASCII letter ends the session")]
    public async Task A_line_that_is_not_SMTP_gets_Postfixs_221_the_session_ends_and_the_client_is_logged(string bytes, string logged)
    {
        var filter = Filter();
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false, logs: logs);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendWithoutReadingAsync(bytes);
        var (replies, closed) = await client.ReadUntilClosedAsync(TimeSpan.FromSeconds(10));

        Assert.Multiple(() =>
        {
            Assert.That((replies, closed), Is.EqualTo((1, true)), "one reply, then the connection closes");
            filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
            var warning = logs.Entries.Single(e => e.EventId.Id == 6034);
            Assert.That(warning.Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warning.Message, Does.EndWith($": non-SMTP command from 127.0.0.1: \"{logged}\"; answered 221 2.7.0 and closed"));
        });
    }

    [Test]
    public async Task The_reply_to_a_line_that_is_not_SMTP_is_Postfixs_words()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var reply = await client.SendAsync("POST / HTTP/1.1");

        Assert.That(reply.Text, Is.EqualTo("221 2.7.0 Error: I can break rules, too. Goodbye."));
    }

    [Test]
    public async Task PROXY_is_no_command_and_two_of_them_are_two_errors_not_an_internal_error()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false, hardErrorLimit: 2);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var first = await client.SendAsync("PROXY TCP4 192.0.2.1 192.0.2.2 1111 25");
        await client.SendWithoutReadingAsync("PROXY TCP4 192.0.2.1 192.0.2.2 1111 25\r\n");
        var replies = await client.ReadRepliesAsync(2);

        Assert.Multiple(() =>
        {
            Assert.That(first.Text, Is.EqualTo("500 5.5.2 Error: command not recognized"), "SmtpServer's parser took it, and answered nothing");
            Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "500 5.5.2 Error: command not recognized", $"421 4.7.0 {FilteringServer.Name} Error: too many errors" }));
        });
    }

    private static readonly SessionPlace AfterHelo = new(InTransaction: false, Recipients: 0, Secure: false, TlsOffered: false, Authenticated: false);

    private static IEnumerable<TestCaseData> OwnReplies()
    {
        var inTransaction = AfterHelo with { InTransaction = true };
        var withRecipient = inTransaction with { Recipients = 1 };
        const string OutOfOrder = "501 expected NOOP/RSET/QUIT/RCPT, 4 retry(ies) remaining.";
        const string Malformed = "502 Unrecognized command, 4 retry(ies) remaining.";
        TestCaseData Case(string line, string written, SessionPlace place, string reply, string name) =>
            new TestCaseData(line, written, place, reply).SetName(name);

        yield return Case("MAIL FROM:<a@example.org>", OutOfOrder, inTransaction, "503 5.5.1 Error: nested MAIL command", "A second MAIL");
        yield return Case("MAIL FROM:", Malformed, inTransaction, "503 5.5.1 Error: nested MAIL command", "A malformed second MAIL: the order is checked first");
        yield return Case("MAIL FROM:", Malformed, AfterHelo, "501 5.5.4 Syntax: MAIL FROM:<address>", "A MAIL without its path");
        yield return Case("MAIL FROM:<a@b..example>", Malformed, AfterHelo, "501 5.1.7 Bad sender address syntax", "A MAIL whose address SmtpServer cannot read");
        yield return Case("RCPT TO:<b@example.com>", OutOfOrder, AfterHelo, "503 5.5.1 Error: need MAIL command", "A RCPT without MAIL");
        yield return Case("RCPT TO:", Malformed, AfterHelo, "503 5.5.1 Error: need MAIL command", "A malformed RCPT without MAIL: the order first");
        yield return Case("RCPT TO:<a b@example.com>", Malformed, inTransaction, "501 5.1.3 Bad recipient address syntax", "A RCPT whose address SmtpServer cannot read");
        yield return Case("RCPT FROM:<b@example.com>", Malformed, inTransaction, "501 5.5.4 Syntax: RCPT TO:<address>", "A RCPT without TO");
        yield return Case("DATA", OutOfOrder, AfterHelo, "503 5.5.1 Error: need RCPT command", "A DATA without MAIL");
        yield return Case("DATA", OutOfOrder, inTransaction, "554 5.5.1 Error: no valid recipients", "A DATA without a recipient");
        yield return Case("DATA x", Malformed, inTransaction, "554 5.5.1 Error: no valid recipients", "A malformed DATA without a recipient: the order first");
        yield return Case("DATA x", Malformed, withRecipient, "501 5.5.4 Syntax: DATA", "A DATA with text");
        yield return Case("EHLO", Malformed, AfterHelo, "501 Syntax: EHLO hostname", "An EHLO without a name");
        yield return Case("HELO", Malformed, inTransaction, "501 Syntax: HELO hostname", "A HELO without a name, inside a transaction too");
        yield return Case("RSET x", Malformed, AfterHelo, "501 5.5.4 Syntax: RSET", "An RSET with text");
        yield return Case("STARTTLS x", Malformed, AfterHelo with { TlsOffered = true }, "501 5.5.4 Syntax: STARTTLS", "A STARTTLS with text");
        yield return Case("STARTTLS", OutOfOrder, inTransaction with { Secure = true, TlsOffered = true }, "554 5.5.1 Error: TLS already active", "A STARTTLS over TLS, whatever the state");
        yield return Case("STARTTLS", OutOfOrder, inTransaction, "502 5.5.1 Error: command not implemented", "A STARTTLS where no TLS is offered, whatever the state");
        yield return Case("AUTH PLAIN AGFAYg==", OutOfOrder, AfterHelo with { Authenticated = true }, "503 5.5.1 Error: already authenticated", "An AUTH once authenticated");
        yield return Case("AUTH PLAIN AGFAYg==", OutOfOrder, inTransaction, "503 5.5.1 Error: MAIL transaction in progress", "An AUTH inside a transaction");
        yield return Case("AUTH", Malformed, AfterHelo, "501 5.5.4 Syntax: AUTH mechanism", "An AUTH without a mechanism");
        yield return Case("XYZZY", Malformed, AfterHelo, "500 5.5.2 Error: command not recognized", "A line of no command");
        yield return Case("DATA", "354 end with <CRLF>.<CRLF>", withRecipient, "354 End data with <CR><LF>.<CR><LF>", "DATA's 354");
        yield return Case("QUIT", "221 bye", AfterHelo, "221 2.0.0 Bye", "QUIT's 221");
        yield return Case("AUTH LOGIN", "221 bye", AfterHelo, "221 bye", "A 221 that is not QUIT's stays SmtpServer's");
        yield return Case("STARTTLS", "220 ready when you are", AfterHelo with { TlsOffered = true }, "220 2.0.0 Ready to start TLS", "STARTTLS's 220");
        yield return Case("NOOP", "250 Ok", AfterHelo, "250 Ok", "Any other reply stays as it is");
    }

    [TestCaseSource(nameof(OwnReplies))]
    public void SmtpServers_own_reply_is_given_Postfixs_words_for_the_line_and_the_place(string line, string written, object place, string reply)
    {
        var given = PostfixWords.ForOwnReply(Encoding.ASCII.GetBytes(written + "\r\n"), CommandLine.Read(new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(line + "\r\n"))), (SessionPlace)place);

        Assert.That(Encoding.ASCII.GetString(given.Span), Is.EqualTo(reply + "\r\n"));
    }

    [Test]
    public void A_reply_of_several_lines_is_left_as_it_is()
    {
        var written = Encoding.ASCII.GetBytes("250-mta.example\r\n250 PIPELINING\r\n");

        Assert.That(PostfixWords.ForOwnReply(written, CommandLine.Read(new System.Buffers.ReadOnlySequence<byte>("EHLO x\r\n"u8.ToArray())), AfterHelo).ToArray(), Is.EqualTo(written));
    }

    [Test]
    public async Task Each_error_names_the_command_it_came_after_in_the_log_as_Postfix_does()
    {
        var logs = new CapturedLogs();
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false, logs: logs, hardErrorLimit: 3);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendWithoutReadingAsync("RCPT TO:<b@example.com>\r\nSTARTTLS\r\nRCPT TO:<b@example.com>\r\n");
        var replies = await client.ReadRepliesAsync(4);

        Assert.Multiple(() =>
        {
            Assert.That(replies[^1]?.Text, Is.EqualTo($"421 4.7.0 {FilteringServer.Name} Error: too many errors"));
            Assert.That(logs.Entries.Single(e => e.EventId.Id == 6031).Message, Does.EndWith("(3, the last after RCPT); answered 421 4.7.0 and closed"));
        });
    }

    [Test]
    public async Task VRFY_gets_Postfixs_252_and_is_a_junk_command_not_an_error()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false, hardErrorLimit: 1);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var first = await client.SendAsync("VRFY postmaster");
        var second = await client.SendAsync("vrfy  <bob@example.com> ");
        var noop = await client.SendAsync("NOOP");

        Assert.That((first.Text, second.Text, noop.Code), Is.EqualTo(("252 2.0.0 postmaster", "252 2.0.0 <bob@example.com>", 250)), "with an error limit of 1, an error would have ended the session");
    }

    [Test]
    public async Task BDAT_gets_Postfixs_521_and_the_session_ends_before_its_chunk_runs_as_commands()
    {
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");

        await client.SendWithoutReadingAsync("BDAT 27 LAST\r\nRCPT TO:<c@example.com>\r\nNOOP\r\n");
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reply = await client.ReadReplyAsync(bound.Token);
        var (more, closed) = await client.ReadUntilClosedAsync(TimeSpan.FromSeconds(10));

        Assert.That((reply?.Text, more, closed), Is.EqualTo(("521 5.5.1 Error: command not implemented", 0, true)), "Postfix's 521, and nothing after it");
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    /// <summary>The live comparison's cases: bytes sent in one write after EHLO, and Postfix's reply codes to them (checked).</summary>
    private static IEnumerable<(string Bytes, int[] Codes)> LiveCases()
    {
        yield return ("RCPT TO:<b@example.com>\r\n", [503]);
        yield return ("DATA\r\n", [503]);
        yield return ("MAIL FROM:<a@example.org>\r\nMAIL FROM:<c@example.org>\r\n", [250, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nDATA\r\n", [250, 554]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", [250, 250, 354]);
        yield return ("XYZZY\r\n", [500]);
        yield return ("xyzzy\r\n", [500]);
        yield return ("NOOPX\r\n", [500]);
        yield return ("HELP\r\n", [500]);
        yield return ("PROXY TCP4 192.0.2.1 192.0.2.2 1111 25\r\n", [500]);
        yield return ("EHLO[192.0.2.1]\r\n", [500]);
        yield return ("X:\r\n", [221]);
        yield return ("1abc\r\n", [221]);
        yield return ("CONNECT mx.example:25 HTTP/1.1\r\n", [221]);
        yield return ("GET / HTTP/1.0\r\n", [221]);
        yield return ("post / HTTP/1.0\r\n", [221]);
        yield return ("Subject: x\r\n", [221]);
        yield return ("MAIL FROM:\r\n", [501]);
        yield return ("MAIL TO:<a@example.org>\r\n", [501]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT FROM:<b@example.com>\r\n", [250, 501]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:\r\n", [250, 501]);
        yield return ("HELO\r\n", [501]);
        yield return ("EHLO\r\n", [501]);
        yield return ("RSET x\r\n", [501]);
        yield return ("QUIT x\r\n", [221]);
        yield return ("STARTTLS\r\n", [502]);
        yield return ("AUTH PLAIN AGFAYg==\r\n", [503]);
        yield return ("AUTH\r\n", [503]);
        yield return ("MAIL FROM:<a@example.org>\r\nAUTH PLAIN AGFAYg==\r\n", [250, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nSTARTTLS\r\n", [250, 502]);
        yield return ("MAIL FROM:<a@example.org>\r\nMAIL FROM:\r\n", [250, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nDATA x\r\n", [250, 554]);
        yield return ("RCPT TO:\r\n", [503]);
        yield return ("DATA x\r\n", [503]);
        yield return ("MAIL FROM:<a@b..example>\r\n", [501]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:<a b@example.com>\r\n", [250, 501]);
        yield return ("\u0000QUIT\r\n", [500]);
        yield return ("NOOP\u0000\r\n", [250]);
        yield return ("NOOP\u0000\u00ff\r\n", [500]); // judged for UTF-8 whole, past its NUL, as Postfix judges it
        yield return ("QUIT\u0000x\r\n", [221]);
        yield return ("MAIL\u0000 FROM:<a@example.org>\r\n", [501]);
        yield return ("VRFY postmaster\r\n", [252]);
        yield return ("VRFY\r\n", [501]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nEHLO again.example\r\nRCPT TO:<b@example.com>\r\n", [250, 250, 250, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nHELO again.example\r\nMAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\n", [250, 250, 250, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nEHLO\r\nRCPT TO:<b@example.com>\r\n", [250, 501, 250]);
        yield return ("MAIL FROM:<a@example.org>\r\nHELO  \r\nMAIL FROM:<a@example.org>\r\n", [250, 501, 503]);
        yield return ("MAIL FROM:<a@example.org>\r\nEHLO [192.0.2.1]\r\nRCPT TO:<b@example.com>\r\n", [250, 250, 503]);
    }

    /// <summary>Cases sent before any EHLO: Postfix (without <c>smtpd_helo_required</c>, its default) takes a MAIL then.</summary>
    private static IEnumerable<(string Bytes, int[] Codes)> UngreetedLiveCases()
    {
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", [250, 250, 354]);
        yield return ("MAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\n", [250, 503]);
        yield return ("MAIL FROM:\r\n", [501]);
        yield return ("MAIL FROM:<a@b..example>\r\n", [501]);
        yield return ("RCPT TO:<b@example.com>\r\n", [503]);
        yield return ("DATA\r\n", [503]);
        yield return ("STARTTLS\r\n", [502]);
        yield return ("AUTH PLAIN AGFAYg==\r\n", [503]);
        yield return ("RSET\r\nNOOP\r\nMAIL FROM:<a@example.org>\r\n", [250, 250, 250]);
        yield return ("XYZZY\r\nMAIL FROM:<a@example.org>\r\n", [500, 250]);
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_unknown_malformed_and_out_of_order_commands_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = await LiveComparison.RawDifferencesAsync(postfix.SmtpPort, server.Port, LiveCases());
        differences.AddRange(await LiveComparison.RawDifferencesAsync(postfix.SmtpPort, server.Port, UngreetedLiveCases(), greeted: false));

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
