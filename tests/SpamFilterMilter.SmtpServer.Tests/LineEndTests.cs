using System.Globalization;
using System.Text;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// Where a command line ends and starts: Postfix's smtpd ends it at an LF, takes off the CRs before that LF, and reads its
/// command from its first word (3.7 takes a bare LF after any command; 3.9 and later, by default, still do). SmtpServer
/// 11.1.0's parser ends a line only at a CR LF, so a client that ended its commands with a bare LF got no reply at all
/// until the read timeout, and a line starting with a space got <c>502</c>. The pipe gives SmtpServer such a line from its
/// first word, CR LF ended (CommandLine). A line without a word gets Postfix's <c>500 5.5.2 Error: bad syntax</c>.
/// </summary>
public class LineEndTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    /// <summary>How long a test waits for its replies: a line the server never takes as ended would wait for its read timeout.</summary>
    private static CancellationToken Bound() => new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token;

    [TestCase("NOOP\n", "250")]
    [TestCase("NOOP\r\r\n", "250", TestName = "Every CR before the LF is taken off")]
    [TestCase("NOOP x\nNOOP\r\n", "250|250", TestName = "A bare LF ends a NOOP's text, and what follows it is the next command")]
    [TestCase("RSET\nNOOP\nRSET\r\n", "250|250|250", TestName = "Pipelined lines each ended by a bare LF are answered each")]
    [TestCase(" NOOP\r\n", "250", TestName = "A space before the command is not part of it")]
    [TestCase("\t\vRSET\r\n", "250", TestName = "Nor a tab or a vertical tab")]
    [TestCase("\r\rNOOP\r\n", "250", TestName = "Nor a bare CR")]
    [TestCase("\r\n", "500 5.5.2 Error: bad syntax", TestName = "An empty line gets Postfix's bad syntax")]
    [TestCase("\n", "500 5.5.2 Error: bad syntax", TestName = "An empty line ended by a bare LF too")]
    [TestCase(" \t\r\n", "500 5.5.2 Error: bad syntax", TestName = "A line of spaces too")]
    [TestCase("NOOP\rx\r\n", "250", TestName = "A NOOP whose text follows a bare CR is answered 250")]
    public async Task A_command_line_ends_at_its_LF_and_starts_at_its_first_word_as_at_Postfix(string bytes, string replies)
    {
        foreach (var oneByteAtATime in new[] { false, true })
        {
            await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false);
            await using var client = await SmtpLineClient.ConnectAsync(server.Port);
            await client.SendAsync("EHLO client.example");

            if (oneByteAtATime)
            {
                await client.SendOneByteAtATimeAsync(Bytes(bytes));
            }
            else
            {
                await client.SendWithoutReadingAsync(Bytes(bytes));
            }

            var expected = replies.Split('|');
            var got = await client.ReadRepliesAsync(expected.Length, Bound());
            var quit = await client.SendAsync("QUIT");

            Assert.Multiple(() =>
            {
                Assert.That(got.Select(r => r is null ? null : r.Code == 250 ? "250" : r.Text), Is.EqualTo(expected), oneByteAtATime ? "one byte per write" : "in one write");
                Assert.That(quit.Code, Is.EqualTo(221), "and nothing more was answered before the QUIT");
            });
        }
    }

    [Test]
    public async Task A_transaction_whose_commands_end_in_bare_LFs_is_taken_with_its_parameters_and_the_message_stored()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        await client.SendWithoutReadingAsync(" EHLO client.example\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\r\nRCPT TO:<b@example.com> NOTIFY=NEVER\nDATA\n");
        var replies = await client.ReadRepliesAsync(4, Bound());
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?.Code), Is.EqualTo(new int?[] { 250, 250, 250, 354 }), string.Join(" | ", replies.Select(r => r?.Text)));
            Assert.That(end.Code, Is.EqualTo(250));
            filter.Verify(f => f.HeloAsync("client.example", It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.MailAsync("<a@example.org>", It.Is<IReadOnlyList<string>>(p => p.SequenceEqual(new[] { "BODY=8BITMIME" })), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync("<b@example.com>", It.Is<IReadOnlyList<string>>(p => p.SequenceEqual(new[] { "NOTIFY=NEVER" })), It.IsAny<CancellationToken>()), Times.Once);
            Assert.That(store.Messages.Single().Filtered.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "b@example.com" }));
        });
    }

    [Test]
    public async Task An_ORCPT_with_bare_LFs_inside_brackets_ends_at_the_first_and_each_line_after_it_is_a_command_the_filter_hears_of()
    {
        // A review's attack on the CR LF-only reading: inside angle brackets the words ran over bare LFs, and a next hop that
        // ends lines at an LF (Postfix does) ran RSET, MAIL, RCPT and DATA of the client's from the relay's ORCPT, a
        // message no milter saw. Lines end at an LF now, as at Postfix: each is the client's own command, and the filter
        // hears of the transaction it starts like any other.
        await using var session = await RelayingSession.StartAsync();
        var (filter, client) = (session.Filter, session.Client);

        await client.SendWithoutReadingAsync("RCPT TO:<b@example.com> ORCPT=<\nRSET\nMAIL FROM:<spoof@bank.example>\nRCPT TO:<c@example.com>\nDATA\n");
        var replies = await client.ReadRepliesAsync(5, Bound());
        var end = await client.SendMessageAsync(">;x\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?.Code is 250 or 354 ? r.Code.ToString(CultureInfo.InvariantCulture) : r?.Text), Is.EqualTo(new[] { "501 5.5.4 Error: Bad ORCPT parameter syntax", "250", "250", "250", "354" }));
            Assert.That(end.Code, Is.EqualTo(250));
            filter.Verify(f => f.RcptAsync("<b@example.com>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
            filter.Verify(f => f.MailAsync("<spoof@bank.example>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
            filter.Verify(f => f.RcptAsync("<c@example.com>", It.Is<IReadOnlyList<string>>(p => p.Count == 0), It.IsAny<CancellationToken>()), Times.Once);
            Assert.That(session.Store.Messages.Single().Filtered.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "c@example.com" }));
        });
    }

    [Test]
    public async Task Each_line_without_a_word_is_an_error_of_the_sessions_and_the_error_limit_ends_it_as_Postfixs_does()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false, hardErrorLimit: 2);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendWithoutReadingAsync("\n \r\n");
        var replies = await client.ReadRepliesAsync(3, Bound());

        Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "500 5.5.2 Error: bad syntax", "500 5.5.2 Error: bad syntax", $"421 4.7.0 {FilteringServer.Name} Error: too many errors" }));
    }

    [Test]
    public async Task A_long_line_ended_by_a_bare_LF_is_cut_at_2048_bytes_and_the_line_after_it_is_read()
    {
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var start = "MAIL FROM:<a@example.org> X-PAD=";
        await client.SendWithoutReadingAsync(start + new string('x', 3000) + "\nMAIL FROM:<a@example.org>\nRSET\n");
        var replies = await client.ReadRepliesAsync(3, Bound());

        Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "555 5.5.4 Unsupported option: X-PAD=" + new string('x', 2048 - start.Length), "250 Ok", "250 Ok" }));
    }

    /// <summary>The live comparison's cases: bytes sent in one write after EHLO, and Postfix's reply codes to them (checked).</summary>
    private static IEnumerable<(string Bytes, int[] Codes)> LiveCases()
    {
        yield return ("NOOP\n", [250]);
        yield return ("NOOP\r\r\n", [250]);
        yield return ("NOOP x\nNOOP\r\n", [250, 250]);
        yield return ("\n", [500]);
        yield return ("\r\n", [500]);
        yield return ("  \r\n", [500]);
        yield return ("\t\r\n", [500]);
        yield return ("\v\r\n", [500]);
        yield return (" NOOP\r\n", [250]);
        yield return ("\tRSET\r\n", [250]);
        yield return ("\r\rNOOP\r\n", [250]);
        yield return ("NOOP\rx\r\n", [250]);
        yield return ("MAIL FROM:<a@example.org>\nRCPT TO:<b@example.com> NOTIFY=NEVER\nRSET\n", [250, 250, 250]);
        yield return (" MAIL FROM:<a@example.org> BODY=8BITMIME\r\r\nRCPT TO:<b@example.com>\nNOOP\n", [250, 250, 250]);
        yield return ("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com> ORCPT=<\nRSET\nMAIL FROM:<c@example.org>\nRCPT TO:<d@example.com>\nRSET\n", [250, 501, 250, 250, 250, 250]);
        yield return ("MAIL FROM:<a@example.org> ENVID=\"a\nRSET\nNOOP\n", [250, 250, 250]);
        yield return ("MAIL FROM:<\u00ff@example.org>\nNOOP\n", [500, 250]);
        yield return ("MAIL FROM:<a@example.org> X-PAD=" + new string('x', 3000) + "\nNOOP\n", [555, 250]);
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_end_and_start_every_command_line_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = await LiveComparison.RawDifferencesAsync(postfix.SmtpPort, server.Port, LiveCases());

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
