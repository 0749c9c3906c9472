using System.Globalization;
using System.Text;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// A command line longer than Postfix's <c>line_length_limit</c> (2,048 bytes, its CR LF not counted): Postfix reads its first
/// 2,048 bytes as the command and skips the rest of the line. The pipe does the same before SmtpServer sees any of it, so
/// that a long MAIL's parameters get Postfix's replies (SmtpServer 11.1.0's parser ended the session on a repeated or 4 KB
/// one) and a client's command line holds 2 KB of memory, not up to <c>MaxMessageSize</c>.
/// </summary>
public class LongCommandLineTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    private static string Padded(string start, int length, char pad = 'v') => start + new string(pad, length - start.Length);

    [TestCase("MAIL FROM:<a@example.org> RET=FULL RET=HDRS X-PAD=", "501 5.5.4 Bad RET parameter syntax", TestName = "A long MAIL with a repeated parameter gets 501 and goes on (SmtpServer ended the session)")]
    [TestCase("MAIL FROM:<a@example.org> X=1 x=2 X-PAD=", "555 5.5.4 Unsupported option: X=1", TestName = "A long MAIL with a parameter repeated in another case gets 555 and goes on")]
    public async Task A_MAIL_line_over_2048_bytes_is_read_as_Postfix_cuts_it_and_the_session_goes_on(string start, string reply)
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var refused = await client.SendAsync(Padded(start, 5000));
        var end = await client.SendMailAsync("g@example.org", ["b@example.com"], "Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Text, Is.EqualTo(reply));
            Assert.That(end.Code, Is.EqualTo(250));
            Assert.That(store.Messages.Single().Filtered.Envelope.MailFrom, Is.EqualTo("g@example.org"));
        });
    }

    [Test]
    public async Task A_MAIL_whose_parameters_run_past_2048_bytes_is_taken_with_those_before_the_cut()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var mail = await client.SendAsync(Padded("MAIL FROM:<a@example.org> BODY=8BITMIME", 3000, ' ') + "FOO=1");
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");

        Assert.Multiple(() =>
        {
            Assert.That((mail.Code, rcpt.Code), Is.EqualTo((250, 250)), "FOO=1 is in the part skipped, as at Postfix");
            filter.Verify(f => f.MailAsync("<a@example.org>", It.Is<IReadOnlyList<string>?>(p => p!.SequenceEqual(new[] { "BODY=8BITMIME" })), It.IsAny<CancellationToken>()));
        });
    }

    [Test]
    public async Task A_command_line_of_megabytes_sent_in_pieces_is_skipped_past_2048_bytes_and_answered_even_past_the_message_size_limit()
    {
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false, maxMessageSize: 10_000);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendWithoutReadingAsync("MAIL FROM:<a@example.org> X-PAD=");
        var piece = new string('v', 64 * 1024);
        for (var i = 0; i < 48; i++)
        {
            await client.SendWithoutReadingAsync(piece); // 3 MB in all, one 64 KB piece after another
        }

        await client.SendWithoutReadingAsync("\r\nMAIL FROM:<g@example.org>\r\n");
        var replies = await client.ReadRepliesAsync(2);

        Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "555 5.5.4 Unsupported option: X-PAD=" + new string('v', 2048 - "MAIL FROM:<a@example.org> X-PAD=".Length), "250 Ok" }));
    }

    [Test]
    public async Task A_long_line_whose_CR_LF_comes_split_between_two_writes_ends_there()
    {
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        await client.SendWithoutReadingAsync(Padded("MAIL FROM:<a@example.org> X=", 4000) + "\r");
        await Task.Delay(100);
        await client.SendWithoutReadingAsync("\nMAIL FROM:<g@example.org>\r\n");
        var replies = await client.ReadRepliesAsync(2);

        Assert.That(replies.Select(r => r?.Text[..3]), Is.EqualTo(new[] { "555", "250" }));
    }

    [Test]
    public async Task An_AUTH_line_up_to_RFC_4954s_12288_octets_is_read_whole_and_a_longer_one_is_refused_and_the_session_goes_on()
    {
        var password = new string('p', 3000);
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false,
            authenticate: (user, given) => user == "alice" && given == password);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var tooLong = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0" + new string('p', 10_000))));
        var whole = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0" + password)));
        var mail = await client.SendAsync("MAIL FROM:<a@example.org>");

        Assert.Multiple(() =>
        {
            Assert.That(tooLong.Text, Is.EqualTo("500 5.5.6 SASL response limit exceeded"), "13,000 octets: SmtpServer would end the session on the cut base64");
            Assert.That(whole.Code, Is.EqualTo(235), "4,000 octets: read whole, where a cut at 2,048 ended the session (a review's find)");
            Assert.That(mail.Code, Is.EqualTo(250));
        });
    }

    [TestCase("  ")]
    [TestCase("\t")]
    public async Task An_AUTH_line_after_spaces_is_read_to_12288_octets_as_any_AUTH_line(string spaces)
    {
        // A review's find: the AUTH limit looked at the line's first byte while the line is read from its first word, so
        // such a line was cut at 2,048 and SmtpServer ended the session on the cut base64 (421).
        var password = new string('p', 3000);
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false,
            authenticate: (user, given) => user == "alice" && given == password);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var tooLong = await client.SendAsync(spaces + "AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0" + new string('p', 10_000))));
        var whole = await client.SendAsync(spaces + "AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0" + password)));

        Assert.That((tooLong.Text, whole.Code), Is.EqualTo(("500 5.5.6 SASL response limit exceeded", 235)));
    }

    [Test]
    public async Task An_AUTH_line_with_a_space_SmtpServer_takes_other_than_a_blank_is_read_to_12288_octets_too()
    {
        var password = new string('p', 3000);
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore(), addTraceField: false,
            authenticate: (user, given) => user == "alice" && given == password);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");

        var auth = await client.SendAsync("AUTH\fPLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0" + password)));

        Assert.That(auth.Code, Is.EqualTo(235), "a form feed after AUTH is a space to SmtpServer's parser (a review's find: cut, then 421)");
    }

    [Test]
    public async Task A_long_AUTH_line_that_is_not_UTF8_is_refused_whole_and_nothing_of_it_runs_as_a_command()
    {
        // A review found the pipe went on 2,050 bytes into such a line, and the rest of it ran as a MAIL.
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false,
            authenticate: (user, given) => false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        var line = Padded("AUTH PLAIN \u00ff", 2050, 'A') + "MAIL FROM:<smuggled@example.org>\r\nRSET\r\n";

        await client.SendWithoutReadingAsync(Encoding.Latin1.GetBytes(line));
        var replies = await client.ReadRepliesAsync(2);

        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r?.Text), Is.EqualTo(new[] { "500 5.5.2 Error: bad UTF-8 syntax", "250 Ok" }));
            filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>?>(), It.IsAny<CancellationToken>()), Times.Never);
        });
    }

    /// <summary>The long lines of the live comparison, each with Postfix's reply code (checked, so that it never compares two sides that took everything).</summary>
    private static IEnumerable<(string[] Lines, int Code)> LiveLines()
    {
        yield return ([Padded("MAIL FROM:<a@example.org> RET=FULL RET=HDRS X-PAD=", 5000)], 501);
        yield return ([Padded("MAIL FROM:<a@example.org> X=", 5000)], 555); // the parameter named as cut
        yield return ([Padded("MAIL FROM:<a@example.org> X=", 2049)], 555);
        yield return ([Padded("MAIL FROM:<a@example.org> X=", 2048)], 555);
        yield return ([Padded("MAIL FROM:<a@example.org> ", 2047, ' ') + "X=1"], 555); // cut after its X
        yield return ([Padded("MAIL FROM:<a@example.org> ", 2045, ' ') + "X=1"], 555);
        yield return ([Padded("MAIL FROM:<a@example.org> BODY=8BITMIME", 3000, ' ') + "FOO=1"], 250);
        yield return ([Padded("MAIL FROM:<a@example.org> ENVID=", 3000, 'e')], 250); // an ENVID of 2,016 bytes: taken
        yield return ([Padded("MAIL FROM:<a@example.org> ", 2048, ' ') + "X=1"], 250); // X=1 past the cut
        yield return (["MAIL FROM:<a@example.org>", Padded("RCPT TO:<b@example.com> NOTIFY=NEVER", 4000, ' ') + "FOO=1"], 250);
        yield return (["MAIL FROM:<a@example.org>", Padded("RCPT TO:<b@example.com> NOTIFY=NEVER X=", 4000)], 555);
        yield return (["MAIL FROM:<a@example.org>", string.Concat(Enumerable.Repeat("RCPT TO:<b@example.com> ", 1)) + string.Concat(Enumerable.Repeat("NOTIFY=NEVER ", 300))], 501);
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_every_long_command_line_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = new List<string>();
        foreach (var (lines, code) in LiveLines())
        {
            var fromPostfix = (await LiveComparison.RepliesAsync(postfix.SmtpPort, lines))[^1];
            var ours = (await LiveComparison.RepliesAsync(server.Port, lines))[^1];
            if (LiveComparison.Difference(lines[^1], code, fromPostfix, ours) is { } difference)
            {
                differences.Add(difference);
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
