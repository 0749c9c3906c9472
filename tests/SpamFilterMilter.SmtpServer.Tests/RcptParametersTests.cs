using System.Text.RegularExpressions;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// RCPT's ESMTP parameters and the text right after its path, which SmtpServer 11.1.0's parser drops: read from the
/// command line (CommandLine), checked as Postfix 3.7's rcpt_cmd checks them and in its order (text after the path, then
/// the parameters, then the recipient limit, then the relay restriction), then given to the filter and kept in the
/// stored envelope. Checked against Postfix 3.7 with <c>mynetworks = 127.0.0.0/8</c>: <c>&lt;b@example.com&gt;x</c> got
/// <c>501 5.1.3 Bad recipient address syntax</c>, <c>FOO=1</c> <c>555 5.5.4 Unsupported option: FOO=1</c>, a second
/// NOTIFY <c>501 5.5.4 Error: Bad NOTIFY parameter syntax</c>, and <c>NOTIFY=NEVER</c> after a tab, a VT or two spaces
/// <c>250 2.1.5 Ok</c>; the live comparison below runs the same lines through a private Postfix again.
/// </summary>
public class RcptParametersTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    /// <summary>The recipients of the one message stored, each as its address and its parameters, <c>|</c> between them.</summary>
    private static IEnumerable<string> StoredRecipients(MemoryStore store) =>
        store.Messages.Single().Filtered.Envelope.Recipients.Select(r => string.Join('|', [r.Address, .. r.Parameters]));

    /// <summary>A parameter list that is exactly <paramref name="expected"/>, in order.</summary>
    private static IReadOnlyList<string> Exactly(params string[] expected) => It.Is<IReadOnlyList<string>>(p => p.SequenceEqual(expected));

    /// <summary>The filter heard of <paramref name="path"/> once, with exactly <paramref name="parameters"/>.</summary>
    private static void VerifyRcpt(Mock<IFilterSession> filter, string path, params string[] parameters) =>
        filter.Verify(f => f.RcptAsync(path, Exactly(parameters), It.IsAny<CancellationToken>()), Times.Once);

    /// <summary>Reads <paramref name="count"/> replies, the codes of those pipelined.</summary>
    private static async Task<int?[]> CodesAsync(SmtpLineClient client, int count) =>
        [.. (await client.ReadRepliesAsync(count)).Select(r => r?.Code)];

    [Test]
    public async Task Each_pipelined_recipient_gives_the_filter_and_the_stored_envelope_its_own_NOTIFY_and_ORCPT_and_one_without_any_none()
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        // One write: SmtpServer parses each line from a read of its own, and each RCPT must get its own line's parameters.
        await client.SendWithoutReadingAsync(
            "RCPT TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.com\r\n"
            + "RCPT TO:<c@example.com>\r\n"
            + "RCPT TO:<d@example.com>\tnotify=never  \r\n"
            + "RCPT TO: <postmaster> NOTIFY=NEVER\r\n"
            + "RCPT TO:<\"e>f\"@example.com> ORCPT=rfc822;e@example.com\r\n"
            + "DATA\r\n");
        var replies = await CodesAsync(client, 6);
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies, Is.EqualTo(new int?[] { 250, 250, 250, 250, 250, 354 }));
            Assert.That(end.Code, Is.EqualTo(250));
            VerifyRcpt(filter, "<b@example.com>", "NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;b+2Bx@example.com");
            VerifyRcpt(filter, "<c@example.com>");
            VerifyRcpt(filter, "<d@example.com>", "notify=never"); // as the client wrote it, split at the tab
            VerifyRcpt(filter, "<postmaster>", "NOTIFY=NEVER"); // the bare postmaster's stand-in carries none: the line does
            VerifyRcpt(filter, "<\"e>f\"@example.com>", "ORCPT=rfc822;e@example.com"); // the quoted > ends no path
            Assert.That(StoredRecipients(store), Is.EqualTo(new[]
            {
                "b@example.com|NOTIFY=SUCCESS,DELAY|ORCPT=rfc822;b+2Bx@example.com",
                "c@example.com",
                "d@example.com|notify=never",
                "postmaster|NOTIFY=NEVER",
                "\"e>f\"@example.com|ORCPT=rfc822;e@example.com",
            }));
        });
    }

    [TestCase("RCPT TO:<b@example.com>x", "501 5.1.3 Bad recipient address syntax")]
    [TestCase("RCPT TO:<b@example.com>\"x\"", "501 5.1.3 Bad recipient address syntax")]
    [TestCase("RCPT TO:<b@example.com>x NOTIFY=NEVER", "501 5.1.3 Bad recipient address syntax")]
    [TestCase("RCPT TO:<c@example.com> FOO=1", "555 5.5.4 Unsupported option: FOO=1")]
    [TestCase("RCPT TO:<c@example.com> NOTIFY=NEVER FOO=1", "555 5.5.4 Unsupported option: FOO=1")]
    [TestCase("RCPT TO:<b@example.com> <x>", "555 5.5.4 Unsupported option: <x>")]
    [TestCase("RCPT TO:<o@example.com> NOTIFY", "555 5.5.4 Unsupported option: NOTIFY")]
    [TestCase("RCPT TO:<postmaster> FOO=1", "555 5.5.4 Unsupported option: FOO=1")]
    [TestCase("RCPT TO:<m@example.com> NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("RCPT TO:<m@example.com> NOTIFY=SOMETIMES", "501 5.5.4 Error: Bad NOTIFY parameter syntax")]
    [TestCase("RCPT TO:<w@example.com> ORCPT=rfc822;x@y ORCPT=rfc822;x@y", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("RCPT TO:<w@example.com> ORCPT=x@y", "501 5.5.4 Error: Bad ORCPT parameter syntax")]
    [TestCase("RCPT TO:<q@example.com> X=\"a b\"", "555 5.5.4 Unsupported option: X=\"a b\"", TestName = "A quoted space is inside the parameter Postfix names (its smtpd_token)")]
    [TestCase("RCPT TO:<q@example.com> <x y>", "555 5.5.4 Unsupported option: <x y>", TestName = "A space in angle brackets is inside the parameter Postfix names (its smtpd_token)")]
    [TestCase("RCPT TO:<q@example.com> X=a\\ b", "555 5.5.4 Unsupported option: X=a\\ b", TestName = "An escaped space is inside the parameter Postfix names (its smtpd_token)")]
    [TestCase("RCPT TO:<t@example.com> X\u0001Y=1", "555 5.5.4 Unsupported option: X\u0001Y=1", TestName = "A control byte is in the parameter Postfix 3.7 names as the client sent it")]
    public async Task A_refused_RCPT_gets_Postfixs_reply_the_filter_never_hears_of_it_and_the_session_goes_on(string line, string reply)
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        var refused = await client.SendAsync(line);
        var later = await client.SendAsync("RCPT TO:<g@example.com> NOTIFY=NEVER");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Text, Is.EqualTo(reply));
            Assert.That((later.Code, data.Code, end.Code), Is.EqualTo((250, 354, 250)), "the refusal ends nothing: a later recipient and the message are taken");
            filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
            VerifyRcpt(filter, "<g@example.com>", "NOTIFY=NEVER");
            Assert.That(StoredRecipients(store), Is.EqualTo(new[] { "g@example.com|NOTIFY=NEVER" }));
        });
    }

    [Test]
    public async Task A_parameter_with_quoted_or_escaped_whitespace_is_one_parameter_as_Postfixs_tokenizer_reads_it()
    {
        // Postfix's smtpd splits a command line at spaces outside "...", <...> and after no backslash (smtpd_token): it
        // takes this ORCPT (250 2.1.5 Ok) and hands its milters the parameter whole.
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        var rcpt = await client.SendAsync("RCPT TO:<b@example.com> ORCPT=rfc822;\"b c\"@example.com NOTIFY=NEVER");
        await client.SendAsync("DATA");
        await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(rcpt.Code, Is.EqualTo(250), rcpt.Text);
            VerifyRcpt(filter, "<b@example.com>", "ORCPT=rfc822;\"b c\"@example.com", "NOTIFY=NEVER");
            Assert.That(StoredRecipients(store), Is.EqualTo(new[] { "b@example.com|ORCPT=rfc822;\"b c\"@example.com|NOTIFY=NEVER" }));
        });
    }

    [Test]
    public async Task The_parameters_and_the_text_after_the_path_are_refused_before_the_recipient_limit_as_Postfix_refuses_them()
    {
        // Postfix with smtpd_recipient_limit = 2: FOO=1 on the third recipient got 555, <e@example.com>x 501 5.1.3, and
        // only a third recipient with good parameters 452.
        await using var session = await RelayingSession.StartAsync(maxRecipients: 2);
        var (filter, client) = (session.Filter, session.Client);

        var replies = new List<string>();
        foreach (var line in new[]
        {
            "RCPT TO:<c@example.com>", "RCPT TO:<d@example.com>", "RCPT TO:<e@example.com> FOO=1", "RCPT TO:<e@example.com>x",
            "RCPT TO:<e@example.com> NOTIFY=NEVER NOTIFY=NEVER", "RCPT TO:<f@example.com> NOTIFY=NEVER",
        })
        {
            replies.Add((await client.SendAsync(line)).Text);
        }

        Assert.That(replies.Skip(2), Is.EqualTo(new[]
        {
            "555 5.5.4 Unsupported option: FOO=1",
            "501 5.1.3 Bad recipient address syntax",
            "501 5.5.4 Error: Bad NOTIFY parameter syntax",
            "452 4.5.3 Error: too many recipients",
        }));
        Assert.That(replies.Take(2).Select(r => r[..3]), Is.All.EqualTo("250"));
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Exactly(2));
    }

    [Test]
    public async Task The_parameters_and_the_text_after_the_path_are_refused_before_the_relay_restriction_as_Postfix_refuses_them()
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, client) = (session.Filter, session.Client);

        var parameter = await client.SendAsync("RCPT TO:<b@other.org> FOO=1");
        var textAfterPath = await client.SendAsync("RCPT TO:<b@other.org>x");
        var notify = await client.SendAsync("RCPT TO:<b@other.org> NOTIFY=NEVER NOTIFY=NEVER");
        var good = await client.SendAsync("RCPT TO:<b@other.org> NOTIFY=NEVER");

        Assert.Multiple(() =>
        {
            Assert.That(parameter.Text, Is.EqualTo("555 5.5.4 Unsupported option: FOO=1"), "Postfix: 555, not 554, for an untrusted client and a foreign domain");
            Assert.That(textAfterPath.Text, Is.EqualTo("501 5.1.3 Bad recipient address syntax"));
            Assert.That(notify.Text, Is.EqualTo("501 5.5.4 Error: Bad NOTIFY parameter syntax"));
            Assert.That(good.Text, Is.EqualTo("554 5.7.1 <b@other.org>: Relay access denied"), "with good parameters the relay restriction answers");
        });
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task RCPT_lines_that_come_one_byte_per_write_each_give_their_own_recipient_its_own_parameters()
    {
        await using var session = await RelayingSession.StartAsync();
        var (filter, store, client) = (session.Filter, session.Store, session.Client);

        const string lines = "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"
            + "RCPT TO:<c@example.com>\r\n"
            + "RCPT TO:<d@example.com> FOO=1\r\n"
            + "RCPT TO:<d@example.com>x\r\n"
            + "RCPT TO:<postmaster> ORCPT=rfc822;postmaster\r\n"
            + "RCPT TO:<e@example.com> ORCPT=rfc822;e@example.com NOTIFY=FAILURE\r\n"
            + "DATA\r\n";
        await client.SendOneByteAtATimeAsync(lines);

        var replies = await CodesAsync(client, 7);
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(replies, Is.EqualTo(new int?[] { 250, 250, 555, 501, 250, 250, 354 }));
            Assert.That(end.Code, Is.EqualTo(250));
            VerifyRcpt(filter, "<b@example.com>", "NOTIFY=NEVER");
            VerifyRcpt(filter, "<c@example.com>");
            VerifyRcpt(filter, "<postmaster>", "ORCPT=rfc822;postmaster");
            VerifyRcpt(filter, "<e@example.com>", "ORCPT=rfc822;e@example.com", "NOTIFY=FAILURE");
            filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Exactly(4));
            Assert.That(StoredRecipients(store), Is.EqualTo(new[]
            {
                "b@example.com|NOTIFY=NEVER",
                "c@example.com",
                "postmaster|ORCPT=rfc822;postmaster",
                "e@example.com|ORCPT=rfc822;e@example.com|NOTIFY=FAILURE",
            }));
        });
    }

    /// <summary>
    /// The RCPT lines of the live comparison, each with Postfix's reply code (which the comparison checks Postfix still
    /// gives, so that it never passes by comparing two sides that took everything): separators other than a space, a
    /// quoted <c>&gt;</c> in the local part, and a line past Postfix's 2048 bytes, which it reads to there.
    /// </summary>
    private static IEnumerable<(string Line, int Code)> LiveLines()
    {
        const string notify = "RCPT TO:<y@example.com> NOTIFY=NEVER"; // 36 bytes
        yield return ("RCPT TO:<b@example.com>x", 501);
        yield return ("RCPT TO:<b@example.com>\"x\"", 501);
        yield return ("RCPT TO:<c@example.com> FOO=1", 555);
        yield return ("RCPT TO:<d@example.com> NOTIFY=NEVER", 250);
        yield return ("RCPT TO:<e@example.com>  NOTIFY=NEVER  ORCPT=rfc822;x@y", 250);
        yield return ("RCPT TO:<\"f>g\"@example.com> NOTIFY=NEVER", 250);
        yield return ("RCPT TO:<h@example.com>\tNOTIFY=NEVER", 250);
        yield return ("RCPT TO: <i@example.com> NOTIFY=NEVER", 250);
        yield return ("RCPT TO:<m@example.com> NOTIFY=NEVER NOTIFY=NEVER", 501);
        yield return ("RCPT TO:<m@example.com> NOTIFY=SOMETIMES", 501);
        yield return ("RCPT TO:<n@example.com> notify=never", 250);
        yield return ("RCPT TO:<o@example.com> NOTIFY", 555);
        yield return ("RCPT TO:<p@example.com> ORCPT=rfc822;a+2Bb@x", 250);
        yield return ("RCPT TO:<postmaster> NOTIFY=NEVER", 250);
        yield return ("RCPT TO:<postmaster> FOO=1", 555);
        yield return ("RCPT TO:<w@example.com> ORCPT=rfc822;x@y ORCPT=rfc822;x@y", 501);
        yield return ("RCPT TO:<x@example.com>\vNOTIFY=NEVER", 250);
        yield return ("RCPT TO:<b@example.com> <x>", 555);
        yield return ("RCPT TO:<t@example.com> X\u0001Y=1", 555); // the byte sent back as it came
        yield return ("RCPT TO:<q@example.com> X=\"a b\"", 555); // one parameter to Postfix: quoted
        yield return ("RCPT TO:<q@example.com> ORCPT=rfc822;\"a b\"@example.com", 250);
        yield return ("RCPT TO:<q@example.com> <x y>", 555);
        yield return ("RCPT TO:<q@example.com> X=a\\ b", 555); // escaped
        yield return ("RCPT TO:<q@example.com> X=\"a b", 555); // a quote without its end: the rest of the line
        yield return ("RCPT TO:<q@example.com> \"x y\"", 555);
        yield return ("RCPT TO:<q@example.com> X=<b <c> d> Y", 555); // brackets nest
        yield return ("RCPT TO:<q@example.com> X=\"b c\\\" d\" Y", 555); // an escaped quote ends no quote
        yield return ("RCPT TO:<q@example.com> X=<b \"> c\"> Y", 555); // a quoted > ends no bracket
        yield return ("RCPT TO:<q@example.com> X=\u00e9", 555);
        yield return ("RCPT TO:<q@example.com> NOTIFY=never,success", 501);
        yield return ("RCPT TO:<q@example.com> ORCPT=rfc822;a+2", 501);
        yield return ("RCPT TO:<q@example.com> ORCPT=;a", 501);
        yield return ("RCPT TO:<\"q r\"@example.com> NOTIFY=NEVER", 250);
        yield return ("rcpt to:<r@example.com> notify=NEVER ", 250);
        yield return ("RCPT TO:<r@example.com> ", 250);
        yield return (notify + new string(' ', 2100) + "FOO=1", 250); // FOO=1 past byte 2048: never read
        yield return (notify + new string(' ', 1900) + "FOO=1", 555);
        yield return (notify + new string(' ', 2048 - 36 - 5) + "FOO=1", 555); // 2048 bytes to the line's end
        yield return (notify + new string(' ', 2048 - 36 - 4) + "FOO=1", 555); // FOO= in, its 1 cut off
        yield return (notify + new string(' ', 2048 - 36 - 6) + "FOO=1", 555); // its CR the 2048th byte
        yield return (notify + new string(' ', 2048 - 36 - 1) + "FOO=1", 555); // F alone in
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_every_RCPT_line_alike_and_refuse_with_the_same_words()
    {
        var lines = LiveLines().ToList();
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = new List<string>();
        foreach (var (line, code) in lines)
        {
            var fromPostfix = await RcptReplyAsync(postfix.SmtpPort, line);
            var ours = await RcptReplyAsync(server.Port, line);
            if (LiveComparison.Difference(line, code, fromPostfix, ours) is { } difference)
            {
                differences.Add(difference);
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_check_the_parameters_before_the_recipient_limit_and_the_relay_restriction_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "relay_domains=example.com", "mynetworks=10.9.9.0/24", "smtpd_recipient_limit=2",
            "smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination");
        await using var server = await RelayingSession.StartServerAsync(Filter(), new MemoryStore(), maxRecipients: 2);
        string[] lines =
        [
            "RCPT TO:<b@other.org> FOO=1", "RCPT TO:<b@other.org>x", "RCPT TO:<b@other.org> NOTIFY=NEVER", "RCPT TO:<c@example.com>",
            "RCPT TO:<d@example.com> NOTIFY=NEVER", "RCPT TO:<e@example.com> FOO=1", "RCPT TO:<e@example.com>x",
            "RCPT TO:<e@example.com> ORCPT=rfc822;x@y ORCPT=rfc822;x@y", "RCPT TO:<f@example.com> NOTIFY=NEVER", "RCPT TO:<b@other.org> NOTIFY=NEVER",
        ];

        var fromPostfix = await RcptRepliesAsync(postfix.SmtpPort, lines);
        var ours = await RcptRepliesAsync(server.Port, lines);

        Assert.Multiple(() =>
        {
            Assert.That(fromPostfix.Select(r => r[..3]), Is.EqualTo(new[] { "555", "501", "554", "250", "250", "555", "501", "501", "452", "452" }), string.Join(" | ", fromPostfix));
            Assert.That(ours.Select(LiveComparison.Comparable), Is.EqualTo(fromPostfix.Select(LiveComparison.Comparable)));
        });
    }

    /// <summary>A session of its own for <paramref name="line"/>, after EHLO and MAIL: the reply to it.</summary>
    private static async Task<string> RcptReplyAsync(int port, string line) => (await RcptRepliesAsync(port, [line])).Single();

    /// <summary>One session: EHLO, MAIL, then each of <paramref name="lines"/>, then QUIT: the replies to the lines.</summary>
    private static async Task<string[]> RcptRepliesAsync(int port, IEnumerable<string> lines) =>
        (await LiveComparison.RepliesAsync(port, ["MAIL FROM:<a@example.org>", .. lines]))[1..];
}
