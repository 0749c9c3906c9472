using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>How the session reads, validates and keeps the milter's replies.</summary>
public class MilterSessionReplyTests(int delivery, bool blocking) : ScriptedSessionTest(delivery, blocking)
{
    private Task<MilterResponse> MailAnsweredWithAsync(params byte[][] replies) => ExchangeAsync(() => Session.MailAsync("a@b", null), 'M', replies);

    private async Task<MilterAnswer> EndOfMessageAnsweredWithAsync(params byte[][] replies)
    {
        await ReachBodyAsync();
        return await ExchangeAsync(() => Session.EndOfMessageAsync(), 'E', replies);
    }

    /// <summary>
    /// The session is broken for good by <paramref name="failure"/>: it is the session's failure, later calls get that
    /// very failure at once, nothing more is sent, and the connection is closed.
    /// </summary>
    private async Task AssertBrokenForGoodAsync(MilterProtocolException failure)
    {
        var atHelo = Assert.ThrowsAsync<MilterProtocolException>(async () => await Session.HeloAsync("again"))!;
        var atMail = Assert.ThrowsAsync<MilterProtocolException>(async () => await Session.MailAsync("again@example.org", null))!;
        var (closed, bytesAfter) = await Milter.ReadUntilClosedAsync(TimeSpan.FromSeconds(2));

        Assert.That(Session.Failure, Is.SameAs(failure));
        Assert.That(atHelo, Is.SameAs(failure), "every later call gets the same failure");
        Assert.That(atMail, Is.SameAs(failure), "every later call gets the same failure");
        Assert.That((closed, bytesAfter), Is.EqualTo((true, 0)), "the connection is closed, and nothing was sent after the failure");
    }

