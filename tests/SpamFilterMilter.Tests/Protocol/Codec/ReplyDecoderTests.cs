using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Codec;

/// <summary>
/// <see cref="ReplyDecoder"/> on its own, packet by packet: every reply code where it is legal and where it is not,
/// payloads with bytes left over or a string without its NUL, modifications the milter did not negotiate. What the
/// session does with a decoded reply is MilterSessionReplyTests'.
/// </summary>
public class ReplyDecoderTests
{
    private const MilterCommand Mail = MilterCommand.Mail;
    private const MilterCommand Eom = MilterCommand.EndOfBody;

    private static readonly NegotiatedOptions Everything = new() { Version = 6, Actions = ActionFlags.All, Protocol = ProtocolFlags.Skip };

    /// <summary>The step a failure names, per command the tables use.</summary>
    private static readonly Dictionary<MilterCommand, (FilterStage Stage, string Step)> Steps = new()
    {
        [MilterCommand.Connect] = (FilterStage.Connect, "SMFIC_CONNECT reply"),
        [MilterCommand.Helo] = (FilterStage.Helo, "SMFIC_HELO reply"),
        [Mail] = (FilterStage.Mail, "SMFIC_MAIL reply"),
        [MilterCommand.Rcpt] = (FilterStage.Rcpt, "SMFIC_RCPT reply"),
        [MilterCommand.Data] = (FilterStage.Data, "SMFIC_DATA reply"),
        [MilterCommand.Header] = (FilterStage.Header, "SMFIC_HEADER reply"),
        [MilterCommand.EndOfHeaders] = (FilterStage.EndOfHeaders, "SMFIC_EOH reply"),
        [MilterCommand.Body] = (FilterStage.Body, "SMFIC_BODY reply"),
        [Eom] = (FilterStage.EndOfMessage, "SMFIC_BODYEOB reply"),
        [MilterCommand.Unknown] = (FilterStage.Unknown, "SMFIC_UNKNOWN reply"),
    };

    private static DecodedReply Decode(byte[] packet, MilterCommand command, NegotiatedOptions? options = null, int maxReplyText = 1000) =>
        ReplyDecoder.Decode(new Frame((MilterReply)packet[4], packet.AsMemory(5)), command, options ?? Everything, maxReplyText);

    /// <summary>What a decoded reply says, in one line.</summary>
    private static string Describe(DecodedReply reply) => reply.Kind switch
    {
        ReplyKind.Decision => $"decision {reply.Response.Action}" + (reply.Response.Reply is { } text ? $" \"{text}\"" : "") + (reply.Response.Skip ? " skip" : ""),
        ReplyKind.Progress => "progress",
        ReplyKind.Quarantine => $"quarantine \"{reply.Text}\"",
        ReplyKind.Modification => $"edit {reply.Edit}",
        _ => $"body \"{Encoding.Latin1.GetString(reply.Body.Span)}\"",
    };

    private static MilterProtocolException Refused(byte[] packet, MilterCommand command, NegotiatedOptions? options = null, int maxReplyText = 1000)
    {
        var error = Assert.Throws<MilterProtocolException>(() => Decode(packet, command, options, maxReplyText))!;
        Assert.That((error.Stage, error.Step), Is.EqualTo(Steps[command]), "the failure names the command the reply answers");
        return error;
    }

    /// <summary>A row: the packet, the command it answers (as its code: the enum is internal), what is expected.</summary>
    private static TestCaseData Row(string name, byte[] packet, MilterCommand command, params object?[] expected) =>
        new TestCaseData([packet, (byte)command, .. expected]).SetArgDisplayNames(name, Steps[command].Step);

