using System.Text;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// The message as Postfix 3.7 stores what a client sent, which is what the host filters and delivers: CRs before a line's
/// LF dropped, a stray CR a space, header fields cut at their NULs and at 60,000 bytes, the fields of
/// <c>message_drop_headers</c> left out. Each expectation is what Postfix
/// delivered in the Postfix differential's "delivered:" cases.
/// </summary>
public class PostfixStoreTests
{
    private const string Trace = "Received: by mta.example\r\n";

    private static string Stored(string message) => Stored(message, PostfixStore.DefaultDroppedFields);

    private static string Stored(string message, IReadOnlyCollection<string> dropped) =>
        Encoding.Latin1.GetString(PostfixStore.AsStored(Encoding.Latin1.GetBytes(Trace + message), Trace.Length, dropped))[Trace.Length..];

    [TestCase("Subject: two CRs\r\r\nX-Three: three\r\r\r\n\r\nbody\r\r\nlast\r\r\n", "Subject: two CRs\r\nX-Three: three\r\n\r\nbody\r\nlast\r\n")]
    [TestCase("Subject: x\r\n\r\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n")]
    [TestCase("Subject: bare LF\n\nbody\r\r\n", "Subject: bare LF\n\nbody\r\n")]
    [TestCase("Subject: x\r\n\r\nends in CRs\r\r", "Subject: x\r\n\r\nends in CRs")]
    public void CRs_before_a_lines_LF_are_dropped_as_smtpd_reads_the_line(string message, string stored)
    {
        Assert.That(Stored(message), Is.EqualTo(stored));
    }

    [Test]
    public void A_CR_inside_a_line_becomes_a_space_as_cleanup_replaces_a_stray_CR()
    {
        Assert.That(Stored("Subject: a\rb\r\n\r\na CR\rinside\r\n"), Is.EqualTo("Subject: a b\r\n\r\na CR inside\r\n"));
    }

    [Test]
    public void A_CR_that_is_the_2048th_byte_of_its_line_stays_as_a_space_when_another_CR_follows_it()
    {
        var header = "X-Cr: " + new string('c', 2041); // 2,047 bytes: the first CR is the 2,048th, the last of smtpd's first piece
        var body = new string('e', 2047);

        var stored = Stored(header + "\r\r\nSubject: s\r\n\r\n" + body + "\r\r\n" + body + "\r\nlast\r\n");

        Assert.That(stored, Is.EqualTo(header + " \r\nSubject: s\r\n\r\n" + body + " \r\n" + body + "\r\nlast\r\n"),
            "smtp_get joins a CRLF split between two pieces, so a lone CR before the LF still goes");
    }

    [Test]
    public void A_message_whose_every_CR_ends_a_line_is_the_same_array()
    {
        var message = Encoding.ASCII.GetBytes(Trace + "Subject: x\r\n\r\nbody\nbare LF\r\n");

        Assert.That(PostfixStore.AsStored(message, Trace.Length, PostfixStore.DefaultDroppedFields), Is.SameAs(message));
    }

    [Test]
    public void Postfixs_dropped_fields_leave_the_header_in_any_case_folded_empty_or_with_blanks_before_the_colon()
    {
        var stored = Stored("Return-Path: <forged@example.org>\r\nFrom: a@example.com\r\nbcc  : second@example.org\r\n\tfolded@example.org\r\nBCC:\r\n"
            + "Resent-Bcc: r@example.org\r\nCONTENT-length: 12\r\nX-Bcc: kept\r\nResent-Bccx: kept\r\nSubject: s\r\n\r\nBcc: in the body\r\n");

        Assert.That(stored, Is.EqualTo("From: a@example.com\r\nX-Bcc: kept\r\nResent-Bccx: kept\r\nSubject: s\r\n\r\nBcc: in the body\r\n"));
    }

    [TestCase("Bcc\t: x@example.org\r\nSubject: s\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n", TestName = "A tab before the colon")]
    [TestCase("Subject: s\nbcc : x@example.org\n\nbody\n", "Subject: s\n\nbody\n", TestName = "Lines ended by LF alone")]
    [TestCase("Subject: s\nBCC:x@example.org\n\nbody\n", "Subject: s\n\nbody\n", TestName = "No space after the colon, in capitals, after another field")]
    [TestCase("Subject: s\r\nBcc\r: x@example.org\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n", TestName = "A stray CR before the colon, a space once stored")]
    [TestCase("Subject: s\r\nreturn-path:<x@example.org>\r\n", "Subject: s\r\n", TestName = "The last line of a message that is all header")]
    public void A_dropped_field_is_found_however_its_name_and_line_are_written(string message, string stored) =>
        Assert.That(Stored(message), Is.EqualTo(stored));

