using System.Text;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// The message as Postfix 3.7 stores what a client sent, which is what the host filters and delivers: CRs before a line's
/// LF dropped, a stray CR a space, header fields cut at their NULs and at 60,000 bytes. Each expectation is what Postfix
/// delivered in the Postfix differential's "delivered:" cases.
/// </summary>
public class PostfixStoreTests
{
    private const string Trace = "Received: by mta.example\r\n";

    private static string Stored(string message) =>
        Encoding.Latin1.GetString(PostfixStore.AsStored(Encoding.Latin1.GetBytes(Trace + message), Trace.Length))[Trace.Length..];

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

        Assert.That(PostfixStore.AsStored(message, Trace.Length), Is.SameAs(message));
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