    // Every code where it is legal: the packet, the command it answers, what it decodes to, and the quirk logged (or null).
    private static IEnumerable<TestCaseData> Legal()
    {
        yield return Row("CONTINUE", Raw.Packet('c'), Mail, "decision Continue", null);
        yield return Row("CONTINUE at the end means accept", Raw.Packet('c'), Eom, "decision Accept", null);
        yield return Row("ACCEPT", Raw.Packet('a'), MilterCommand.Helo, "decision Accept", null);
        yield return Row("REJECT", Raw.Packet('r'), MilterCommand.Rcpt, "decision Reject \"550 5.7.1 Command rejected\"", null);
        yield return Row("TEMPFAIL", Raw.Packet('t'), MilterCommand.Data, "decision TempFail \"451 4.7.1 Service unavailable - try again later\"", null);
        yield return Row("DISCARD", Raw.Packet('d'), Eom, "decision Discard", null);
        yield return Row("SHUTDOWN", Raw.Packet('4'), MilterCommand.Header, "decision TempFail \"421 4.7.0 Service unavailable - closing connection\"",
            "the milter sent SMFIR_SHUTDOWN; answering 421 and closing the SMTP session, as Postfix does");
        yield return Row("PROGRESS", Raw.Packet('p'), MilterCommand.Body, "progress", null);
        yield return Row("SKIP at RCPT", Raw.Packet('s'), MilterCommand.Rcpt, "decision Continue skip", null);
        yield return Row("SKIP at HEADER", Raw.Packet('s'), MilterCommand.Header, "decision Continue skip", null);
        yield return Row("SKIP at BODY", Raw.Packet('s'), MilterCommand.Body, "decision Continue skip", null);
        yield return Row("SKIP where nothing follows", Raw.Packet('s'), Mail, "decision Continue",
            "SMFIR_SKIP has nothing to skip at this stage; treated as SMFIR_CONTINUE");
        yield return Row("SKIP at the end", Raw.Packet('s'), Eom, "decision Accept", "SMFIR_SKIP has nothing to skip at this stage; treated as SMFIR_CONTINUE");
        yield return Row("REPLYCODE 5xx", Raw.Packet('y', Raw.CString("550 5.7.0 Go away")), Mail, "decision Reject \"550 5.7.0 Go away\"", null);
        yield return Row("REPLYCODE 4xx", Raw.Packet('y', Raw.CString("452 4.3.1 Busy")), MilterCommand.Connect, "decision TempFail \"452 4.3.1 Busy\"", null);
        yield return Row("REPLYCODE sendmail percent", Raw.Packet('y', Raw.CString("550 5.7.1 100%% sure")), Eom, "decision Reject \"550 5.7.1 100% sure\"", null);
        yield return Row("QUARANTINE before the end", Raw.Packet('q', Raw.CString("held")), Mail, "quarantine \"held\"", null);
        yield return Row("QUARANTINE at the end", Raw.Packet('q', Raw.CString("held")), Eom, "quarantine \"held\"", null);
        yield return Row("QUARANTINE reason with a TAB and a line break", Raw.Packet('q', Raw.CString("spam\tscore 9\r\nX-Injected: 1")), Eom,
            "quarantine \"spam score 9  X-Injected: 1\"", null);
        yield return Row("QUARANTINE reason with a C1 control in Latin-1", Raw.Packet('q', [.. "held"u8, 0x85, .. "now"u8, 0]), Eom, "quarantine \"held now\"", null);
        yield return Row("ADDHEADER", Raw.Packet('h', Raw.CString("X-Spam"), Raw.CString("yes")), Eom, new AddHeader("X-Spam", " yes"), null);
        yield return Row("ADDHEADER folded", Raw.Packet('h', Raw.CString("X-F"), Raw.CString("a\n\tb")), Eom, new AddHeader("X-F", " a\n\tb"), null);
        yield return Row("ADDHEADER not UTF-8", Raw.Packet('h', Raw.CString("X-L"), [0xE9, 0]), Eom, new AddHeader("X-L", new RawText([0x20, 0xE9])), null);
        yield return Row("INSHEADER", Raw.Packet('i', Raw.UInt32(0), Raw.CString("X-Top"), Raw.CString("t")), Eom, new InsertHeader(0, "X-Top", " t"), null);
        yield return Row("INSHEADER huge index", Raw.Packet('i', Raw.UInt32(uint.MaxValue), Raw.CString("X"), Raw.CString("v")), Eom,
            new InsertHeader(int.MaxValue, "X", " v"), null);
        yield return Row("CHGHEADER index 0 means 1", Raw.Packet('m', Raw.UInt32(0), Raw.CString("Subject"), Raw.CString("x")), Eom,
            new ChangeHeader(1, "Subject", " x"), null);
        yield return Row("CHGHEADER empty deletes", Raw.Packet('m', Raw.UInt32(2), Raw.CString("X-Old"), Raw.CString("")), Eom, new ChangeHeader(2, "X-Old", null), null);
        yield return Row("ADDRCPT", Raw.Packet('+', Raw.CString("<a@b>")), Eom, new AddRecipient("<a@b>"), null);
        yield return Row("ADDRCPT_PAR", Raw.Packet('2', Raw.CString("<a@b>"), Raw.CString("NOTIFY=NEVER")), Eom, new AddRecipient("<a@b>", ["NOTIFY=NEVER"]), null);
        yield return Row("ADDRCPT_PAR arguments split at spaces", Raw.Packet('2', Raw.CString("<a@b>"), Raw.CString(" NOTIFY=NEVER  ORCPT=rfc822;a@b")), Eom,
            new AddRecipient("<a@b>", ["NOTIFY=NEVER", "ORCPT=rfc822;a@b"]), null);
        yield return Row("ADDRCPT_PAR without arguments", Raw.Packet('2', Raw.CString("<a@b>")), Eom, new AddRecipient("<a@b>"), null);
        yield return Row("DELRCPT", Raw.Packet('-', Raw.CString("<c@d>")), Eom, new DeleteRecipient("<c@d>"), null);
        yield return Row("CHGFROM", Raw.Packet('e', Raw.CString("<x@y>"), Raw.CString("RET=HDRS")), Eom, new ChangeSender("<x@y>", ["RET=HDRS"]), null);
        yield return Row("CHGFROM with an empty argument string", Raw.Packet('e', Raw.CString("<x@y>"), Raw.CString("")), Eom, new ChangeSender("<x@y>"), null);
        yield return Row("CHGFROM without arguments", Raw.Packet('e', Raw.CString("<x@y>")), Eom, new ChangeSender("<x@y>"), null);
        yield return Row("REPLBODY", Raw.Packet('b', "new\r\nbody\0with NUL"u8.ToArray()), Eom, "body \"new\r\nbody\0with NUL\"", null);
    }

