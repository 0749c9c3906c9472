using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;
using SpamFilterMilter.Tests.Support;

namespace SpamFilterMilter.Tests.Protocol;

/// <summary>How the session reads, validates and keeps the milter's replies.</summary>
[TestFixture(int.MaxValue, false)]
[TestFixture(1, false)]
[TestFixture(int.MaxValue, true)]
public class MilterSessionReplyTests(int delivery, bool blocking)
{
    private ScriptedMilter _milter = null!;
    private MilterSession _session = null!;

    [SetUp]
    public async Task SetUp()
    {
        _milter = await ScriptedMilter.StartAsync(delivery);
        _milter.BlockingIo = blocking;
        _session = _milter.CreateSession();
    }

    [TearDown]
    public async Task TearDown()
    {
        await _session.DisposeAsync();
        await _milter.DisposeAsync();
    }

    private async Task<MilterResponse> MailAnsweredWithAsync(params byte[][] replies)
    {
        var mail = ScriptedMilter.Run(() => _session.MailAsync("a@b", null));
        await _milter.ExpectAsync('M');
        await _milter.SendAsync(replies);
        return await mail;
    }

    private async Task<MilterAnswer> EndOfMessageAnsweredWithAsync(params byte[][] replies)
    {
        await MailAnsweredWithAsync(Wire.Packet('c'));
        var rcpt = ScriptedMilter.Run(() => _session.RcptAsync("c@d", null));
        await _milter.ExpectAsync('R');
        await _milter.SendAsync(Wire.Packet('c'));
        await rcpt;
        var data = ScriptedMilter.Run(() => _session.DataAsync());
        await _milter.ExpectAsync('T');
        await _milter.SendAsync(Wire.Packet('c'));
        await data;
        var eoh = ScriptedMilter.Run(() => _session.EndOfHeadersAsync());
        await _milter.ExpectAsync('N');
        await _milter.SendAsync(Wire.Packet('c'));
        await eoh;
        var eom = ScriptedMilter.Run(() => _session.EndOfMessageAsync());
        await _milter.ExpectAsync('E');
        await _milter.SendAsync(replies);
        return await eom;
    }

    private static readonly object[] Decisions =
    [
        new object[] { Wire.Packet('c'), FilterAction.Continue, null! },
        new object[] { Wire.Packet('a'), FilterAction.Accept, null! },
        new object[] { Wire.Packet('r'), FilterAction.Reject, "550 5.7.1 Command rejected" },
        new object[] { Wire.Packet('t'), FilterAction.TempFail, "451 4.7.1 Service unavailable - try again later" },
        new object[] { Wire.Packet('d'), FilterAction.Discard, null! },
        new object[] { Wire.Packet('y', Wire.CString("550 5.7.0 Go away")), FilterAction.Reject, "550 5.7.0 Go away" },
        new object[] { Wire.Packet('y', Wire.CString("452 4.3.1 Busy")), FilterAction.TempFail, "452 4.3.1 Busy" },
        new object[] { Wire.Concat(Wire.Packet('p'), Wire.Packet('p'), Wire.Packet('c')), FilterAction.Continue, null! },
        new object[] { Wire.Packet('4'), FilterAction.TempFail, "421 4.7.0 Service unavailable - closing connection" },
    ];

    [TestCaseSource(nameof(Decisions))]
    public async Task Each_decision_reply_becomes_an_action_and_reply(byte[] reply, FilterAction action, string? text)
    {
        await _milter.OpenAsync(_session);

        var response = await MailAnsweredWithAsync(reply);

        Assert.That(response.Action, Is.EqualTo(action));
        Assert.That(response.Reply?.ToString(), Is.EqualTo(text));
    }

    [Test]
    public async Task A_reject_at_CONNECT_holds_for_every_later_command_without_asking_the_milter()
    {
        await _milter.NegotiateAsync(_session, Wire.OptNeg(6, 0, 0));
        var connect = ScriptedMilter.Run(() => _session.ConnectAsync(new ClientInfo()));
        await _milter.ExpectAsync('C');
        await _milter.SendAsync(Wire.Packet('y', Wire.CString("554 5.7.1 You are blocked")));
        var atConnect = await connect;

        var atHelo = await _session.HeloAsync("x");
        var atMail = await _session.MailAsync("a@b", null);

        Assert.That(atConnect.Reply!.ToString(), Is.EqualTo("554 5.7.1 You are blocked"));
        Assert.That(atHelo, Is.EqualTo(atConnect));
        Assert.That(atMail, Is.EqualTo(atConnect));
        await _session.QuitAsync();
        Assert.That((await _milter.ReadAsync()).Code, Is.EqualTo('Q'), "nothing was sent between CONNECT and QUIT");
    }

