using System.Text;
using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// Commands Postfix takes where SmtpServer 11.1.0's state machine refuses them: a MAIL, STARTTLS or AUTH before any HELO
/// (Postfix without <c>smtpd_helo_required</c>, its default), and a HELO or EHLO inside a transaction, which resets it as
/// RSET does (RFC 5321 §4.1.4: the server MUST), as does a STARTTLS there once TLS is up. SmtpServer answered them
/// <c>503</c>; it is now given a HELO or an RSET before the client's line (FilteredSession.CommandBefore), whose reply the
/// pipe drops, and the filter hears what Postfix's milters hear: no HELO before such a MAIL; the HELO, which ends the
/// filter's transaction itself (MilterEndToEndTests compares the milter's events with Postfix's).
/// </summary>
public class HeloOrderTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    /// <summary>The filter's stages in the order it was called (HeloAsync → Helo), the session's opening and end and the macros left out.</summary>
    private static string[] Calls(Mock<IFilterSession> filter) =>
        [.. filter.Invocations.Select(i => i.Method.Name.Replace("Async", "", StringComparison.Ordinal)).Where(name => name is not ("Connect" or "Close" or "Dispose" or "SetMacro"))];

    private static CancellationToken Bound() => new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token;

    [Test]
    public async Task A_MAIL_before_any_HELO_is_taken_the_filter_hears_no_HELO_and_the_trace_field_says_from_unknown_with_SMTP()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, lookUpClientNames: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var mail = await client.SendAsync("MAIL FROM:<a@example.org>");
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
        var helo = await client.SendAsync("HELO late.example");
        var quit = await client.SendAsync("QUIT");

        Assert.Multiple(() =>
        {
            Assert.That((mail.Code, rcpt.Code, data.Code, end.Code, helo.Code, quit.Code), Is.EqualTo((250, 250, 354, 250, 250, 221)), "one reply per line: the HELO given before the MAIL has none");
            Assert.That(Calls(filter), Is.EqualTo(new[] { "Mail", "Rcpt", "Data", "Message", "Helo" }), "no HELO before the MAIL, as Postfix's milters hear it");
            var text = Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message);
            Assert.That(text, Does.StartWith("Received: from unknown (unknown [127.0.0.1])\r\n"), "Postfix's words for a client that gave no HELO");
            Assert.That(text, Does.Contain(" with SMTP id "));
        });
    }

    [Test]
    public async Task After_a_MAIL_without_HELO_the_trace_field_names_the_client_by_its_looked_up_name_in_the_HELO_names_place()
    {
        // Postfix writes helo_name ? helo_name : name (smtpd.c): with its peer name lookup on, "from localhost (localhost [127.0.0.1])".
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, store);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");
        await client.SendAsync("DATA");
        await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Does.StartWith("Received: from localhost (localhost [127.0.0.1])\r\n"));
    }

    [Test]
    public async Task An_EHLO_inside_a_transaction_ends_it_and_the_filter_hears_the_HELO()
    {
        foreach (var oneByteAtATime in new[] { false, true })
        {
            var filter = Filter();
            var store = new MemoryStore();
            await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
            await using var client = await SmtpLineClient.ConnectAsync(server.Port);

            // Pipelined, as a client may send them: each line gets its own reply, in order, and no other.
            const string Lines = "EHLO first.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nEHLO second.example\r\n" +
                "RCPT TO:<c@example.com>\r\nMAIL FROM:<d@example.org>\r\nRCPT TO:<e@example.com>\r\nDATA\r\n";
            if (oneByteAtATime)
            {
                await client.SendOneByteAtATimeAsync(Lines);
            }
            else
            {
                await client.SendWithoutReadingAsync(Lines);
            }

            var replies = await client.ReadRepliesAsync(8, Bound());
            var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");
            var quit = await client.SendAsync("QUIT");

            var how = oneByteAtATime ? "one byte per write" : "in one write";
            Assert.Multiple(() =>
            {
                Assert.That(replies.Select(r => r?.Code), Is.EqualTo(new int?[] { 250, 250, 250, 250, 503, 250, 250, 354 }), how);
                Assert.That(replies[3]!.Text, Does.StartWith("250-").And.Contain("second.example"), "the second EHLO's own reply");
                Assert.That(replies[4]!.Text, Is.EqualTo("503 5.5.1 Error: need MAIL command"), "the EHLO ended the transaction");
                Assert.That((end.Code, quit.Code), Is.EqualTo((250, 221)), how);
                Assert.That(Calls(filter), Is.EqualTo(new[] { "Helo", "Mail", "Rcpt", "Helo", "Mail", "Rcpt", "Data", "Message" }), "no abort of the host's own: " + how);
                var envelope = store.Messages.Single().Filtered.Envelope;
                Assert.That((envelope.MailFrom, envelope.Recipients.Single().Address), Is.EqualTo(("d@example.org", "e@example.com")), how);
            });
        }
    }

    [Test]
    public async Task A_HELO_inside_a_transaction_counts_once_towards_the_junk_command_limit_and_is_no_error()
    {
        // Postfix's smtpd_junk_command_limit (100) counts the HELO, not the RSET given before it: 96 HELOs, 95 of them inside
        // transactions, are 96 junk commands, under the limit, and no error. Counted twice, the last 45 would each be an
        // error, and the session would end at the hard error limit (20) with a 421.
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("HELO client.example");

        var codes = new List<int>();
        for (var i = 0; i < 95; i++)
        {
            codes.Add((await client.SendAsync("MAIL FROM:<a@example.org>")).Code);
            codes.Add((await client.SendAsync("HELO client.example")).Code);
        }

        var noop = await client.SendAsync("NOOP");

        Assert.Multiple(() =>
        {
            Assert.That(codes, Is.All.EqualTo(250));
            Assert.That(noop.Code, Is.EqualTo(250), "the session goes on: neither limit was reached");
        });
    }

    [TestCase("HELO", "501 Syntax: HELO hostname")]
    [TestCase("EHLO  ", "501 Syntax: EHLO hostname")]
    [TestCase("EHLO _x", "501 Syntax: EHLO hostname", TestName = "A HELO name SmtpServer's parser does not take (Postfix does) is refused and the transaction goes on")]
    public async Task A_HELO_without_a_name_inside_a_transaction_is_a_syntax_error_and_the_transaction_goes_on(string line, string reply)
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, addTraceField: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");

        var refused = await client.SendAsync(line);
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Text, Is.EqualTo(reply));
            Assert.That((rcpt.Code, data.Code, end.Code), Is.EqualTo((250, 354, 250)));
            filter.Verify(f => f.AbortAsync(It.IsAny<CancellationToken>()), Times.Never);
            Assert.That(store.Messages.Single().Filtered.Envelope.MailFrom, Is.EqualTo("a@example.org"));
        });
    }

    [Test]
    public async Task A_STARTTLS_and_an_AUTH_before_any_HELO_are_taken_and_so_is_the_message_after_them()
    {
        var filter = Filter();
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, store, certificate: TestCertificate.Create(FilteringServer.Name),
            users: new Dictionary<string, string> { ["alice"] = "s3cret" }, lookUpClientNames: false);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);

        var tls = await client.StartTlsAsync();
        var auth = await client.SendAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0alice\0s3cret")));
        var mail = await client.SendAsync("MAIL FROM:<a@example.org>");
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That((tls.Code, auth.Code, mail.Code, rcpt.Code, data.Code, end.Code), Is.EqualTo((220, 235, 250, 250, 354, 250)));
            Assert.That(Calls(filter), Does.Not.Contain("Helo"));
            Assert.That(Encoding.UTF8.GetString(store.Messages.Single().Filtered.Message), Does.Contain("Received: from unknown (unknown [127.0.0.1])\r\n")
                .And.Contain(" with SMTPSA id "), "TLS and AUTH, and no EHLO: Postfix's SMTPSA");
        });
    }

    [Test]
    public async Task A_STARTTLS_inside_a_transaction_is_taken_and_ends_the_transaction()
    {
        var filter = Filter();
        await using var server = await FilteringServer.StartAsync(_ => filter.Object, new MemoryStore(), certificate: TestCertificate.Create(FilteringServer.Name));
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");
        await client.SendAsync("RCPT TO:<b@example.com>");

        var tls = await client.StartTlsAsync();
        var ehlo = await client.SendAsync("EHLO client.example");
        var rcpt = await client.SendAsync("RCPT TO:<c@example.com>");

        Assert.Multiple(() =>
        {
            Assert.That((tls.Code, ehlo.Code), Is.EqualTo((220, 250)), "Postfix takes it there, and resets the transaction once TLS is up");
            Assert.That(rcpt.Text, Is.EqualTo("503 5.5.1 Error: need MAIL command"));
            Assert.That(Calls(filter), Is.EqualTo(new[] { "Helo", "Mail", "Rcpt", "Abort", "Helo" }));
        });
    }
}
