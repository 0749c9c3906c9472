using System.Text;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>The envelope tools take from a message's own From, To and Cc fields.</summary>
public class EnvelopesTests
{
    private static Envelope From(string headers, string? from = null, params string[] to) =>
        Envelopes.FromMessage(Encoding.UTF8.GetBytes(headers + "\r\n\r\nbody\r\n"), from, to);

    [Test]
    public void The_sender_is_the_From_fields_address_and_the_recipients_those_of_To_and_Cc_in_order()
    {
        var envelope = From("From: Alice <alice@example.org>\r\nTo: bob@example.com, \"Carol, C.\" <carol@example.com>\r\n"
            + "Cc: dave@example.net (Dave),\r\n team: erin@example.net, frank@example.net;\r\nSubject: hi");

        Assert.That(envelope.MailFrom, Is.EqualTo("alice@example.org"));
        Assert.That(envelope.Recipients.Select(r => r.Address),
            Is.EqualTo(new[] { "bob@example.com", "carol@example.com", "dave@example.net", "erin@example.net", "frank@example.net" }),
            "display names (with commas), comments, folding and groups are read as RFC 5322 says");
    }

    [Test]
    public void Given_addresses_win_over_the_fields()
    {
        var envelope = From("From: alice@example.org\r\nTo: bob@example.com", "<bounce@example.org>", "carol@example.com");

        Assert.That((envelope.MailFrom, envelope.Recipients.Single().Address), Is.EqualTo(("bounce@example.org", "carol@example.com")));
    }

    [Test]
    public void Without_a_From_field_the_sender_is_the_null_sender_and_words_without_an_at_sign_are_no_recipients()
    {
        var envelope = From("To: undisclosed-recipients:;\r\nCc: postmaster");

        Assert.That(envelope.MailFrom, Is.Empty);
        Assert.That(envelope.Recipients, Is.Empty);
    }
}
