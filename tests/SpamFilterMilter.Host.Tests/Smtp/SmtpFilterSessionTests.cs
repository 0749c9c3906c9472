using System.Net;
using System.Text;
using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// The SMTP-time session answers each command as Postfix's smtpd answers with a milter: a connect or HELO refusal is
/// given at MAIL, MAIL/RCPT/DATA refusals at that command, a 421 closes, DATA without recipients is Postfix's 554, and
/// the end of DATA carries the verdict with the edits applied. The filter here is a mock: what the filter decides is
/// the input; the real milters' side is PostfixDifferentialTests.
/// </summary>
public class SmtpFilterSessionTests
{
    private static readonly SmtpReply Custom550 = new(550, "5.7.1", "no thanks");
    private static readonly SmtpReply Custom451 = new(451, "4.7.1", "later");
    private static readonly SmtpReply Closing421 = new(421, "4.7.0", "closing");

    private static StageDecision Decide(FilterStage stage, FilterAction action, SmtpReply? reply = null) => new() { Stage = stage, Action = action, Reply = reply };

    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere();

    /// <summary>A filter that accepts every message and keeps what it was shown of it, byte for byte (Latin-1).</summary>
    private static (Mock<IFilterSession> Filter, System.Runtime.CompilerServices.StrongBox<string?> Shown) ShowingFilter()
    {
        var filter = Filter();
        var shown = new System.Runtime.CompilerServices.StrongBox<string?>();
        filter.Setup(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>()))
            .Callback((Stream content, HeaderField? _, CancellationToken _) => shown.Value = new StreamReader(content, Encoding.Latin1).ReadToEnd())
            .ReturnsAsync(new FilterVerdict { Action = FilterAction.Accept });
        return (filter, shown);
    }

    private static async Task<SmtpFilterSession> InTransactionAsync(Mock<IFilterSession> filter, params string[] recipients)
    {
        var session = new SmtpFilterSession(filter.Object, "mta.example");
        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));
        await session.HeloAsync("client.example");
        await session.MailAsync("<a@example.com>", ["BODY=8BITMIME"]);
        foreach (var recipient in recipients)
        {
            await session.RcptAsync(recipient, []);
        }

        return session;
    }

    [Test]
    public async Task A_permanent_refusal_at_connect_greets_with_554_and_refuses_every_MAIL_with_the_filters_reply()
    {
        var filter = Filter();
        filter.Setup(f => f.ConnectAsync(It.IsAny<ClientInfo>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Connect, FilterAction.Reject, Custom550));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");

        var greeting = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));
        var helo = await session.HeloAsync("client.example");
        var mail = await session.MailAsync("<a@example.com>", []);
        var again = await session.MailAsync("<b@example.com>", []);

        Assert.That(greeting.Refusal?.ToString(), Is.EqualTo("554 mta.example ESMTP not accepting connections"));
        Assert.That(greeting.ClosesSession, Is.False);
        Assert.That(helo.IsRefused, Is.False, "HELO still gets 250");
        Assert.That(mail.Refusal, Is.EqualTo(Custom550));
        Assert.That(again.Refusal, Is.EqualTo(Custom550));
        filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task A_temporary_refusal_at_connect_greets_normally_and_refuses_MAIL()
    {
        var filter = Filter();
        filter.Setup(f => f.ConnectAsync(It.IsAny<ClientInfo>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Connect, FilterAction.TempFail));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");

        Assert.That((await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25))).IsRefused, Is.False);
        Assert.That((await session.MailAsync("<a@example.com>", [])).Refusal, Is.EqualTo(SmtpReply.DefaultTempFail));
    }

    [Test]
    public async Task A_421_at_connect_greets_with_421_and_closes()
    {
        var filter = Filter();
        filter.Setup(f => f.ConnectAsync(It.IsAny<ClientInfo>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Connect, FilterAction.TempFail, Closing421));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");

        var greeting = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));

        Assert.That(greeting.Refusal?.ToString(), Is.EqualTo("421 mta.example Service unavailable - try again later"));
        Assert.That(greeting.ClosesSession, Is.True);
    }

    [Test]
    public async Task A_refusal_at_HELO_is_given_at_MAIL_and_HELO_itself_gets_250()
    {
        var filter = Filter();
        filter.Setup(f => f.HeloAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Helo, FilterAction.TempFail, Custom451));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");
        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));

        Assert.That((await session.HeloAsync("client.example")).IsRefused, Is.False);
        Assert.That((await session.MailAsync("<a@example.com>", [])).Refusal, Is.EqualTo(Custom451));
    }

    [TestCase(FilterAction.Continue, null, "500 5.5.2 Error: command not recognized", false)]
    [TestCase(FilterAction.Accept, null, "500 5.5.2 Error: command not recognized", false)]
    [TestCase(FilterAction.Reject, null, "550 5.7.1 Command rejected", false)]
    [TestCase(FilterAction.TempFail, null, "451 4.7.1 Service unavailable - try again later", false)]
    [TestCase(FilterAction.Reject, "550 5.7.1 no thanks", "550 5.7.1 no thanks", false)]
    [TestCase(FilterAction.TempFail, "421 4.7.0 closing", "421 4.7.0 closing", true)]
    public async Task An_unknown_command_is_refused_with_the_filters_refusal_or_Postfixs_500(FilterAction action, string? reply, string expected, bool closes)
    {
        var filter = Filter();
        var given = reply switch { null => null, "550 5.7.1 no thanks" => Custom550, _ => Closing421 };
        filter.Setup(f => f.UnknownAsync("XYZZY", It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Unknown, action, given));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");
        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));

        var answer = await session.UnknownAsync("XYZZY");

        Assert.That((answer.Refusal?.ToString(), answer.ClosesSession), Is.EqualTo((expected, closes)));
        filter.Verify(f => f.UnknownAsync("XYZZY", It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task After_a_refusal_at_connect_an_unknown_command_gets_Postfixs_500_without_asking_the_filter()
    {
        var filter = Filter();
        filter.Setup(f => f.ConnectAsync(It.IsAny<ClientInfo>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Connect, FilterAction.Reject, Custom550));
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");
        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));

        var answer = await session.UnknownAsync("XYZZY");

        Assert.That(answer.Refusal, Is.EqualTo(SmtpFilterSession.CommandNotRecognized));
        filter.Verify(f => f.UnknownAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task A_message_whose_every_recipient_the_filter_deleted_is_taken_and_dropped_as_Postfix_drops_it()
    {
        var filter = Filter();
        filter.Setup(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>())).ReturnsAsync(new FilterVerdict
        {
            Action = FilterAction.Accept,
            DecidedAt = FilterStage.EndOfMessage,
            Edits = [new DeleteRecipient("<b@example.net>"), new DeleteRecipient("<c@example.net>")],
        });
        await using var session = await InTransactionAsync(filter, "<b@example.net>", "<c@example.net>");
        await session.DataAsync();

        var filtered = await session.MessageAsync(new MemoryStream("Subject: x\r\n\r\nbody\r\n"u8.ToArray()));

        Assert.That((filtered.Answer.IsRefused, filtered.Disposition, filtered.Envelope.Recipients.Count), Is.EqualTo((false, Disposition.Discard, 0)));
    }

    [Test]
    public async Task A_refused_recipient_is_refused_alone_and_left_out_of_the_envelope()
    {
        var filter = Filter();
        filter.Setup(f => f.RcptAsync("<bad@example.net>", It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Rcpt, FilterAction.Reject, Custom550));
        await using var session = await InTransactionAsync(filter);

        var bad = await session.RcptAsync("<bad@example.net>", []);
        var good = await session.RcptAsync("<good@example.net>", ["NOTIFY=NEVER"]);

        Assert.That(bad.Refusal, Is.EqualTo(Custom550));
        Assert.That(good.IsRefused, Is.False);
        Assert.That(session.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "good@example.net" }));
    }

    [Test]
    public async Task DATA_with_no_recipient_accepted_is_refused_as_Postfix_refuses_it_without_asking_the_filter()
    {
        var filter = Filter();
        await using var session = await InTransactionAsync(filter);

        var data = await session.DataAsync();

        Assert.That(data.Refusal?.ToString(), Is.EqualTo("554 5.5.1 Error: no valid recipients"));
        filter.Verify(f => f.DataAsync(It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task Commands_out_of_order_get_Postfixs_503_replies_and_never_reach_the_filter()
    {
        var filter = Filter();
        await using var session = new SmtpFilterSession(filter.Object, "mta.example");
        await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 25));

        var rcpt = await session.RcptAsync("<b@example.net>", []);
        var data = await session.DataAsync();
        await session.MailAsync("<a@example.com>", []);
        var nested = await session.MailAsync("<again@example.com>", []);

        Assert.That(rcpt.Refusal?.ToString(), Is.EqualTo("503 5.5.1 Error: need MAIL command"));
        Assert.That(data.Refusal?.ToString(), Is.EqualTo("503 5.5.1 Error: need RCPT command"));
        Assert.That(nested.Refusal?.ToString(), Is.EqualTo("503 5.5.1 Error: nested MAIL command"));
        filter.Verify(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Never);
        filter.Verify(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [TestCase(FilterAction.Reject, null, "550 5.7.1 Command rejected", Disposition.Reject)]
    [TestCase(FilterAction.TempFail, null, "451 4.7.1 Service unavailable - try again later", Disposition.TempFail)]
    [TestCase(FilterAction.Reject, "554 5.7.1 not this one", "554 5.7.1 not this one", Disposition.Reject)]
    [TestCase(FilterAction.Discard, null, null, Disposition.Discard)]
    [TestCase(FilterAction.Accept, null, null, Disposition.Deliver)]
    public async Task The_end_of_DATA_answers_the_verdict(FilterAction action, string? reply, string? expectedRefusal, Disposition expected)
    {
        var filter = Filter();
        SmtpReply.TryParse(reply ?? string.Empty, SmtpReplySyntax.Text, out var parsed, out _);
        filter.Setup(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new FilterVerdict { Action = action, Reply = reply is null ? null : parsed });
        await using var session = await InTransactionAsync(filter, "<b@example.net>");
        await session.DataAsync();

        var result = await session.MessageAsync(new MemoryStream("Subject: x\r\n\r\nbody\r\n"u8.ToArray()));

        Assert.That(result.Answer.Refusal?.ToString(), Is.EqualTo(expectedRefusal));
        Assert.That(result.Disposition, Is.EqualTo(expected));
    }

    /// <summary>The server's message as a stream: one it holds in memory, one read in small pieces, one it already read into.</summary>
    private static IEnumerable<TestCaseData> MessageStreams()
    {
        yield return new TestCaseData(new Func<Stream>(() => new MemoryStream("Subject: x\r\n\r\nbody\r\n"u8.ToArray()))).SetArgDisplayNames("in memory");
        yield return new TestCaseData(new Func<Stream>(() => new ChunkingStream(new MemoryStream("Subject: x\r\n\r\nbody\r\n"u8.ToArray()), 3))).SetArgDisplayNames("not seekable, 3 bytes a read");
        yield return new TestCaseData(new Func<Stream>(() => new MemoryStream("DATA\r\nSubject: x\r\n\r\nbody\r\n"u8.ToArray()) { Position = 6 })).SetArgDisplayNames("in memory, read from its position");
    }

    [TestCaseSource(nameof(MessageStreams))]
    public async Task An_accepted_message_comes_back_edited_with_the_trace_field_on_top_and_the_envelope_of_the_transaction(Func<Stream> message)
    {
        var filter = Filter();
        string? shown = null;
        HeaderField? hidden = null;
        filter.Setup(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>()))
            .Callback((Stream content, HeaderField? trace, CancellationToken _) => (shown, hidden) = (new StreamReader(content).ReadToEnd(), trace))
            .ReturnsAsync(new FilterVerdict
            {
                Action = FilterAction.Accept,
                Edits = [new InsertHeader(0, "Authentication-Results", " mta.example; none"), new AddHeader("X-Added", " yes"), new AddRecipient("<added@example.org>")],
            });
        await using var session = await InTransactionAsync(filter, "<b@example.net>");
        await session.DataAsync();

        var result = await session.MessageAsync(message(), "Received: by mta.example\r\n"u8.ToArray());

        Assert.That(Encoding.ASCII.GetString(result.Message),
            Is.EqualTo("Authentication-Results: mta.example; none\r\nReceived: by mta.example\r\nSubject: x\r\nX-Added: yes\r\n\r\nbody\r\n"),
            "an insert at index 0 goes above the trace field, as Postfix puts it above its Received:");
        Assert.That(result.Envelope.MailFrom, Is.EqualTo("a@example.com"));
        Assert.That(result.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "b@example.net", "added@example.org" }));
        Assert.That(shown, Is.EqualTo("Received: by mta.example\r\nSubject: x\r\n\r\nbody\r\n"));
        Assert.That(hidden, Is.EqualTo(new HeaderField("Received", " by mta.example")), "the filter's session is told to leave the trace field out");
    }

    [Test]
    public async Task A_421_anywhere_closes_the_session()
    {
        var filter = Filter();
        filter.Setup(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>())).ReturnsAsync(Decide(FilterStage.Rcpt, FilterAction.TempFail, Closing421));
        await using var session = await InTransactionAsync(filter);

        var answer = await session.RcptAsync("<b@example.net>", []);

        Assert.That(answer.Refusal, Is.EqualTo(Closing421));
        Assert.That(answer.ClosesSession, Is.True);
    }

    [TestCase(" leading space first line\r\nSubject: x\r\n\r\nbody\r\n",
        "Received: by mta.example\r\n\r\n leading space first line\r\nSubject: x\r\n\r\nbody\r\n")]
    [TestCase("\tleading tab\r\n\r\nbody\r\n", "Received: by mta.example\r\n\r\n\tleading tab\r\n\r\nbody\r\n")]
    [TestCase("From alice@example.com Mon Dec  7 05:00:00 2026\r\nSubject: mbox\r\n\r\nbody\r\n",
        "Received: by mta.example\r\nX-Mailbox-Line: From alice@example.com Mon Dec  7 05:00:00 2026\r\nSubject: mbox\r\n\r\nbody\r\n")]
    [TestCase("From a\r\n>From b\r\n x\r\n", "Received: by mta.example\r\nX-Mailbox-Line: From a\r\nX-Mailbox-Line: >From b\r\n\r\n x\r\n")]
    [TestCase("Subject: x\r\nFrom a\r\n\r\nbody\r\n", null)]
    [TestCase("from a\r\n\r\nbody\r\n", null)]
    public async Task The_message_is_stored_as_Postfixs_smtpd_stores_it_mbox_lines_as_fields_and_a_leading_blank_line_kept_off_the_trace_field(string message, string? stored)
    {
        var (filter, shown) = ShowingFilter();
        await using var session = await InTransactionAsync(filter, "<b@example.net>");
        await session.DataAsync();

        var result = await session.MessageAsync(new MemoryStream(Encoding.ASCII.GetBytes(message)), "Received: by mta.example\r\n"u8.ToArray());

        Assert.That(shown.Value, Is.EqualTo(stored ?? "Received: by mta.example\r\n" + message), "what the filter is given (less the trace field, which it is told to leave out)");
        if (stored is not null)
        {
            // (Where nothing is stored otherwise, the delivered copy may still differ: a header ended by a line that is no
            // field gets Postfix's empty line, which other tests assert.)
            Assert.That(Encoding.ASCII.GetString(result.Message), Is.EqualTo(stored));
        }
    }

    [Test]
    public async Task The_filter_and_the_delivery_get_the_message_as_Postfix_stores_it_CRs_and_NULs_included()
    {
        var (filter, shown) = ShowingFilter();
        await using var session = await InTransactionAsync(filter, "<b@example.net>");
        await session.DataAsync();

        var result = await session.MessageAsync(new MemoryStream(Encoding.Latin1.GetBytes("Subject: a\0b\r\r\nX-Cr: a\rb\r\n\r\nbody\r\r\n")), "Received: by mta.example\r\n"u8.ToArray());

        const string Stored = "Received: by mta.example\r\nSubject: a\r\nX-Cr: a b\r\n\r\nbody\r\n";
        Assert.That(shown.Value, Is.EqualTo(Stored), "what the filter is given");
        Assert.That(Encoding.Latin1.GetString(result.Message), Is.EqualTo(Stored), "what is delivered: what the filter saw, and signed");
    }

    [Test]
    public async Task Without_a_trace_field_a_first_line_starting_with_a_blank_is_the_bodys_already()
    {
        var filter = Filter(); // accepts every message
        await using var session = await InTransactionAsync(filter, "<b@example.net>");
        await session.DataAsync();

        var result = await session.MessageAsync(new MemoryStream("  indented\r\nline\r\n"u8.ToArray()));

        Assert.That(Encoding.ASCII.GetString(result.Message), Is.EqualTo("  indented\r\nline\r\n"));
    }
}