    [Test]
    public async Task DISCARD_at_CONNECT_is_ignored_as_in_Postfix()
    {
        await _milter.NegotiateAsync(_session, Wire.OptNeg(6, 0, 0));
        var connect = ScriptedMilter.Run(() => _session.ConnectAsync(new ClientInfo()));
        await _milter.ExpectAsync('C');
        await _milter.SendAsync(Wire.Packet('d'));

        Assert.That(await connect, Is.EqualTo(MilterResponse.Continue));
    }

    [Test]
    public async Task A_reject_at_MAIL_holds_for_the_message_and_the_next_MAIL_asks_again()
    {
        await _milter.OpenAsync(_session);
        var rejected = await MailAnsweredWithAsync(Wire.Packet('r'));

        var atRcpt = await _session.RcptAsync("c@d", null);
        await _session.AbortAsync();
        var again = ScriptedMilter.Run(() => _session.MailAsync("e@f", null));
        await _milter.ExpectAsync('A'); // Postfix sends ABORT on every reset; libmilter takes it without a reply
        await _milter.ExpectAsync('M');
        await _milter.SendAsync(Wire.Packet('c'));
        var next = await again;

        Assert.That(atRcpt, Is.EqualTo(rejected));
        Assert.That(next, Is.EqualTo(MilterResponse.Continue));
    }

    [Test]
    public async Task A_reject_at_RCPT_concerns_that_recipient_only()
    {
        await _milter.OpenAsync(_session);
        await MailAnsweredWithAsync(Wire.Packet('c'));

        var first = ScriptedMilter.Run(() => _session.RcptAsync("bad@d", null));
        await _milter.ExpectAsync('R');
        await _milter.SendAsync(Wire.Packet('r'));
        var firstResponse = await first;
        var second = ScriptedMilter.Run(() => _session.RcptAsync("good@d", null));
        var packet = await _milter.ExpectAsync('R');
        await _milter.SendAsync(Wire.Packet('c'));

        Assert.That(firstResponse.Action, Is.EqualTo(FilterAction.Reject));
        Assert.That((await second).Action, Is.EqualTo(FilterAction.Continue));
        Assert.That(packet.Strings[0], Is.EqualTo("<good@d>"));
    }

    [Test]
    public async Task SKIP_at_RCPT_stops_sending_further_recipients()
    {
        await _milter.OpenAsync(_session, protocol: 0x400);
        await MailAnsweredWithAsync(Wire.Packet('c'));
        var first = ScriptedMilter.Run(() => _session.RcptAsync("one@d", null));
        await _milter.ExpectAsync('R');
        await _milter.SendAsync(Wire.Packet('s'));
        await first;

        var second = await _session.RcptAsync("two@d", null);
        var data = ScriptedMilter.Run(() => _session.DataAsync());
        var next = await _milter.ExpectAsync('T');
        await _milter.SendAsync(Wire.Packet('c'));
        await data;

        Assert.That(second, Is.EqualTo(MilterResponse.Continue));
        Assert.That(next.Code, Is.EqualTo('T'), "the second RCPT was not sent");
    }

    [Test]
    public async Task QUARANTINE_before_the_end_of_the_message_is_kept_and_the_decision_still_read()
    {
        await _milter.OpenAsync(_session);

        var response = await MailAnsweredWithAsync(Wire.Packet('q', Wire.CString("held for review")), Wire.Packet('c'));

        Assert.That(response, Is.EqualTo(MilterResponse.Continue));
        Assert.That(_session.QuarantineReason, Is.EqualTo("held for review"));
    }