    [TestCaseSource(nameof(Legal))]
    public void A_reply_where_it_is_legal_decodes_to_what_it_means(byte[] packet, byte command, object meaning, string? quirk)
    {
        var reply = Decode(packet, (MilterCommand)command);

        // An edit is compared as itself: its header value byte for byte, which its text (U+FFFD for a byte that is not UTF-8) cannot show.
        Assert.That((reply.Kind == ReplyKind.Modification ? (object?)reply.Edit : Describe(reply), reply.Quirk), Is.EqualTo((meaning, quirk)));
    }

    // Every code where it is not legal: the packet, the command, the cause. The codes that are legal at every command
    // (CONTINUE, ACCEPT, REJECT, TEMPFAIL, DISCARD, SHUTDOWN, PROGRESS, SKIP, REPLYCODE, QUARANTINE) are refused only
    // when their payload is wrong: see the tables below.
    private static IEnumerable<TestCaseData> Illegal()
    {
        foreach (var (code, name, payload) in new[]
        {
            ('h', "SMFIR_ADDHEADER", Raw.Concat(Raw.CString("X"), Raw.CString("y"))),
            ('i', "SMFIR_INSHEADER", Raw.Concat(Raw.UInt32(0), Raw.CString("X"), Raw.CString("y"))),
            ('m', "SMFIR_CHGHEADER", Raw.Concat(Raw.UInt32(1), Raw.CString("X"), Raw.CString("y"))),
            ('+', "SMFIR_ADDRCPT", Raw.CString("<a@b>")),
            ('2', "SMFIR_ADDRCPT_PAR", Raw.CString("<a@b>")),
            ('-', "SMFIR_DELRCPT", Raw.CString("<a@b>")),
            ('e', "SMFIR_CHGFROM", Raw.CString("<a@b>")),
            ('b', "SMFIR_REPLBODY", "body"u8.ToArray()),
        })
        {
            foreach (var command in new[] { MilterCommand.Connect, Mail, MilterCommand.Header, MilterCommand.EndOfHeaders, MilterCommand.Body })
            {
                yield return Row($"{name} before the end", Raw.Packet(code, payload), command, $"{name} is only allowed in reply to SMFIC_BODYEOB");
            }
        }

        foreach (var command in new[] { Mail, Eom })
        {
            yield return Row("CONN_FAIL", Raw.Packet('f'), command, "unexpected filter response SMFIR_CONN_FAIL");
            yield return Row("SETSYMLIST", Raw.Packet('l', Raw.UInt32(1), Raw.CString("j")), command, "unexpected filter response SMFIR_SETSYMLIST");
            yield return Row("OPTNEG", Raw.OptNeg(6, 0, 0), command, "unexpected filter response SMFIC_OPTNEG");
            yield return Row("an unknown printable code", Raw.Packet('Z'), command, "unexpected filter response unknown reply 'Z'");
            yield return Row("an unknown control code", Raw.Packet('\u0001'), command, "unexpected filter response unknown reply 0x01");
        }
    }

