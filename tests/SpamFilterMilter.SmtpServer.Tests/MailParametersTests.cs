using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// MAIL's ESMTP parameters, which SmtpServer 11.1.0's parser mishandles (it ended the session 421 on a repeated one, dropped
/// them all when one had an empty value, read <c>&lt;a@b&gt;x</c> as a parameter, and answered a SIZE= over its limit with
/// words of its own): a MAIL line of up to 2,048 bytes with anything after its path reaches the parser without it
/// (CommandLine), and the session reads the parameters from the line, checks them as Postfix 3.7's mail_cmd checks them
/// and in its order (text after the path, then the parameters, then SIZE= against the limit), then gives them to the
/// filter and keeps them in the stored envelope. Checked against Postfix 3.7.11 with <c>mynetworks = 127.0.0.0/8</c> and
/// <c>message_size_limit = 10240000</c>: the live comparison below runs the same lines through a private Postfix, one
/// session per line (Postfix keeps a refused MAIL's SIZE= for the next MAIL of the session).
/// </summary>
public class MailParametersTests
{
    /// <summary>Postfix's <c>message_size_limit</c> in the live comparison, and the integration's limit in the refusals' table.</summary>
    private const int Limit = 10_240_000;

    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static Task<FilteringServer> StartAsync(Mock<IFilterSession> filter, MemoryStore store, int maxMessageSize = 0, CapturedLogs? logs = null) =>
        FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false, logs: logs, relayDomains: ["example.com"], relayNetworks: [], maxMessageSize: maxMessageSize);

    /// <summary>Each stored message's sender (no brackets; empty for the null sender) and MAIL parameters, <c>|</c> between them, in the order stored.</summary>
    private static IEnumerable<string> StoredSenders(MemoryStore store) =>
        store.Messages.Select(m => string.Join('|', [m.Filtered.Envelope.MailFrom, .. m.Filtered.Envelope.MailParameters]));

    /// <summary>A parameter list that is exactly <paramref name="expected"/>, in order.</summary>
    private static IReadOnlyList<string>? Exactly(params string[] expected) => It.Is<IReadOnlyList<string>?>(p => p != null && p.SequenceEqual(expected));

    /// <summary>The filter heard of a MAIL from <paramref name="path"/> once, with exactly <paramref name="parameters"/>.</summary>
    private static void VerifyMail(Mock<IFilterSession> filter, string path, params string[] parameters) =>
        filter.Verify(f => f.MailAsync(path, Exactly(parameters), It.IsAny<CancellationToken>()), Times.Once);

    /// <summary>How many MAILs the filter heard of, whatever their path and parameters.</summary>
    private static void VerifyMails(Mock<IFilterSession> filter, int times) =>
        filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Exactly(times));

    /// <summary>Reads <paramref name="count"/> replies, the texts of those pipelined (null where the server closed).</summary>
    private static async Task<string?[]> RepliesAsync(SmtpLineClient client, int count) =>
        [.. (await client.ReadRepliesAsync(count)).Select(r => r?.Text)];

    private static string[] Warnings(CapturedLogs logs) => [.. logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}: {e.Message}")];

    [Test]
    public async Task Each_MAIL_of_a_session_gives_the_filter_and_the_stored_envelope_its_own_parameters_as_the_client_wrote_them_and_one_without_any_none()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await StartAsync(filter, store);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var replies = new List<string>();
        async Task TransactionAsync(string mail)
        {
            replies.Add((await client.SendAsync(mail)).Text);
            replies.Add((await client.SendAsync("RCPT TO:<b@example.com>")).Text);
            replies.Add((await client.SendAsync("DATA")).Text);
            replies.Add((await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n")).Text);
        }

        await TransactionAsync("MAIL FROM:<a@example.org>\tbody=8bitmime  ret=hdrs");
        replies.Add((await client.SendAsync("MAIL FROM:<f@example.org> RET=FULL ENVID=\"a b\"")).Text);
        replies.Add((await client.SendAsync("RSET")).Text);
        await TransactionAsync("MAIL FROM:<\"c>d\"@example.org> SMTPUTF8 ENVID=x+2By");
        await TransactionAsync("MAIL FROM:<> BODY=7BIT SIZE=100");
        await TransactionAsync("MAIL FROM:<e@example.org>");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r[..3]), Is.EqualTo(new[]
            {
                "250", "250", "354", "250",
                "250", "250",
                "250", "250", "354", "250",
                "250", "250", "354", "250",
                "250", "250", "354", "250",
            }), string.Join(" | ", replies));
            VerifyMail(filter, "<a@example.org>", "body=8bitmime", "ret=hdrs"); // split at the tab and the two spaces, the case kept
            VerifyMail(filter, "<f@example.org>", "RET=FULL", "ENVID=\"a b\""); // one parameter to Postfix: quoted
            VerifyMail(filter, "<\"c>d\"@example.org>", "SMTPUTF8", "ENVID=x+2By"); // the quoted > ends no path; SMTPUTF8 has no value
            VerifyMail(filter, "<>", "BODY=7BIT", "SIZE=100");
            VerifyMail(filter, "<e@example.org>");
            VerifyMails(filter, 5);
            Assert.That(StoredSenders(store), Is.EqualTo(new[]
            {
                "a@example.org|body=8bitmime|ret=hdrs",
                "\"c>d\"@example.org|SMTPUTF8|ENVID=x+2By",
                "|BODY=7BIT|SIZE=100",
                "e@example.org",
            }));
        });
    }

    [TestCase("MAIL FROM:<a@example.org>x", "501 5.1.7 Bad sender address syntax")]
    [TestCase("MAIL FROM:<a@example.org>\"x\"", "501 5.1.7 Bad sender address syntax")]
    [TestCase("MAIL FROM:<a@example.org>x FOO=1", "501 5.1.7 Bad sender address syntax", TestName = "Text after the path is refused before the parameters are looked at")]
    [TestCase("MAIL FROM:<a@example.org>x SIZE=99999999", "501 5.1.7 Bad sender address syntax", TestName = "Text after the path is refused before the size limit")]
    [TestCase("MAIL FROM:<a@example.org> RET=", "501 5.5.4 Bad RET parameter syntax", TestName = "An empty RET is refused (SmtpServer dropped every parameter)")]
    [TestCase("MAIL FROM:<a@example.org> RET=FULL RET=HDRS", "501 5.5.4 Bad RET parameter syntax", TestName = "A repeated RET is refused (SmtpServer ended the session)")]
    [TestCase("MAIL FROM:<a@example.org> X=1 x=2", "555 5.5.4 Unsupported option: X=1", TestName = "A parameter repeated in another case is named as it came first (SmtpServer ended the session)")]
    [TestCase("MAIL FROM:<a@example.org> BODY=EVIL", "555 5.5.4 Unsupported option: BODY=EVIL")]
    [TestCase("MAIL FROM:<a@example.org> ENVID=", "501 5.5.4 Bad ENVID parameter syntax", TestName = "An empty ENVID is refused")]
    [TestCase("MAIL FROM:<a@example.org> AUTH=x AUTH=y", "503 5.5.4 Error: multiple AUTH= options")]
    [TestCase("MAIL FROM:<a@example.org> SIZE=abc", "501 5.5.4 Bad message size syntax")]
    [TestCase("MAIL FROM:<a@example.org> SIZE=99999999", "552 5.3.4 Message size exceeds fixed limit", TestName = "A SIZE over the limit gets Postfix's words, not SmtpServer's")]
    [TestCase("MAIL FROM:<a@example.org> SIZE=99999999 FOO=1", "555 5.5.4 Unsupported option: FOO=1", TestName = "The parameters are refused before the size limit")]
    [TestCase("MAIL FROM:<a@example.org> SIZE=99999999999999999999", "552 5.3.4 Message size exceeds file system imposed limit")]
    [TestCase("MAIL FROM:<a@example.org> X=\"a b\"", "555 5.5.4 Unsupported option: X=\"a b\"", TestName = "A quoted space is inside the parameter Postfix names")]
    [TestCase("MAIL FROM:<\"a>b\"@example.org> FOO=1", "555 5.5.4 Unsupported option: FOO=1", TestName = "A quoted > in the local part ends no path, and the parameter after it is read")]
    [TestCase("MAIL\tFROM:\t<a@example.org>\tX=1 x=2", "555 5.5.4 Unsupported option: X=1", TestName = "A MAIL with tabs for spaces and a repeated parameter gets Postfix's reply (SmtpServer ended the session)")]
    public async Task A_refused_MAIL_gets_Postfixs_reply_the_filter_never_hears_of_it_and_the_session_goes_on_without_a_warning(string line, string reply)
    {
        var filter = Filter();
        var store = new MemoryStore();
        var logs = new CapturedLogs();
        await using var server = await StartAsync(filter, store, Limit, logs);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var refused = await client.SendAsync(line);
        var later = await client.SendAsync("MAIL FROM:<g@example.org> BODY=8BITMIME");
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
        var quit = await client.SendAsync("QUIT");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Text, Is.EqualTo(reply));
            Assert.That((later.Code, rcpt.Code, data.Code, end.Code, quit.Code), Is.EqualTo((250, 250, 354, 250, 221)), "the refusal ends nothing: a later MAIL and its message are taken");
            VerifyMail(filter, "<g@example.org>", "BODY=8BITMIME");
            VerifyMails(filter, 1);
            Assert.That(StoredSenders(store), Is.EqualTo(new[] { "g@example.org|BODY=8BITMIME" }));
            Assert.That(Warnings(logs), Is.Empty, "a client's bad parameter is the client's business, not the operator's");
        });
    }

    [Test]
    public async Task A_NUL_ends_the_MAILs_parameters_as_it_ends_Postfixs_line_and_ends_no_session()
    {
        // Postfix's line is a C string: MAIL FROM:<a@example.org> AUTH=x, then the NUL, is what it reads, and takes. A NUL
        // given on to the milter would end the session (the plug-in refuses to write one).
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await StartAsync(filter, store);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var mail = await client.SendAsync("MAIL FROM:<a@example.org> AUTH=x\u0000y BODY=8BITMIME");
        var noop = await client.SendAsync("NOOP");

        Assert.Multiple(() =>
        {
            Assert.That((mail.Code, noop.Code), Is.EqualTo((250, 250)));
            VerifyMail(filter, "<a@example.org>", "AUTH=x");
        });
    }

    [Test]
    public async Task A_SIZE_equal_to_the_limit_is_taken_and_one_byte_more_gets_Postfixs_552()
    {
        var filter = Filter();
        await using var server = await StartAsync(filter, new MemoryStore(), maxMessageSize: 1000);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var over = await client.SendAsync("MAIL FROM:<a@example.org> SIZE=1001");
        var leadingZeros = await client.SendAsync("MAIL FROM:<a@example.org> BODY=8BITMIME size=00001001");
        var equal = await client.SendAsync("MAIL FROM:<a@example.org> SIZE=1000");

        Assert.Multiple(() =>
        {
            Assert.That(over.Text, Is.EqualTo("552 5.3.4 Message size exceeds fixed limit"));
            Assert.That(leadingZeros.Text, Is.EqualTo("552 5.3.4 Message size exceeds fixed limit"), "a number with leading zeros, in any case of SIZE");
            Assert.That(equal.Code, Is.EqualTo(250), equal.Text);
            VerifyMail(filter, "<a@example.org>", "SIZE=1000");
            VerifyMails(filter, 1);
        });
    }

    [Test]
    public async Task Without_a_size_limit_any_SIZE_that_fits_in_63_bits_is_taken()
    {
        var filter = Filter();
        await using var server = await StartAsync(filter, new MemoryStore());
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var huge = await client.SendAsync("MAIL FROM:<a@example.org> SIZE=9223372036854775807");
        await client.SendAsync("RSET");
        var overflow = await client.SendAsync("MAIL FROM:<a@example.org> SIZE=9223372036854775808");

        Assert.Multiple(() =>
        {
            Assert.That(huge.Code, Is.EqualTo(250), huge.Text);
            Assert.That(overflow.Text, Is.EqualTo("552 5.3.4 Message size exceeds file system imposed limit"), "Postfix's off_t, limit or none");
            VerifyMail(filter, "<a@example.org>", "SIZE=9223372036854775807");
            VerifyMails(filter, 1);
        });
    }

    [Test]
    public async Task A_MAIL_with_parameters_pipelined_with_a_refused_MAIL_RCPT_and_DATA_in_one_write_is_answered_in_order_with_its_own_parameters()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await StartAsync(filter, store, Limit);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        // One write: SmtpServer parses each line from a read of its own, and each MAIL must be checked by its own line.
        await client.SendWithoutReadingAsync(
            "MAIL FROM:<a@example.org> RET=FULL RET=HDRS\r\n"
            + "MAIL FROM:<a@example.org> SIZE=20000000\r\n"
            + "MAIL FROM:<a@example.org> BODY=8BITMIME RET=HDRS ENVID=one\r\n"
            + "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
            + "DATA\r\n");
        var replies = await RepliesAsync(client, 5);
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?[..3]), Is.EqualTo(new[] { "501", "552", "250", "250", "354" }), string.Join(" | ", replies));
            Assert.That(replies[0], Is.EqualTo("501 5.5.4 Bad RET parameter syntax"));
            Assert.That(replies[1], Is.EqualTo("552 5.3.4 Message size exceeds fixed limit"));
            Assert.That(end.Code, Is.EqualTo(250));
            VerifyMail(filter, "<a@example.org>", "BODY=8BITMIME", "RET=HDRS", "ENVID=one");
            VerifyMails(filter, 1);
            Assert.That(StoredSenders(store), Is.EqualTo(new[] { "a@example.org|BODY=8BITMIME|RET=HDRS|ENVID=one" }));
        });
    }

    [Test]
    public async Task MAIL_lines_that_come_one_byte_per_write_are_each_read_whole_with_their_own_parameters_and_answered_in_order()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await StartAsync(filter, store, Limit);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        const string lines = "MAIL FROM:<a@example.org>x\r\n"
            + "MAIL FROM:<a@example.org> X=1 x=2\r\n"
            + "MAIL FROM:<\"c>d\"@example.org>\tSIZE=1000 BODY=8BITMIME ENVID=x+2By SMTPUTF8\r\n"
            + "RCPT TO:<b@example.com>\r\n"
            + "DATA\r\n";
        await client.SendOneByteAtATimeAsync(lines);

        var replies = await RepliesAsync(client, 5);
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?[..3]), Is.EqualTo(new[] { "501", "555", "250", "250", "354" }), string.Join(" | ", replies));
            Assert.That(replies[0], Is.EqualTo("501 5.1.7 Bad sender address syntax"));
            Assert.That(replies[1], Is.EqualTo("555 5.5.4 Unsupported option: X=1"));
            Assert.That(end.Code, Is.EqualTo(250));
            VerifyMail(filter, "<\"c>d\"@example.org>", "SIZE=1000", "BODY=8BITMIME", "ENVID=x+2By", "SMTPUTF8");
            VerifyMails(filter, 1);
            Assert.That(StoredSenders(store), Is.EqualTo(new[] { "\"c>d\"@example.org|SIZE=1000|BODY=8BITMIME|ENVID=x+2By|SMTPUTF8" }));
        });
    }

    /// <summary>
    /// The MAIL lines of the live comparison, each with Postfix's reply code (which the comparison checks Postfix still
    /// gives, so that it never passes by comparing two sides that took everything).
    /// </summary>
    private static IEnumerable<(string Line, int Code)> LiveLines()
    {
        yield return ("MAIL FROM:<a@example.org>x", 501);
        yield return ("MAIL FROM:<a@example.org>\"x\"", 501);
        yield return ("MAIL FROM:<a@example.org>x FOO=1", 501); // the address before the parameters
        yield return ("MAIL FROM:<a@example.org>x SIZE=99999999", 501);
        yield return ("MAIL FROM:<a@example.org> RET=", 501);
        yield return ("MAIL FROM:<a@example.org> RET=FULL RET=HDRS", 501);
        yield return ("MAIL FROM:<a@example.org> X=1 x=2", 555);
        yield return ("MAIL FROM:<a@example.org> BODY=EVIL", 555);
        yield return ("MAIL FROM:<a@example.org> BODY", 555); // a keyword without its value
        yield return ("MAIL FROM:<a@example.org> ENVID=", 501);
        yield return ("MAIL FROM:<a@example.org> ENVID=a ENVID=b", 501);
        yield return ("MAIL FROM:<a@example.org> AUTH=x AUTH=y", 503);
        yield return ("MAIL FROM:<a@example.org> AUTH=<> AUTH=y", 250);
        yield return ("MAIL FROM:<a@example.org> SIZE=abc", 501);
        yield return ("MAIL FROM:<a@example.org> SIZE=", 501);
        yield return ("MAIL FROM:<a@example.org> SIZE=99999999", 552);
        yield return ("MAIL FROM:<a@example.org> SIZE=10240000", 250); // the limit
        yield return ("MAIL FROM:<a@example.org> SIZE=10240001", 552);
        yield return ("MAIL FROM:<a@example.org> SIZE=99999999 FOO=1", 555); // the parameters before the limit
        yield return ("MAIL FROM:<a@example.org> SIZE=99999999 RET=", 501);
        yield return ("MAIL FROM:<a@example.org> SIZE=99999999999999999999", 552); // past an off_t
        yield return ("MAIL FROM:<\"a>b\"@example.org> BODY=8BITMIME", 250);
        yield return ("MAIL FROM:<\"a>b\"@example.org> FOO=1", 555);
        yield return ("MAIL FROM:<a@example.org> ENVID=\"a b\"", 250); // one parameter to Postfix: quoted
        yield return ("MAIL FROM:<a@example.org> ENVID=a\\ b", 250); // escaped
        yield return ("MAIL FROM:<a@example.org> ENVID=<a b>", 250); // bracketed
        yield return ("MAIL FROM:<a@example.org> X=\"a b\"", 555);
        yield return ("MAIL FROM:<a@example.org> <x y>", 555);
        yield return ("MAIL FROM:<a@example.org>\tBODY=8BITMIME", 250);
        yield return ("MAIL FROM:<a@example.org>\vBODY=8BITMIME", 250);
        yield return ("MAIL FROM:<a@example.org>  BODY=8BITMIME  ", 250);
        yield return ("MAIL FROM: <a@example.org> BODY=8BITMIME", 250);
        yield return ("mail from:<a@example.org> smtputf8 body=8bitmime ret=hdrs envid=x+2By size=5", 250);
        yield return ("MAIL FROM:<a@example.org> SMTPUTF8", 250);
        yield return ("MAIL FROM:<a@example.org> SMTPUTF8=yes", 555);
        yield return ("MAIL FROM:<> BODY=7BIT", 250);
        yield return ("MAIL FROM:<a@example.org> X\u0001Y=1", 555); // the byte sent back as it came
    }

    /// <summary>
    /// Text after the path that Postfix's address parser (tok822) reads as no second address, and takes: the integration
    /// refuses any text right after the path, as it refuses <c>&lt;a@example.org&gt;x</c>. A known difference, pinned on
    /// both sides so that a change of either is seen.
    /// </summary>
    private static IEnumerable<string> KnownDifferences()
    {
        yield return "MAIL FROM:<a@example.org>>";
        yield return "MAIL FROM:<a@example.org>(x)";
        yield return "MAIL FROM:<a@example.org>,";
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_every_MAIL_line_alike_and_refuse_with_the_same_words()
    {
        var lines = LiveLines().ToList();
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8", $"message_size_limit={Limit}");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), maxMessageSize: Limit);

        var differences = new List<string>();
        foreach (var (line, code) in lines)
        {
            var fromPostfix = await MailReplyAsync(postfix.SmtpPort, line);
            var ours = await MailReplyAsync(server.Port, line);
            if (LiveComparison.Difference(line, code, fromPostfix, ours) is { } difference)
            {
                differences.Add(difference);
            }
        }

        foreach (var line in KnownDifferences())
        {
            var fromPostfix = await MailReplyAsync(postfix.SmtpPort, line);
            var ours = await MailReplyAsync(server.Port, line);
            if (fromPostfix[..3] != "250" || ours != "501 5.1.7 Bad sender address syntax")
            {
                differences.Add($"{LiveComparison.Shown(line)} (a known difference)\n  postfix: {LiveComparison.Shown(fromPostfix)} (expected 250)\n  ours:    {LiveComparison.Shown(ours)} (expected 501 5.1.7)");
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }

    /// <summary>A session of its own for <paramref name="line"/>, after EHLO, then QUIT: the reply to it.</summary>
    private static async Task<string> MailReplyAsync(int port, string line) => (await LiveComparison.RepliesAsync(port, line))[0];
}