    [Test]
    public async Task End_of_message_modifications_are_decoded_in_order()
    {
        await _milter.OpenAsync(_session);

        var result = await EndOfMessageAnsweredWithAsync(
            Wire.Packet('h', Wire.CString("X-Spam"), Wire.CString("yes")),
            Wire.Packet('i', Wire.UInt32(0), Wire.CString("X-Top"), Wire.CString("first")),
            Wire.Packet('m', Wire.UInt32(0), Wire.CString("Subject"), Wire.CString("[SPAM] hi")),
            Wire.Packet('m', Wire.UInt32(2), Wire.CString("X-Old"), Wire.CString("")),
            Wire.Packet('h', Wire.CString("X-Folded"), Wire.CString("a\n\tb")),
            Wire.Packet('+', Wire.CString("<new@d>")),
            Wire.Packet('2', Wire.CString("<par@d>"), Wire.CString("NOTIFY=NEVER ORCPT=rfc822;x@y")),
            Wire.Packet('2', Wire.CString("<noargs@d>")),
            Wire.Packet('-', Wire.CString("<c@d>")),
            Wire.Packet('e', Wire.CString("<bounce@d>"), Wire.CString("RET=HDRS")),
            Wire.Packet('e', Wire.CString("<plain@d>")),
            Wire.Packet('q', Wire.CString("suspicious")),
            Wire.Packet('c'));

        Assert.That(result.Response, Is.EqualTo(MilterResponse.Accept), "CONTINUE at the end of the message means accept");
        Assert.That(result.QuarantineReason, Is.EqualTo("suspicious"));
        Assert.That(result.Edits, Is.EqualTo(new MessageEdit[]
        {
            new AddHeader("X-Spam", " yes"),
            new InsertHeader(0, "X-Top", " first"),
            new ChangeHeader(1, "Subject", " [SPAM] hi"),
            new ChangeHeader(2, "X-Old", null),
            new AddHeader("X-Folded", " a\r\n\tb"),
            new AddRecipient("<new@d>", null),
            new AddRecipient("<par@d>", "NOTIFY=NEVER ORCPT=rfc822;x@y"),
            new AddRecipient("<noargs@d>", null),
            new DeleteRecipient("<c@d>"),
            new ChangeSender("<bounce@d>", "RET=HDRS"),
            new ChangeSender("<plain@d>", null),
        }));
    }

    [Test]
    public async Task The_ACK_is_hurried_only_when_more_packets_follow_and_are_not_here_yet()
    {
        var hurried = 0;
        await using var session = _milter.CreateSession(acknowledgeNow: () => hurried++);
        await _milter.OpenAsync(session);
        Assert.That(hurried, Is.Zero, "a one-packet reply needs no hurried ACK: the next command carries it");

        var mail = ScriptedMilter.Run(() => session.MailAsync("a@b", null));
        await _milter.ExpectAsync('M');
        await _milter.SendAsync(Wire.Packet('p'));          // more to come, and not here yet
        await Task.Delay(100);
        await _milter.SendAsync(Wire.Packet('c'));
        await mail;

        Assert.That(hurried, Is.EqualTo(1));
    }

    [Test]
    public async Task A_replacement_body_in_several_packets_becomes_one_edit_byte_for_byte()
    {
        await _milter.OpenAsync(_session);

        var result = await EndOfMessageAnsweredWithAsync(
            Wire.Packet('b', "first part\r"u8.ToArray()),
            Wire.Packet('h', Wire.CString("X-A"), Wire.CString("1")),
            Wire.Packet('b', "\nsecond part\r\n"u8.ToArray()),
            Wire.Packet('c'));

        Assert.That(result.Edits, Has.Count.EqualTo(2));
        Assert.That(result.Edits[0], Is.TypeOf<ReplaceBody>());
        Assert.That(Encoding.ASCII.GetString(((ReplaceBody)result.Edits[0]).Body.ToArray()), Is.EqualTo("first part\r\nsecond part\r\n"));
    }

    [Test]
    public async Task Header_values_keep_their_own_leading_white_space_under_HDR_LEADSPC()
    {
        await _milter.OpenAsync(_session, protocol: 0x00100000);

        var result = await EndOfMessageAnsweredWithAsync(Wire.Packet('h', Wire.CString("X-A"), Wire.CString("\tv")), Wire.Packet('c'));

        Assert.That(result.Edits.Single(), Is.EqualTo(new AddHeader("X-A", "\tv")));
    }

    // Replies that break the session: what the milter sends (after MAIL), the failure kind, words of the cause.
    private static readonly object[] Broken =
    [
        new object[] { Wire.Packet('c', [1, 2, 3]), "Malformed", "reply SMFIR_CONTINUE was followed by 3 data bytes" },
        new object[] { Wire.Packet('Z'), "Unexpected", "unexpected filter response unknown reply 'Z'" },
        new object[] { Wire.Packet('f'), "Unexpected", "unexpected filter response SMFIR_CONN_FAIL" },
        new object[] { Wire.Packet('h', Wire.CString("X"), Wire.CString("y")), "Unexpected", "SMFIR_ADDHEADER is only allowed in reply to SMFIC_BODYEOB" },
        new object[] { Wire.Packet('y', Wire.CString("250 OK")), "Unexpected", "does not start with a 4xx or 5xx code" },
        new object[] { Wire.Packet('y', Wire.CString("550 5.7.1 a"), [(byte)'x', 0]), "Malformed", "followed by 2 unexpected data bytes" },
        new object[] { Wire.Packet('y', "550 no NUL"u8.ToArray()), "Malformed", "not terminated by NUL" },
        new object[] { Wire.Packet('O', Wire.UInt32(6), Wire.UInt32(0), Wire.UInt32(0)), "Unexpected", "unexpected filter response SMFIC_OPTNEG" },
    ];

