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
    [TestCase("  1 MAIL FROM:<a@example.org>\r\n", "1 MAIL FROM:<a@example.org>", TestName = "A word that does not start with a letter ends the session")]
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
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_unknown_malformed_and_out_of_order_commands_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = new List<string>();
        foreach (var (bytes, codes) in LiveCases())
        {
            var fromPostfix = await LiveComparison.RawRepliesAsync(postfix.SmtpPort, Encoding.Latin1.GetBytes(bytes), codes.Length);
            var ours = await LiveComparison.RawRepliesAsync(server.Port, Encoding.Latin1.GetBytes(bytes), codes.Length);
            for (var i = 0; i < codes.Length; i++)
            {
                if (LiveComparison.Difference(bytes, codes[i], fromPostfix[i] ?? "(no reply)", ours[i] ?? "(no reply)") is { } difference)
                {
                    differences.Add($"reply {i + 1} of {codes.Length} to {difference}");
                }
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
