using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

public class MessageEditorTests
{
    private const string Message =
        "Received: from a\r\n\tby b\r\n" +
        "From: alice@example.org\r\n" +
        "X-Tag: one\r\n" +
        "Subject: hello\r\n" +
        "x-tag: two\r\n" +
        "X-Tag: three\r\n" +
        "\r\n" +
        "Body\r\n";

    private static string Apply(string message, params MessageEdit[] edits) =>
        Encoding.UTF8.GetString(MessageEditor.Apply(Encoding.UTF8.GetBytes(message), edits));

    [Test]
    public void No_edits_give_the_message_back_byte_for_byte()
    {
        Assert.That(Apply(Message), Is.EqualTo(Message));
    }

    [Test]
    public void An_added_header_goes_at_the_end_of_the_header_section()
    {
        Assert.That(Apply(Message, new AddHeader("X-Spam", " yes")), Is.EqualTo(Message.Replace("X-Tag: three\r\n\r\n", "X-Tag: three\r\nX-Spam: yes\r\n\r\n", StringComparison.Ordinal)));
    }

    [TestCase(0, "Received: from a\r\n", "X-New: n\r\nReceived: from a\r\n")]
    [TestCase(1, "\tby b\r\n", "\tby b\r\nX-New: n\r\n")]
    [TestCase(99, "X-Tag: three\r\n", "X-Tag: three\r\nX-New: n\r\n")]
    public void An_inserted_header_goes_before_the_field_at_that_index_of_the_whole_list(int index, string at, string becomes)
    {
        Assert.That(Apply(Message, new InsertHeader(index, "X-New", " n")), Is.EqualTo(Message.Replace(at, becomes, StringComparison.Ordinal)));
    }

    [TestCase(0, "X-Tag: one\r\n", "X-Tag: CHANGED\r\n")]   // 0 means 1
    [TestCase(1, "X-Tag: one\r\n", "X-Tag: CHANGED\r\n")]
    [TestCase(2, "x-tag: two\r\n", "X-Tag: CHANGED\r\n")] // names match case-insensitively
    [TestCase(3, "X-Tag: three\r\n", "X-Tag: CHANGED\r\n")]
    [TestCase(4, "X-Tag: three\r\n", "X-Tag: three\r\nX-Tag: CHANGED\r\n")]  // beyond the count: added
    public void A_changed_header_is_the_nth_of_its_name_replaced_in_place(int index, string at, string becomes)
    {
        Assert.That(Apply(Message, new ChangeHeader(index, "X-Tag", " CHANGED")), Is.EqualTo(Message.Replace(at, becomes, StringComparison.Ordinal)),
            "the whole message: that field and no other changed, nothing added beside it");
    }

    [Test]
    public void A_deleted_header_disappears_and_a_missing_one_is_no_change()
    {
        Assert.That(Apply(Message, new ChangeHeader(2, "X-TAG", null)), Is.EqualTo(Message.Replace("x-tag: two\r\n", "", StringComparison.Ordinal)));
        Assert.That(Apply(Message, new ChangeHeader(9, "X-Tag", null)), Is.EqualTo(Message));
    }

    [Test]
    public void An_empty_value_deletes_as_an_empty_SMFIR_CHGHEADER_value_does_and_so_does_a_null_string()
    {
        string? noValue = null;

        Assert.That(Apply(Message, new ChangeHeader(2, "X-Tag", RawText.Empty)), Is.EqualTo(Message.Replace("x-tag: two\r\n", "", StringComparison.Ordinal)));
        Assert.That(Apply(Message, new ChangeHeader(2, "X-Tag", noValue)), Is.EqualTo(Message.Replace("x-tag: two\r\n", "", StringComparison.Ordinal)));
        Assert.That(Apply(Message, new ChangeHeader(9, "X-Tag", "")), Is.EqualTo(Message), "nothing to delete: no change, nothing added");
    }

    [Test]
    public void Edits_apply_in_order_and_a_deletion_renumbers_at_once_as_in_Postfix()
    {
        // Delete the first X-Tag, then "the second X-Tag" is what used to be the third.
        var result = Apply(Message, new ChangeHeader(1, "X-Tag", null), new ChangeHeader(2, "X-Tag", " 3rd"));

        Assert.That(result, Is.EqualTo(Message.Replace("X-Tag: one\r\n", "", StringComparison.Ordinal).Replace("X-Tag: three\r\n", "X-Tag: 3rd\r\n", StringComparison.Ordinal)));
    }