    [TestCaseSource(nameof(Broken))]
    public async Task A_reply_that_breaks_the_rules_breaks_the_session_for_good(byte[] reply, string kind, string cause)
    {
        await _milter.OpenAsync(_session);

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => MailAnsweredWithAsync(reply))!;
        var later = Assert.ThrowsAsync<MilterProtocolException>(async () => await _session.HeloAsync("again"))!;

        Assert.That(error.Kind.ToString(), Is.EqualTo(kind));
        Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Mail, "SMFIC_MAIL reply")));
        Assert.That(error.Cause, Does.Contain(cause));
        Assert.That(later, Is.SameAs(error), "every later call gets the same failure, without I/O");
        Assert.That(await _milter.SessionClosedAsync(TimeSpan.FromSeconds(2)), Is.True, "the connection is closed at once");
    }

    [Test]
    public async Task A_modification_the_milter_did_not_negotiate_breaks_the_session()
    {
        await _milter.OpenAsync(_session, actions: 0x01); // ADDHDRS only

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Wire.Packet('m', Wire.UInt32(1), Wire.CString("Subject"), Wire.CString("x")), Wire.Packet('c')))!;

        Assert.That(error.Cause, Is.EqualTo("SMFIR_CHGHEADER without SMFIF_CHGHDRS negotiated"));
    }

    [TestCase("a\nb")]
    [TestCase("a\r\nb")]
    [TestCase("a\n")]
    public async Task A_header_value_whose_line_break_is_not_a_fold_breaks_the_session(string value)
    {
        await _milter.OpenAsync(_session);

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Wire.Packet('h', Wire.CString("X-Injected"), Wire.CString(value)), Wire.Packet('c')))!;

        Assert.That(error.Cause, Is.EqualTo("SMFIR_ADDHEADER: a line break in the header value is not followed by a blank, so it would not fold but start a new line: "
            + LogText.Quote(" " + value)), "the milter's value, quoted and escaped");
    }

    [Test]
    public async Task A_header_name_that_is_not_a_field_name_breaks_the_session()
    {
        await _milter.OpenAsync(_session);

        var error = Assert.ThrowsAsync<MilterProtocolException>(() =>
            EndOfMessageAnsweredWithAsync(Wire.Packet('h', Wire.CString("Bad: name"), Wire.CString("x")), Wire.Packet('c')))!;

        Assert.That(error.Cause, Does.Contain("\"Bad: name\" is not a header field name"));
    }

    [Test]
    public async Task A_milter_that_never_answers_times_out_within_the_timeout()
    {
        await using var session = _milter.CreateSession(settings: new MilterSessionSettings { Timeout = TimeSpan.FromMilliseconds(300), BlockingIo = blocking });
        await _milter.OpenAsync(session);
        var started = System.Diagnostics.Stopwatch.StartNew();

        var mail = ScriptedMilter.Run(() => session.MailAsync("a@b", null));
        await _milter.ExpectAsync('M');
        var error = Assert.ThrowsAsync<MilterProtocolException>(() => mail)!;

        Assert.That(error.Kind, Is.EqualTo(MilterFailureKind.Timeout));
        Assert.That(error.Message, Is.EqualTo("SMFIC_MAIL reply: can't read packet: timed out after 0.3 s"));
        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public async Task Endless_PROGRESS_is_cut_off_by_the_reply_limit()
    {
        await using var session = _milter.CreateSession(settings: new MilterSessionSettings { MaxRepliesPerEvent = 50, BlockingIo = blocking, Timeout = TimeSpan.FromSeconds(5) });
        await _milter.OpenAsync(session);

        var mail = ScriptedMilter.Run(() => session.MailAsync("a@b", null));
        await _milter.ExpectAsync('M');
        await _milter.SendAsync(Enumerable.Repeat(Wire.Packet('p'), 60).ToArray());
        var error = Assert.ThrowsAsync<MilterProtocolException>(() => mail)!;

        Assert.That((error.Kind.ToString(), error.Cause), Is.EqualTo(("LimitExceeded", "more than 50 packets in answer to one event")));
    }

    [Test]
    public async Task The_host_cancelling_a_call_gets_OperationCanceledException_and_the_session_is_broken()
    {
        await _milter.OpenAsync(_session);
        using var cancel = new CancellationTokenSource();

        var mail = ScriptedMilter.Run(() => _session.MailAsync("a@b", null, cancel.Token));
        await _milter.ExpectAsync('M');
        await cancel.CancelAsync();

        var error = Assert.CatchAsync<OperationCanceledException>(() => mail)!;
        Assert.That(error.CancellationToken, Is.EqualTo(cancel.Token));
        Assert.That(_session.Failure?.Message, Is.EqualTo("SMFIC_MAIL reply: cancelled by the host"));
    }
}