    [TestCaseSource(nameof(Illegal))]
    public void A_reply_where_it_is_not_legal_is_unexpected(byte[] packet, byte command, string cause)
    {
        var error = Refused(packet, (MilterCommand)command);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected, cause)));
    }

    // Bytes left over after what the layout says: the packet, the command, the cause.
    private static IEnumerable<TestCaseData> LeftOver()
    {
        foreach (var (code, name) in new[]
        {
            ('c', "SMFIR_CONTINUE"), ('a', "SMFIR_ACCEPT"), ('r', "SMFIR_REJECT"), ('t', "SMFIR_TEMPFAIL"),
            ('d', "SMFIR_DISCARD"), ('4', "SMFIR_SHUTDOWN"), ('p', "SMFIR_PROGRESS"), ('s', "SMFIR_SKIP"),
        })
        {
            yield return Row(name, Raw.Packet(code, [1, 2, 3]), Mail, $"reply {name} was followed by 3 data bytes");
        }

        yield return Row("REPLYCODE", Raw.Packet('y', Raw.CString("550 5.7.1 a"), [(byte)'x', 0]), Mail, "SMFIR_REPLYCODE: followed by 2 unexpected data bytes");
        yield return Row("QUARANTINE", Raw.Packet('q', Raw.CString("r"), [(byte)'x']), Mail, "SMFIR_QUARANTINE: followed by 1 unexpected data bytes");
        yield return Row("ADDHEADER", Raw.Packet('h', Raw.CString("X"), Raw.CString("y"), Raw.CString("z")), Eom, "SMFIR_ADDHEADER: followed by 2 unexpected data bytes");
        yield return Row("INSHEADER", Raw.Packet('i', Raw.UInt32(0), Raw.CString("X"), Raw.CString("y"), [9]), Eom, "SMFIR_INSHEADER: followed by 1 unexpected data bytes");
        yield return Row("CHGHEADER", Raw.Packet('m', Raw.UInt32(1), Raw.CString("X"), Raw.CString("y"), [9]), Eom, "SMFIR_CHGHEADER: followed by 1 unexpected data bytes");
        yield return Row("ADDRCPT", Raw.Packet('+', Raw.CString("<a@b>"), Raw.CString("x")), Eom, "SMFIR_ADDRCPT: followed by 2 unexpected data bytes");
        yield return Row("ADDRCPT_PAR", Raw.Packet('2', Raw.CString("<a@b>"), Raw.CString("A=1"), Raw.CString("x")), Eom, "SMFIR_ADDRCPT_PAR: followed by 2 unexpected data bytes");
        yield return Row("DELRCPT", Raw.Packet('-', Raw.CString("<a@b>"), [9]), Eom, "SMFIR_DELRCPT: followed by 1 unexpected data bytes");
        yield return Row("CHGFROM", Raw.Packet('e', Raw.CString("<a@b>"), Raw.CString("A=1"), [9]), Eom, "SMFIR_CHGFROM: followed by 1 unexpected data bytes");
    }

    // A string whose NUL is missing (or a number cut short): the packet, the command, the cause.
    private static IEnumerable<TestCaseData> Truncated()
    {
        yield return Row("REPLYCODE", Raw.Packet('y', "550 no NUL"u8.ToArray()), Mail, "SMFIR_REPLYCODE: reply text: string is not terminated by NUL");
        yield return Row("QUARANTINE", Raw.Packet('q', "reason"u8.ToArray()), Eom, "SMFIR_QUARANTINE: reason: string is not terminated by NUL");
        yield return Row("ADDHEADER name", Raw.Packet('h', "X"u8.ToArray()), Eom, "SMFIR_ADDHEADER: name: string is not terminated by NUL");
        yield return Row("ADDHEADER value", Raw.Packet('h', Raw.CString("X"), "y"u8.ToArray()), Eom, "SMFIR_ADDHEADER: value: string is not terminated by NUL");
        yield return Row("INSHEADER index", Raw.Packet('i', [0, 0]), Eom, "SMFIR_INSHEADER: index: needs 4 bytes, 2 left");
        yield return Row("INSHEADER value", Raw.Packet('i', Raw.UInt32(0), Raw.CString("X"), "y"u8.ToArray()), Eom, "SMFIR_INSHEADER: value: string is not terminated by NUL");
        yield return Row("CHGHEADER name", Raw.Packet('m', Raw.UInt32(1), "X"u8.ToArray()), Eom, "SMFIR_CHGHEADER: name: string is not terminated by NUL");
        yield return Row("ADDRCPT", Raw.Packet('+', "<a@b>"u8.ToArray()), Eom, "SMFIR_ADDRCPT: recipient: string is not terminated by NUL");
        yield return Row("ADDRCPT_PAR arguments", Raw.Packet('2', Raw.CString("<a@b>"), "A=1"u8.ToArray()), Eom, "SMFIR_ADDRCPT_PAR: arguments: string is not terminated by NUL");
        yield return Row("DELRCPT", Raw.Packet('-', "<a@b>"u8.ToArray()), Eom, "SMFIR_DELRCPT: recipient: string is not terminated by NUL");
        yield return Row("CHGFROM", Raw.Packet('e', "<a@b>"u8.ToArray()), Eom, "SMFIR_CHGFROM: sender: string is not terminated by NUL");
        yield return Row("CHGFROM arguments", Raw.Packet('e', Raw.CString("<a@b>"), "RET"u8.ToArray()), Eom, "SMFIR_CHGFROM: arguments: string is not terminated by NUL");
    }

    [TestCaseSource(nameof(LeftOver))]
    [TestCaseSource(nameof(Truncated))]
    public void A_payload_that_does_not_fit_its_layout_exactly_is_malformed(byte[] packet, byte command, string cause)
    {
        var error = Refused(packet, (MilterCommand)command);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Malformed, cause)));
    }

    // A modification (or quarantine) whose SMFIF_ flag the milter did not ask for: the packet, the flag, its name.
    private static IEnumerable<TestCaseData> Unnegotiated()
    {
        TestCaseData Case(string name, byte[] packet, ActionFlags flag, string flagName) =>
            new TestCaseData(packet, flag, $"{name} without SMFIF_{flagName} negotiated").SetArgDisplayNames(name);

        yield return Case("SMFIR_ADDHEADER", Raw.Packet('h', Raw.CString("X"), Raw.CString("y")), ActionFlags.AddHeaders, "ADDHDRS");
        yield return Case("SMFIR_INSHEADER", Raw.Packet('i', Raw.UInt32(0), Raw.CString("X"), Raw.CString("y")), ActionFlags.AddHeaders, "ADDHDRS");
        yield return Case("SMFIR_CHGHEADER", Raw.Packet('m', Raw.UInt32(1), Raw.CString("X"), Raw.CString("y")), ActionFlags.ChangeHeaders, "CHGHDRS");
        yield return Case("SMFIR_ADDRCPT", Raw.Packet('+', Raw.CString("<a@b>")), ActionFlags.AddRecipients, "ADDRCPT");
        yield return Case("SMFIR_ADDRCPT_PAR", Raw.Packet('2', Raw.CString("<a@b>")), ActionFlags.AddRecipientsWithArgs, "ADDRCPT_PAR");
        yield return Case("SMFIR_DELRCPT", Raw.Packet('-', Raw.CString("<a@b>")), ActionFlags.DeleteRecipients, "DELRCPT");
        yield return Case("SMFIR_CHGFROM", Raw.Packet('e', Raw.CString("<a@b>")), ActionFlags.ChangeSender, "CHGFROM");
        yield return Case("SMFIR_REPLBODY", Raw.Packet('b', "x"u8.ToArray()), ActionFlags.ChangeBody, "CHGBODY");
        yield return Case("SMFIR_QUARANTINE", Raw.Packet('q', Raw.CString("r")), ActionFlags.Quarantine, "QUARANTINE");
    }

    [TestCaseSource(nameof(Unnegotiated))]
    public void A_modification_the_milter_did_not_negotiate_is_refused_and_one_it_did_is_taken(byte[] packet, ActionFlags flag, string cause)
    {
        var error = Refused(packet, Eom, Everything with { Actions = ActionFlags.All & ~flag });

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected, cause)));
        Assert.That(Decode(packet, Eom, Everything with { Actions = flag }).Kind, Is.Not.EqualTo(ReplyKind.Decision), "that flag alone is enough");
    }

    [TestCase("250 OK", "SMFIR_REPLYCODE: malformed SMTP reply: line 1 does not start with a 4xx or 5xx code: \"250 OK\"")]
    [TestCase("550 4.7.1 class mismatch", "SMFIR_REPLYCODE: malformed SMTP reply: enhanced status code 4.7.1 does not match reply code 550")]
    [TestCase("550-a\n550 b", "SMFIR_REPLYCODE: malformed SMTP reply: line 1 holds a CR, LF or NUL that is not part of a CRLF line break")]
    public void A_reply_text_that_is_not_a_valid_SMTP_reply_is_unexpected(string text, string cause)
    {
        var error = Refused(Raw.Packet('y', Raw.CString(text)), Mail);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected, cause)));
    }

    [Test]
    public void A_reply_text_longer_than_allowed_exceeds_the_limit_and_one_as_long_is_taken()
    {
        var text = "550 " + new string('x', 16);

        var error = Refused(Raw.Packet('y', Raw.CString(text)), Mail, maxReplyText: 19);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.LimitExceeded, "SMFIR_REPLYCODE: a reply text of 20 characters is longer than the 19 allowed")));
        Assert.That(Describe(Decode(Raw.Packet('y', Raw.CString(text)), Mail, maxReplyText: 20)), Is.EqualTo($"decision Reject \"{text}\""));
    }

    [Test]
    public void A_quarantine_reason_longer_than_a_reply_text_may_be_is_cut_to_that_length()
    {
        var reason = new string('x', 18) + "\U0001F4E7"; // a character outside the BMP across the limit

        Assert.That(Decode(Raw.Packet('q', Raw.CString(reason)), Eom, maxReplyText: 19).Text, Is.EqualTo(new string('x', 18)), "never half a character");
        Assert.That(Decode(Raw.Packet('q', Raw.CString(reason)), Eom, maxReplyText: 20).Text, Is.EqualTo(reason));
    }

    [TestCase("Bad: name")]
    [TestCase("")]
    [TestCase("Two words")]
    [TestCase("Caf\u00e9")]
    public void A_header_name_that_is_not_a_field_name_is_unexpected(string name)
    {
        var error = Refused(Raw.Packet('h', Raw.CString(name), Raw.CString("x")), Eom);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected, $"SMFIR_ADDHEADER: \"{name}\" is not a header field name")));
    }

    [TestCase('h', "a\nInjected: 1")]
    [TestCase('i', "a\r\nInjected: 1")]
    [TestCase('m', "a\n\nbody")]
    public void A_header_value_whose_line_break_does_not_fold_comes_back_as_sent_for_the_MTA_to_fold(char code, string value)
    {
        // Postfix takes it and writes the line after the break with a TAB in front (cleanup_out_header): no line of the milter's making.
        byte[] packet = code == 'h'
            ? Raw.Packet(code, Raw.CString("X"), Raw.CString(value))
            : Raw.Packet(code, Raw.UInt32(1), Raw.CString("X"), Raw.CString(value));

        var edit = Decode(packet, Eom).Edit;

        Assert.That(edit, Is.EqualTo(code switch
        {
            'h' => new AddHeader("X", " " + value),
            'i' => new InsertHeader(1, "X", " " + value),
            _ => (MessageEdit)new ChangeHeader(1, "X", " " + value),
        }));
    }

    [Test]
    public void Header_bytes_that_are_not_UTF8_come_back_unchanged()
    {
        byte[] latin1 = [0x63, 0x61, 0x66, 0xE9, 0x20, 0xC3, 0x28, 0xFF];

        var added = Decode(Raw.Packet('h', Raw.CString("X-L"), [.. latin1, 0]), Eom).Edit;
        var changed = Decode(Raw.Packet('m', Raw.UInt32(1), Raw.CString("Subject"), [.. latin1, 0]), Eom, Everything with { Protocol = ProtocolFlags.HeaderLeadingSpace }).Edit;

        Assert.That(added, Is.EqualTo(new AddHeader("X-L", new RawText([0x20, .. latin1]))));
        Assert.That(changed, Is.EqualTo(new ChangeHeader(1, "Subject", new RawText(latin1))));
    }

    [Test]
    public void A_header_value_with_a_CR_outside_a_line_break_is_unexpected()
    {
        var error = Refused(Raw.Packet('h', Raw.CString("Subject"), Raw.CString("x\rBcc: evil@example.net")), Eom);

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected,
            "SMFIR_ADDHEADER: the header value holds a CR that is not part of a line break, which some readers take for one: \"x\\rBcc: evil@example.net\"")));
    }

    [Test]
    public void Under_HDR_LEADSPC_a_header_value_is_taken_as_sent()
    {
        var reply = Decode(Raw.Packet('h', Raw.CString("X-A"), Raw.CString("\tv")), Eom, Everything with { Protocol = ProtocolFlags.HeaderLeadingSpace });

        Assert.That(reply.Edit, Is.EqualTo(new AddHeader("X-A", "\tv")));
    }

    [Test]
    public void A_long_header_value_is_kept_in_one_array_the_size_of_the_value()
    {
        var value = new string('v', 64 * 1024);
        var packet = Raw.Packet('h', Raw.CString("X-Long"), Raw.CString(value));
        Decode(packet, Eom); // warm up (JIT) outside the measurement

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var reply = Decode(packet, Eom);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.That(reply.Edit, Is.EqualTo(new AddHeader("X-Long", " " + value)));
        Assert.That(allocated, Is.LessThan(value.Length * 3 / 2), "the space and the milter's bytes are copied into the value's array, and into no other");
    }

    [Test]
    public void SKIP_from_a_milter_that_did_not_negotiate_it_is_honoured_and_said()
    {
        var options = Everything with { Protocol = ProtocolFlags.None };

        var atRcpt = Decode(Raw.Packet('s'), MilterCommand.Rcpt, options);
        var atMail = Decode(Raw.Packet('s'), Mail, options);

        Assert.That((Describe(atRcpt), atRcpt.Quirk), Is.EqualTo(("decision Continue skip", "SMFIR_SKIP without SMFIP_SKIP negotiated; honoured")));
        Assert.That((Describe(atMail), atMail.Quirk), Is.EqualTo(("decision Continue",
            "SMFIR_SKIP without SMFIP_SKIP negotiated; honoured; SMFIR_SKIP has nothing to skip at this stage; treated as SMFIR_CONTINUE")));
    }
}