    private static readonly object[] Decisions =
    [
        new object[] { Raw.Packet('c'), FilterAction.Continue, null! },
        new object[] { Raw.Packet('a'), FilterAction.Accept, null! },
        new object[] { Raw.Packet('r'), FilterAction.Reject, "550 5.7.1 Command rejected" },
        new object[] { Raw.Packet('t'), FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later" },
        new object[] { Raw.Packet('d'), FilterAction.Discard, null! },
        new object[] { Raw.Packet('y', Raw.CString("550 5.7.0 Go away")), FilterAction.Reject, "550 5.7.0 Go away" },
        new object[] { Raw.Packet('y', Raw.CString("452 4.3.1 Busy")), FilterAction.TempFail, "452 4.3.1 Busy" },
        new object[] { Raw.Concat(Raw.Packet('p'), Raw.Packet('p'), Raw.Packet('c')), FilterAction.Continue, null! },
        new object[] { Raw.Packet('4'), FilterAction.TempFail, "421 4.7.0 Service unavailable - closing connection" },
    ];

    [TestCaseSource(nameof(Decisions))]
    public async Task Each_decision_reply_becomes_an_action_and_reply(byte[] reply, FilterAction action, string? text)
    {
        await OpenAsync();

        var response = await MailAnsweredWithAsync(reply);

        Assert.That(response.Action, Is.EqualTo(action));
        Assert.That(response.Reply?.ToString(), Is.EqualTo(text));
    }

    [Test]
    public async Task A_reject_at_CONNECT_holds_for_every_later_command_without_asking_the_milter()
    {
        await NegotiateAsync(Raw.OptNeg(6, 0, 0));
        var atConnect = await ExchangeAsync(() => Session.ConnectAsync(new ClientInfo()), 'C', Raw.Packet('y', Raw.CString("554 5.7.1 You are blocked")));

        var atHelo = await Session.HeloAsync("x");
        var atMail = await Session.MailAsync("a@b", null);

        Assert.That(atConnect.Reply!.ToString(), Is.EqualTo("554 5.7.1 You are blocked"));
        Assert.That(atHelo, Is.EqualTo(atConnect));
        Assert.That(atMail, Is.EqualTo(atConnect));
        await Session.QuitAsync();
        Assert.That((await Milter.ReadAsync()).Code, Is.EqualTo('Q'), "nothing was sent between CONNECT and QUIT");
    }

    [Test]
    public async Task DISCARD_at_CONNECT_is_ignored_as_in_Postfix()
    {
        await NegotiateAsync(Raw.OptNeg(6, 0, 0));

        Assert.That(await ExchangeAsync(() => Session.ConnectAsync(new ClientInfo()), 'C', Raw.Packet('d')), Is.EqualTo(MilterResponse.Continue));
    }

    [Test]
    public async Task A_reject_at_MAIL_holds_for_the_message_and_the_next_MAIL_asks_again()
    {
        await OpenAsync();
        var rejected = await MailAnsweredWithAsync(Raw.Packet('r'));

        var atRcpt = await Session.RcptAsync("c@d", null);
        await Session.AbortAsync();
        var again = SessionPair.Run(() => Session.MailAsync("e@f", null));
        await Milter.ExpectAsync('A'); // Postfix sends ABORT on every reset; libmilter takes it without a reply
        await Milter.ExpectAsync('M');
        await Milter.SendAsync(Raw.Packet('c'));
        var next = await again;

        Assert.That(atRcpt, Is.EqualTo(rejected));
        Assert.That(next, Is.EqualTo(MilterResponse.Continue));
    }

    [Test]
    public async Task A_reject_at_RCPT_concerns_that_recipient_only()
    {
        await OpenAsync();
        await MailAnsweredWithAsync(Raw.Packet('c'));

        var firstResponse = await ExchangeAsync(() => Session.RcptAsync("bad@d", null), 'R', Raw.Packet('r'));
        var second = SessionPair.Run(() => Session.RcptAsync("good@d", null));
        var packet = await Milter.ExpectAsync('R');
        await Milter.SendAsync(Raw.Packet('c'));

        Assert.That(firstResponse.Action, Is.EqualTo(FilterAction.Reject));
        Assert.That((await second).Action, Is.EqualTo(FilterAction.Continue));
        Assert.That(packet.Strings[0], Is.EqualTo("<good@d>"));
    }

    [Test]
    public async Task SKIP_at_RCPT_stops_sending_further_recipients()
    {
        await OpenAsync(protocol: 0x400);
        await MailAnsweredWithAsync(Raw.Packet('c'));
        await ExchangeAsync(() => Session.RcptAsync("one@d", null), 'R', Raw.Packet('s'));

        var second = await Session.RcptAsync("two@d", null);
        var data = SessionPair.Run(() => Session.DataAsync());
        var next = await Milter.ExpectAsync('T');
        await Milter.SendAsync(Raw.Packet('c'));
        await data;

        Assert.That(second, Is.EqualTo(MilterResponse.Continue));
        Assert.That(next.Code, Is.EqualTo('T'), "the second RCPT was not sent");
    }

    [Test]
    public async Task QUARANTINE_before_the_end_of_the_message_is_kept_and_the_decision_still_read()
    {
        await OpenAsync();

        var response = await MailAnsweredWithAsync(Raw.Packet('q', Raw.CString("held for review")), Raw.Packet('c'));

        Assert.That(response, Is.EqualTo(MilterResponse.Continue));
        Assert.That(Session.QuarantineReason, Is.EqualTo("held for review"));
    }

    [Test]
    public async Task End_of_message_modifications_are_decoded_in_order()
    {
        await OpenAsync();

        var result = await EndOfMessageAnsweredWithAsync(
            Raw.Packet('h', Raw.CString("X-Spam"), Raw.CString("yes")),
            Raw.Packet('i', Raw.UInt32(0), Raw.CString("X-Top"), Raw.CString("first")),
            Raw.Packet('m', Raw.UInt32(0), Raw.CString("Subject"), Raw.CString("[SPAM] hi")),
            Raw.Packet('m', Raw.UInt32(2), Raw.CString("X-Old"), Raw.CString("")),
            Raw.Packet('h', Raw.CString("X-Folded"), Raw.CString("a\n\tb")),
            Raw.Packet('+', Raw.CString("<new@d>")),
            Raw.Packet('2', Raw.CString("<par@d>"), Raw.CString("NOTIFY=NEVER ORCPT=rfc822;x@y")),
            Raw.Packet('2', Raw.CString("<noargs@d>")),
            Raw.Packet('-', Raw.CString("<c@d>")),
            Raw.Packet('e', Raw.CString("<bounce@d>"), Raw.CString("RET=HDRS")),
            Raw.Packet('e', Raw.CString("<plain@d>")),
            Raw.Packet('q', Raw.CString("suspicious")),
            Raw.Packet('c'));

        Assert.That(result.Response, Is.EqualTo(MilterResponse.Accept), "CONTINUE at the end of the message means accept");
        Assert.That(result.QuarantineReason, Is.EqualTo("suspicious"));
        Assert.That(result.Edits, Is.EqualTo(new MessageEdit[]
        {
            new AddHeader("X-Spam", " yes"),
            new InsertHeader(0, "X-Top", " first"),
            new ChangeHeader(1, "Subject", " [SPAM] hi"),
            new ChangeHeader(2, "X-Old", null),
            new AddHeader("X-Folded", " a\n\tb"),
            new AddRecipient("<new@d>"),
            new AddRecipient("<par@d>", ["NOTIFY=NEVER", "ORCPT=rfc822;x@y"]),
            new AddRecipient("<noargs@d>"),
            new DeleteRecipient("<c@d>"),
            new ChangeSender("<bounce@d>", ["RET=HDRS"]),
            new ChangeSender("<plain@d>"),
        }));
    }

    [Test]
    public async Task The_ACK_is_hurried_only_when_more_packets_follow_and_are_not_here_yet()
    {
        var hurried = 0;
        var firstHurry = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        UseSession(acknowledgeNow: () =>
        {
            Interlocked.Increment(ref hurried);
            firstHurry.TrySetResult();
        });
        await OpenAsync();
        Assert.That(Volatile.Read(ref hurried), Is.Zero, "a one-packet reply needs no hurried ACK: the next command carries it");

        var mail = SessionPair.Run(() => Session.MailAsync("a@b", null));
        await Milter.ExpectAsync('M');
        await Milter.SendAsync(Raw.Packet('p')); // more to come, and the rest is not sent until the ACK was hurried
        await firstHurry.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await Milter.SendAsync(Raw.Packet('c'));
        await mail;

        Assert.That(Volatile.Read(ref hurried), Is.EqualTo(1), "once: after PROGRESS, not after the final answer");
    }

    [Test]
    public async Task A_replacement_body_in_several_packets_becomes_one_edit_byte_for_byte()
    {
        await OpenAsync();

        var result = await EndOfMessageAnsweredWithAsync(
            Raw.Packet('b', "first part\r"u8.ToArray()),
            Raw.Packet('b', "\nsecond part\r\n"u8.ToArray()),
            Raw.Packet('h', Raw.CString("X-A"), Raw.CString("1")),
            Raw.Packet('c'));

        Assert.That(result.Edits, Has.Count.EqualTo(2));
        Assert.That(result.Edits[0], Is.TypeOf<ReplaceBody>());
        Assert.That(Encoding.ASCII.GetString(((ReplaceBody)result.Edits[0]).Body.ToArray()), Is.EqualTo("first part\r\nsecond part\r\n"));
    }

    [Test]
    public async Task Header_values_keep_their_own_leading_white_space_under_HDR_LEADSPC()
    {
        await OpenAsync(protocol: 0x00100000);

        var result = await EndOfMessageAnsweredWithAsync(Raw.Packet('h', Raw.CString("X-A"), Raw.CString("\tv")), Raw.Packet('c'));

        Assert.That(result.Edits.Single(), Is.EqualTo(new AddHeader("X-A", "\tv")));
    }

    // Replies that break the session: what the milter sends (after MAIL), the failure kind, words of the cause.
    private static readonly object[] Broken =
    [
        new object[] { Raw.Packet('c', [1, 2, 3]), "Malformed", "reply SMFIR_CONTINUE was followed by 3 data bytes" },
        new object[] { Raw.Packet('Z'), "Unexpected", "unexpected filter response unknown reply 'Z'" },
        new object[] { Raw.Packet('f'), "Unexpected", "unexpected filter response SMFIR_CONN_FAIL" },
        new object[] { Raw.Packet('h', Raw.CString("X"), Raw.CString("y")), "Unexpected", "SMFIR_ADDHEADER is only allowed in reply to SMFIC_BODYEOB" },
        new object[] { Raw.Packet('y', Raw.CString("250 OK")), "Unexpected", "does not start with a 4xx or 5xx code" },
        new object[] { Raw.Packet('y', Raw.CString("550 5.7.1 a"), [(byte)'x', 0]), "Malformed", "followed by 2 unexpected data bytes" },
        new object[] { Raw.Packet('y', "550 no NUL"u8.ToArray()), "Malformed", "not terminated by NUL" },
        new object[] { Raw.Packet('O', Raw.UInt32(6), Raw.UInt32(0), Raw.UInt32(0)), "Unexpected", "unexpected filter response SMFIC_OPTNEG" },
    ];

    [TestCaseSource(nameof(Broken))]
    public async Task A_reply_that_breaks_the_rules_breaks_the_session_for_good(byte[] reply, string kind, string cause)
    {
        await OpenAsync();

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => MailAnsweredWithAsync(reply))!;

        Assert.That(error.Kind.ToString(), Is.EqualTo(kind));
        Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Mail, "SMFIC_MAIL reply")));
        Assert.That(error.Cause, Does.Contain(cause));
        await AssertBrokenForGoodAsync(error);
    }

    [Test]
    public async Task A_modification_the_milter_did_not_negotiate_breaks_the_session()
    {
        await OpenAsync(actions: 0x01); // ADDHDRS only

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Raw.Packet('m', Raw.UInt32(1), Raw.CString("Subject"), Raw.CString("x")), Raw.Packet('c')))!;

        Assert.That(error.Cause, Is.EqualTo("SMFIR_CHGHEADER without SMFIF_CHGHDRS negotiated"));
        await AssertBrokenForGoodAsync(error);
    }

    [TestCase("a\rb")]
    [TestCase("a\r")]
    [TestCase("a\r\r\n b")]
    public async Task A_header_value_with_a_bare_CR_breaks_the_session(string value)
    {
        await OpenAsync();

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Raw.Packet('h', Raw.CString("X-Injected"), Raw.CString(value)), Raw.Packet('c')))!;

        Assert.That(error.Cause, Is.EqualTo("SMFIR_ADDHEADER: the header value holds a CR that is not part of a line break, which some readers take for one: "
            + LogText.Quote(value)), "the milter's value, quoted and escaped");
        await AssertBrokenForGoodAsync(error);
    }

    [Test]
    public async Task A_header_name_that_is_not_a_field_name_breaks_the_session()
    {
        await OpenAsync();

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Raw.Packet('h', Raw.CString("Bad: name"), Raw.CString("x")), Raw.Packet('c')))!;

        Assert.That(error.Cause, Does.Contain("\"Bad: name\" is not a header field name"));
        await AssertBrokenForGoodAsync(error);
    }

    [Test]
    [Category("Integration")] // waits out a 0.3 s COMMAND_TIMEOUT
    public async Task A_milter_that_never_answers_times_out_within_the_timeout()
    {
        UseSession(Pair.Settings with { CommandTimeout = TimeSpan.FromMilliseconds(300) });
        await OpenAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();

        var mail = SessionPair.Run(() => Session.MailAsync("a@b", null));
        await Milter.ExpectAsync('M');
        var error = Assert.ThrowsAsync<MilterProtocolException>(() => mail)!;

        Assert.That(error.Kind, Is.EqualTo(MilterFailureKind.Timeout));
        Assert.That(error.Message, Is.EqualTo("SMFIC_MAIL reply: can't read packet: timed out after 0.3 s (COMMAND_TIMEOUT)"));
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public async Task Endless_PROGRESS_is_cut_off_by_the_reply_limit()
    {
        UseSession(Pair.Settings with { MaxRepliesPerEvent = 50 });
        await OpenAsync();

        var mail = SessionPair.Run(() => Session.MailAsync("a@b", null));
        await Milter.ExpectAsync('M');
        await Milter.SendAsync(Enumerable.Repeat(Raw.Packet('p'), 60).ToArray());
        var error = Assert.ThrowsAsync<MilterProtocolException>(() => mail)!;

        Assert.That((error.Kind.ToString(), error.Cause), Is.EqualTo(("LimitExceeded", "more than 50 packets in answer to one event")));
    }

    [Test]
    public async Task The_host_cancelling_a_call_gets_OperationCanceledException_and_the_session_is_broken()
    {
        await OpenAsync();
        using var cancel = new CancellationTokenSource();

        var mail = SessionPair.Run(() => Session.MailAsync("a@b", null, cancel.Token));
        await Milter.ExpectAsync('M');
        await cancel.CancelAsync();

        var error = Assert.CatchAsync<OperationCanceledException>(() => mail)!;
        Assert.That(error.CancellationToken, Is.EqualTo(cancel.Token));
        Assert.That(Session.Failure?.Message, Is.EqualTo("SMFIC_MAIL reply: cancelled by the host"));
        await AssertBrokenForGoodAsync(Session.Failure!);
    }
}