    [Test]
    public void A_MIME_parts_fields_are_the_bodys_and_stay()
    {
        const string Message = "Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Length: 5\r\nBcc: inner@example.org\r\n\r\nx\r\n--b--\r\n";

        Assert.That(Stored(Message), Is.EqualTo(Message));
    }

    [Test]
    public void A_field_after_the_line_that_ends_the_header_section_is_the_bodys_and_stays()
    {
        const string Message = "Subject: s\r\nthis line has no colon\r\nBcc: secret@example.org\r\n\r\nbody\r\n";

        Assert.That(Stored(Message), Is.EqualTo(Message));
    }

    [Test]
    public void Only_the_fields_named_are_dropped_and_none_when_none_are_named()
    {
        const string Message = "Bcc: b@example.org\r\nX-Secret: s\r\nx-secret : t\r\n\r\nbody\r\n";

        Assert.That(Stored(Message, ["X-Secret"]), Is.EqualTo("Bcc: b@example.org\r\n\r\nbody\r\n"));
        Assert.That(Stored(Message, []), Is.EqualTo(Message));
    }

    [Test]
    public void A_message_without_a_dropped_field_is_the_same_array_though_a_line_starts_like_one()
    {
        var message = Encoding.ASCII.GetBytes(Trace + "Bccx: 1\r\nReturn-Pathway: 2\r\nSubject: x\r\n\r\nBcc: in the body\r\n");

        Assert.That(PostfixStore.AsStored(message, Trace.Length, PostfixStore.DefaultDroppedFields), Is.SameAs(message));
    }

    [Test]
    public void The_servers_own_trace_field_is_never_dropped()
    {
        var message = Encoding.ASCII.GetBytes("Return-Path: <server@example.org>\r\nReturn-Path: <client@example.org>\r\nSubject: x\r\n\r\nbody\r\n");

        var stored = Encoding.ASCII.GetString(PostfixStore.AsStored(message, "Return-Path: <server@example.org>\r\n".Length, PostfixStore.DefaultDroppedFields));

        Assert.That(stored, Is.EqualTo("Return-Path: <server@example.org>\r\nSubject: x\r\n\r\nbody\r\n"));
    }

    [Test]
    public void A_NUL_cuts_its_header_line_and_the_lines_after_it_stay_while_the_body_keeps_its_NUL()
    {
        var stored = Stored("From: a@example.com\r\nX-Nul: a\0b\r\n\tfolded after\r\nX-End: c\0\r\nSubject: nul\r\n\r\nbody \0 nul\r\n");

        Assert.That(stored, Is.EqualTo("From: a@example.com\r\nX-Nul: a\r\n\tfolded after\r\nX-End: c\r\nSubject: nul\r\n\r\nbody \0 nul\r\n"));
    }

    [Test]
    public void A_NUL_in_a_field_with_blanks_before_its_colon_cuts_a_piece_of_the_line_counted_with_the_blanks()
    {
        // smtpd's first 2,048-byte piece of the line: "X-Nul  :" and 2,040 bytes of the value.
        var stored = Stored("X-Nul  : a\0" + new string('b', 3000) + "\r\nSubject: s\r\n\r\nbody\r\n");

        Assert.That(stored, Is.EqualTo("X-Nul  : a" + new string('b', 963) + "\r\nSubject: s\r\n\r\nbody\r\n"));
    }

    [Test]
    public void A_field_with_blanks_before_its_colon_is_cut_at_60000_bytes_counted_without_them()
    {
        // Cleanup takes the blanks out before it counts (mime_state.c): "X-Big:" and 59,994 bytes of the value.
        var stored = Stored("X-Big \t : " + new string('g', 62_000) + "\r\n\r\nbody\r\n");

        Assert.That(stored, Is.EqualTo("X-Big \t : " + new string('g', 59_993) + "\r\n\r\nbody\r\n"));
    }

    [Test]
    public void A_field_over_60000_bytes_is_cut_as_Postfixs_cleanup_cuts_it_and_the_fields_around_it_stay()
    {
        var stored = Stored("Subject: big\r\nX-Big: " + new string('g', 62_000) + "\r\nX-After: yes\r\n\r\nbody\r\n");

        Assert.That(stored, Is.EqualTo("Subject: big\r\nX-Big: " + new string('g', 59_993) + "\r\nX-After: yes\r\n\r\nbody\r\n"));
    }

    [Test]
    public void A_field_cut_at_a_fold_keeps_its_own_line_end_and_the_name_as_the_client_wrote_it()
    {
        var f70 = new string('f', 70);

        var stored = Stored("X-Folded : " + string.Join("\n\t", Enumerable.Repeat(f70, 1600)) + "\n\nbody\n");

        Assert.That(stored, Is.EqualTo("X-Folded : " + string.Join("\n\t", Enumerable.Repeat(f70, 833)) + "\n\nbody\n"));
    }
}