    [Test]
    public void A_folded_value_is_written_with_the_messages_line_ends()
    {
        var crlf = Apply(Message, new AddHeader("DKIM-Signature", " v=1;\r\n\tb=x"));
        var lf = Apply(Message.Replace("\r\n", "\n", StringComparison.Ordinal), new AddHeader("DKIM-Signature", " v=1;\r\n\tb=x"));

        Assert.That(crlf, Does.Contain("DKIM-Signature: v=1;\r\n\tb=x\r\n\r\nBody"));
        Assert.That(lf, Does.Contain("DKIM-Signature: v=1;\n\tb=x\n\nBody"));
        Assert.That(lf, Does.Not.Contain("\r"));
    }

    [Test]
    public void A_replaced_body_replaces_everything_after_the_blank_line()
    {
        var result = Apply(Message, new ReplaceBody(Encoding.ASCII.GetBytes("New body\r\nline 2\r\n")));

        Assert.That(result, Is.EqualTo(Message.Replace("Body\r\n", "New body\r\nline 2\r\n", StringComparison.Ordinal)));
    }

    [Test]
    public void Bytes_that_are_not_text_survive_untouched()
    {
        byte[] message = [.. "Subject: \u00e9t\u00e9\r\nX-Raw: "u8, 0xFF, 0xFE, .. "\r\n\r\n"u8, 0x00, 0x80, 0xFF];

        var result = MessageEditor.Apply(message, [new AddHeader("X-A", " b")]);

        Assert.That(result, Is.EqualTo((byte[])[.. message[..^5], .. "X-A: b\r\n"u8, .. "\r\n"u8, 0x00, 0x80, 0xFF]));
    }

    [Test]
    public void Header_edits_with_bytes_that_are_not_UTF8_are_written_byte_for_byte()
    {
        byte[] latin1 = [0x20, 0x63, 0x61, 0x66, 0xE9];          // " café" in Latin-1
        byte[] broken = [0x20, 0xC3, 0x28, 0xFF, 0x0A, 0xFE];    // broken UTF-8, folded without a blank
        var message = Encoding.ASCII.GetBytes("Subject: hello\r\nX-Tag: one\r\n\r\nBody\r\n");

        var result = MessageEditor.Apply(message, [new AddHeader("X-Latin", new RawText(latin1)), new InsertHeader(1, "X-Broken", new RawText(broken)), new ChangeHeader(1, "Subject", new RawText(latin1))]);

        Assert.That(result, Is.EqualTo((byte[])[.. "Subject:"u8, .. latin1, .. "\r\nX-Broken:"u8, 0x20, 0xC3, 0x28, 0xFF, .. "\r\n\t"u8, 0xFE,
            .. "\r\nX-Tag: one\r\nX-Latin:"u8, .. latin1, .. "\r\n\r\nBody\r\n"u8]));
        Assert.That(MessageEditor.ReadFields(result)[1], Is.EqualTo(new HeaderField("X-Broken", new RawText([0x20, 0xC3, 0x28, 0xFF, 0x0D, 0x0A, 0x09, 0xFE]))),
            "read back as the same bytes, the fold as written");
    }

    [TestCase(" a\nb", "X-New: a\r\n\tb\r\n")]
    [TestCase(" a\r\nBcc: evil@example.net", "X-New: a\r\n\tBcc: evil@example.net\r\n")]
    [TestCase(" a\n\nb", "X-New: a\r\n\t\r\n\tb\r\n")]
    public void A_value_line_that_does_not_fold_gets_a_tab_as_Postfix_writes_it(string value, string written)
    {
        Assert.That(Apply(Message, new AddHeader("X-New", value)), Is.EqualTo(Message.Replace("X-Tag: three\r\n\r\n", "X-Tag: three\r\n" + written + "\r\n", StringComparison.Ordinal)));
    }

