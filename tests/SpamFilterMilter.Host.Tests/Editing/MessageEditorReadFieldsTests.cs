using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>MessageEditor.ReadFields: the header as Sieve tests see it, split exactly as the edits split it.</summary>
public class MessageEditorReadFieldsTests
{
    private static IReadOnlyList<HeaderField> Read(string message) => MessageEditor.ReadFields(Encoding.UTF8.GetBytes(message));

    [Test]
    public void Fields_come_in_order_with_their_raw_values_folding_kept_and_line_end_dropped()
    {
        Assert.That(Read("Received: from a\r\n\tby b\r\nX-Tag : one\r\nx-tag:two\r\n\r\nX-Body: not a field\r\n"), Is.EqualTo(new[]
        {
            new HeaderField("Received", " from a\r\n\tby b"),
            new HeaderField("X-Tag", " one"),
            new HeaderField("x-tag", "two"),
        }));
    }

    [Test]
    public void A_message_with_LF_line_ends_and_an_mbox_From_line_reads_the_same_way()
    {
        Assert.That(Read("From alice@example.org Tue Nov 17 11:00:00 2026\nSubject: hi\n there\n\nbody\n"), Is.EqualTo(new[] { new HeaderField("Subject", " hi\n there") }));
    }

    [Test]
    public void A_line_that_cannot_be_a_field_ends_the_header_as_in_the_edits()
    {
        const string message = "Subject: a\r\nnot a field\r\nX-After: b\r\n\r\n";

        Assert.That(Read(message).Select(f => f.Name), Is.EqualTo(new[] { "Subject" }));
        Assert.That(Encoding.UTF8.GetString(MessageEditor.Apply(Encoding.UTF8.GetBytes(message), [new ChangeHeader(1, "X-After", null)])),
            Is.EqualTo(message.Replace("Subject: a\r\n", "Subject: a\r\n\r\n", StringComparison.Ordinal)),
            "the editor does not see X-After either (the empty line Postfix writes before the body's first line)");
    }
}
