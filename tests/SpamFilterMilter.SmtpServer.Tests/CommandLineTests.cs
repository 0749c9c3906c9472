using System.Buffers;
using System.Text;
using SmtpServer.Mail;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// <see cref="CommandLine.Read"/>: the client's bytes from where SmtpServer parses its next command, as they come (whole,
/// in pieces, over several buffer segments), and which of them are a <c>RCPT TO:&lt;postmaster&gt;</c> without a domain or
/// an <c>EHLO</c> with an address literal.
/// </summary>
public class CommandLineTests
{
    [TestCase("RCPT TO:<postmaster>\r\n", 22, "<postmaster>", "")]
    [TestCase("rcpt to:<PostMaster>\r\nDATA\r\n", 22, "<PostMaster>", "")]
    [TestCase("RCPT TO: <postmaster> NOTIFY=NEVER ORCPT=rfc822;postmaster\r\n", 60, "<postmaster>", "NOTIFY=NEVER|ORCPT=rfc822;postmaster")]
    [TestCase("RCPT  TO:  <POSTMASTER> \r\n", 26, "<POSTMASTER>", "")]
    public void A_bare_postmaster_is_read_with_its_line_length_its_path_as_written_and_its_parameters(string bytes, int length, string path, string parameters)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.Length, line.Path, Words(line.Parameters)), Is.EqualTo((CommandLineKind.BarePostmaster, length, path, parameters)));
    }

    [TestCase("", TestName = "Nothing yet is no command line")]
    [TestCase("NOOP\r\n")]
    [TestCase("RCPT TO:<postmaster>x\r\n", TestName = "A bare postmaster followed by anything but a space is not one (SmtpServer's 502 stays; Postfix: 501)")]
    [TestCase("RCPTTO:<postmaster>\r\n", TestName = "RCPT and TO as one word is not a RCPT (SmtpServer reads one word)")]
    [TestCase("RCPT TO :<postmaster>\r\n")]
    [TestCase("RCPT\tTO:<postmaster>\r\n", TestName = "Only spaces are spaces (SmtpServer's 502 for a tab stays)")]
    [TestCase("RCPT TO:postmaster\r\n", TestName = "A path without angle brackets is left to SmtpServer (its 502 stays)")]
    [TestCase("RCPT TO:<postmaster\r\n>\r\n", TestName = "A line end inside the path ends the line there")]
    [TestCase("RCPX", TestName = "A line that can no longer be one is told before its end")]
    [TestCase("RCPT TO:<postmastex")]
    public void Any_other_line_is_another(string bytes) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(CommandLineKind.Other));

    [TestCase("r")]
    [TestCase("RCPT ")]
    [TestCase("RCPT TO:")]
    [TestCase("RCPT TO:<post")]
    [TestCase("RCPT TO:<postmaster>")]
    [TestCase("RCPT TO:<postmaster>\r", TestName = "A CR at the end may be the start of the line end")]
    [TestCase("RCPT TO:<postmaster> NOTIFY=NEV")]
    public void The_start_of_a_bare_postmaster_waits_for_its_line_end(string bytes) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(CommandLineKind.Incomplete));

    [TestCase("EHLO [192.0.2.1]\r\n", true)]
    [TestCase("ehlo [IPv6:2001:db8::1]\r\nMAIL FROM:<a@b>\r\n", true)]
    [TestCase("EHLO\t [192.0.2.1]\r\n", true, TestName = "An address literal after any space SmtpServer's parser skips")]
    [TestCase("EHLO[192.0.2.1]\r\n", true, TestName = "An address literal right after EHLO, which SmtpServer's parser takes too")]
    [TestCase("EHLO [192.0.2.1", true, TestName = "An address literal whose line has not ended yet")]
    [TestCase("EHLO 192.0.2.1\r\n", false, TestName = "A name of digits without brackets is a domain name")]
    [TestCase("EHLO client.example\r\n", false)]
    [TestCase("EHLO\r\n[192.0.2.1]\r\n", false, TestName = "A bracket on the next line is not this line's")]
    [TestCase("EHLOX [192.0.2.1]\r\n", false)]
    [TestCase("HELO [192.0.2.1]\r\n", false, TestName = "HELO keeps its brackets in SmtpServer's parser")]
    public void An_EHLO_whose_name_is_an_address_literal_is_told_from_any_other(string bytes, bool addressLiteral) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(addressLiteral ? CommandLineKind.EhloAddressLiteral : CommandLineKind.Other));

    [Test]
    public void The_EHLO_name_gets_its_brackets_back_from_its_line_alone()
    {
        Assert.Multiple(() =>
        {
            Assert.That(CommandLine.Read(Whole("EHLO [192.0.2.1]\r\n")).EhloName("192.0.2.1"), Is.EqualTo("[192.0.2.1]"));
            Assert.That(CommandLine.Read(Whole("EHLO 192.0.2.1\r\n")).EhloName("192.0.2.1"), Is.EqualTo("192.0.2.1"));
        });
    }

    [Test]
    public void A_line_longer_than_Postfixs_line_length_limit_is_another_whole_or_not()
    {
        var longParameters = "RCPT TO:<postmaster> X-LONG=" + new string('x', 2048);

        Assert.Multiple(() =>
        {
            Assert.That(CommandLine.Read(Whole(longParameters)).Kind, Is.EqualTo(CommandLineKind.Other));
            Assert.That(CommandLine.Read(Whole(longParameters + "\r\n")).Kind, Is.EqualTo(CommandLineKind.Other));
        });
    }

    [Test]
    public void A_bare_postmaster_over_buffer_segments_of_one_byte_is_read_as_one_in_one_segment()
    {
        var bytes = Encoding.ASCII.GetBytes("RCPT TO:<postmaster>\r\nQUIT\r\n");

        Assert.That(CommandLine.Read(ByteSegments.OnePerSegment(bytes)), Is.EqualTo(CommandLine.Read(new ReadOnlySequence<byte>(bytes))));
        Assert.That(CommandLine.Read(ByteSegments.OnePerSegment(bytes)).Kind, Is.EqualTo(CommandLineKind.BarePostmaster));
    }

    [Test]
    public void The_path_as_written_is_given_for_the_stand_in_alone()
    {
        var line = CommandLine.Read(Whole("RCPT TO:<PostMaster>\r\n"));

        Assert.Multiple(() =>
        {
            Assert.That(line.BarePostmasterPath(new Mailbox("postmaster", "postmaster.invalid")), Is.EqualTo("<PostMaster>"));
            Assert.That(line.BarePostmasterPath(new Mailbox("postmaster", "example.com")), Is.Null);
            Assert.That(default(CommandLine).BarePostmasterPath(new Mailbox("postmaster", "postmaster.invalid")), Is.Null,
                "the stand-in's address written by the client is that address");
        });
    }

    private static ReadOnlySequence<byte> Whole(string bytes) => new(Encoding.UTF8.GetBytes(bytes));

    /// <summary>Parameters as one string, each ended by <c>|</c> but the last; null for none at all.</summary>
    private static string? Words(IReadOnlyList<string>? parameters) => parameters is null ? null : string.Join('|', parameters);
}