    [Test]
    public void Envelope_edits_change_sender_and_recipients()
    {
        var envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("carol@example.com")]);

        var result = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), envelope,
        [
            new DeleteRecipient("<bob@example.com>"),
            new AddRecipient("<dave@example.com>", ["NOTIFY=NEVER", "ORCPT=rfc822;d"]),
            new AddRecipient("<eve@example.com>"),
            new ChangeSender("<bounces@example.org>", ["RET=HDRS"]),
        ]);

        Assert.That(result.Envelope.MailFrom, Is.EqualTo("bounces@example.org"));
        Assert.That(result.Envelope.MailParameters, Is.EqualTo(new[] { "RET=HDRS" }));
        Assert.That(result.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "carol@example.com", "dave@example.com", "eve@example.com" }));
        Assert.That(result.Envelope.Recipients[1].Parameters, Is.EqualTo(new[] { "NOTIFY=NEVER", "ORCPT=rfc822;d" }));
        Assert.That(result.Message, Is.EqualTo(Encoding.ASCII.GetBytes(Message)), "envelope edits leave the message alone");
    }

    [Test]
    public void An_mbox_From_line_stays_and_does_not_count_as_a_header()
    {
        var result = Apply("From alice Tue Nov 17 10:00:00 2026\nSubject: x\n\nb\n", new InsertHeader(0, "X-Top", " t"));

        Assert.That(result, Is.EqualTo("From alice Tue Nov 17 10:00:00 2026\nX-Top: t\nSubject: x\n\nb\n"));
    }

    [TestCase("From: a@example.org\r\nSubject: no crlf at all", "From: a@example.org\r\nSubject: no crlf at all\r\nX-Seen: yes\r\n")]
    [TestCase("From: a@example.org\nSubject: no lf at all", "From: a@example.org\nSubject: no lf at all\nX-Seen: yes\n")]
    public void A_last_header_line_without_a_line_end_is_ended_before_an_added_field_as_Postfix_stores_each_line(string message, string becomes)
    {
        Assert.That(Apply(message, new AddHeader("X-Seen", " yes")), Is.EqualTo(becomes));
        Assert.That(Apply(message), Is.EqualTo(message), "nothing written after it: left as it came");
    }

    [TestCase("Subject: no crlf at all", "Subject: no crlf at all\r\n\r\nnew body\r\n")]
    [TestCase("Subject: headers only\r\n", "Subject: headers only\r\n\r\nnew body\r\n")]
    [TestCase("Subject: headers only\n", "Subject: headers only\n\nnew body\n")]
    public void A_body_replacing_none_follows_the_empty_line_Postfix_writes_before_a_replaced_body(string message, string becomes)
    {
        Assert.That(Apply(message, new ReplaceBody(Encoding.ASCII.GetBytes("new body"))), Is.EqualTo(becomes));
        Assert.That(Apply(message, new AddHeader("X-Seen", " yes"), new ReplaceBody(Encoding.ASCII.GetBytes("new body"))),
            Is.EqualTo(becomes.Replace("\n\r\n", "\nX-Seen: yes\r\n\r\n", StringComparison.Ordinal).Replace("only\n\n", "only\nX-Seen: yes\n\n", StringComparison.Ordinal)),
            "an added field before the empty line");
    }

    [TestCase("this line has no colon")]
    [TestCase(": empty name")]
    [TestCase("X Bad: a blank in the name")]
    [TestCase("S\u00fcbject: an 8-bit name")]
    public void A_line_that_is_not_a_header_field_starts_the_body_after_the_empty_line_Postfix_forces_out(string line)
    {
        var message = "Subject: x\r\n" + line + "\r\nX-After: looks like a header\r\n\r\nbody\r\n";
        var separated = message.Replace("Subject: x\r\n", "Subject: x\r\n\r\n", StringComparison.Ordinal);

        Assert.That(Apply(message, new AddHeader("X-Seen", " yes")), Is.EqualTo(separated.Replace("Subject: x\r\n", "Subject: x\r\nX-Seen: yes\r\n", StringComparison.Ordinal)),
            "the added field in the header section, above the empty line");
        Assert.That(Apply(message), Is.EqualTo(separated), "without edits too, as Postfix delivers it");
        Assert.That(Apply(message.Replace("\r\n", "\n", StringComparison.Ordinal)), Is.EqualTo(separated.Replace("\r\n", "\n", StringComparison.Ordinal)), "in the message's own line end");
        Assert.That(Apply(message, new ReplaceBody(Encoding.ASCII.GetBytes("new\r\n"))), Is.EqualTo("Subject: x\r\n\r\nnew\r\n"), "the line was the body's");
    }

    [Test]
    public void A_header_section_that_ends_well_a_message_without_body_and_one_without_fields_get_no_empty_line_of_ours()
    {
        Assert.That(Apply("Subject: x\r\n\r\nbody\r\n"), Is.EqualTo("Subject: x\r\n\r\nbody\r\n"));
        Assert.That(Apply("Subject: x\r\n", new AddHeader("X-Seen", " yes")), Is.EqualTo("Subject: x\r\nX-Seen: yes\r\n"));
        Assert.That(Apply(".\r\nno field at all\r\n"), Is.EqualTo(".\r\nno field at all\r\n"), "no header section to end");
        Assert.That(Apply(".\r\nno field at all\r\n", new AddHeader("X-Seen", " yes")), Is.EqualTo("X-Seen: yes\r\n\r\n.\r\nno field at all\r\n"), "until a field is added");
    }

    [TestCase("<carol@example.net>", "Carol@Example.NET", false)]
    [TestCase("<Carol@Example.NET>", "Carol@Example.NET", true)]
    [TestCase("carol@example.net", "carol@example.net", true)]
    [TestCase("<\"carol\"@example.net>", "carol@example.net", true)]
    [TestCase("<carol@example.net>", "\"carol\"@example.net", true)]
    [TestCase("<\"john doe\"@example.net>", "\"john doe\"@example.net", true)]
    [TestCase("<\"john\\ doe\"@example.net>", "\"john doe\"@example.net", true)]
    [TestCase("<\"John Doe\"@example.net>", "\"john doe\"@example.net", false)]
    public void A_deleted_recipient_is_compared_exactly_without_brackets_and_quotes_as_Postfix_compares_it(string deleted, string recipient, bool deletes)
    {
        var envelope = new Envelope("alice@example.org", null, [new EnvelopeRecipient("bob@example.net"), new EnvelopeRecipient(recipient)]);

        var result = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), envelope, [new DeleteRecipient(deleted)]);

        Assert.That(result.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(deletes ? ["bob@example.net"] : new[] { "bob@example.net", recipient }));
    }

    [TestCase("<>")]
    [TestCase("")]
    [TestCase(" < > ")]
    [TestCase("<\"\">")]
    public void The_null_recipient_is_not_added_but_noted_as_Postfix_ignores_it_with_a_warning(string address)
    {
        var envelope = new Envelope("alice@example.org", ["BODY=8BITMIME"], [new EnvelopeRecipient("bob@example.net")]);

        var result = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), envelope, [new AddRecipient(address, ["NOTIFY=NEVER"]), new AddRecipient("<carol@example.net>")]);

        Assert.That(result.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.net", "carol@example.net" }));
        Assert.That(result.Notes, Is.EqualTo(new[] { $"the recipient {LogText.Quote(address)} is not added: it is the null address, which Postfix ignores too" }));
        Assert.That(MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), envelope, [new AddRecipient(address)]).Envelope, Is.SameAs(envelope), "nothing else changed");
    }

    [Test]
    public void Blanks_between_a_field_name_and_its_colon_are_taken_out_as_Postfix_writes_every_field()
    {
        const string message = "From: a@example.org\r\nSubject : spaced\r\nX-Tab\t \t:\tv\r\n\tfolded\r\n\r\nbody\r\n";
        const string normalized = "From: a@example.org\r\nSubject: spaced\r\nX-Tab:\tv\r\n\tfolded\r\n\r\nbody\r\n";

        Assert.That(Apply(message), Is.EqualTo(normalized));
        Assert.That(Apply(message, new ChangeHeader(1, "X-Tab", " w"), new AddHeader("X-Seen", " yes")),
            Is.EqualTo(normalized.Replace("X-Tab:\tv\r\n\tfolded\r\n", "X-Tab: w\r\nX-Seen: yes\r\n", StringComparison.Ordinal)), "found by its name as before");
        Assert.That(MessageEditor.ReadFields(Encoding.ASCII.GetBytes(message))[1], Is.EqualTo(new HeaderField("Subject", " spaced")));
    }
}
