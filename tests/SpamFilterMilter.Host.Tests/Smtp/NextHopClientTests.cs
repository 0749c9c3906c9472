using System.Text;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>How the relay writes a message after DATA: dot-stuffed, every line ended by CRLF, then the end-of-data line.</summary>
public class NextHopClientTests
{
    [TestCase("a\r\n.b\r\n", "a\r\n..b\r\n.\r\n", TestName = "A line that starts with a dot gets a second one")]
    [TestCase(".first\r\nlast", "..first\r\nlast\r\n.\r\n", TestName = "The first line is stuffed too, and a last line without CRLF gets one")]
    [TestCase("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n", TestName = "A lone dot in the body does not end the data")]
    [TestCase("a\r\n..\r\n", "a\r\n...\r\n.\r\n", TestName = "Two dots become three")]
    [TestCase("a\r\nb.\r\n.", "a\r\nb.\r\n..\r\n.\r\n", TestName = "A dot inside a line stays, a last line of one dot is stuffed and ended")]
    [TestCase("one\ntwo\n", "one\r\ntwo\r\n.\r\n", TestName = "A bare LF becomes CRLF")]
    [TestCase("\n.x\r\ny\nz", "\r\n..x\r\ny\r\nz\r\n.\r\n", TestName = "Mixed line ends all become CRLF")]
    [TestCase("a\r", "a \r\n.\r\n", TestName = "A last CR without LF becomes a space and the line is still ended")]
    [TestCase("a\r\r\n", "a \r\n.\r\n", TestName = "A CR before the CRLF is a stray one and becomes a space")]
    [TestCase("", ".\r\n", TestName = "An empty message is only the end-of-data line")]
    public void The_message_goes_out_dot_stuffed_with_CRLF_lines_and_the_end_of_data_line(string message, string expected)
    {
        Assert.That(Encoding.Latin1.GetString(NextHopClient.DotStuffed(Encoding.Latin1.GetBytes(message))), Is.EqualTo(expected));
    }

    // SMTP smuggling (2023): a next hop that ends lines, or the data, at a bare CR must find no CR but in CRLF.
    [TestCase("body\r.\rMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<all@bank.example>\r\n", "body . MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<all@bank.example>\r\n.\r\n",
        TestName = "A CR dot CR inside a line goes out as spaces, not as an end of data")]
    [TestCase("again\r\n\r.\r\nend\r\n", "again\r\n .\r\nend\r\n.\r\n", TestName = "A line of CR dot CRLF keeps its dot behind a space")]
    [TestCase("a\r\n.\r\r\nb\r\n", "a\r\n.. \r\nb\r\n.\r\n", TestName = "A dot line with a stray CR before its CRLF is stuffed and the CR is a space")]
    [TestCase("a\r\n.\r", "a\r\n.. \r\n.\r\n", TestName = "A last line of dot CR is stuffed and ended, its CR a space")]
    [TestCase("a\r\rb\r\n", "a  b\r\n.\r\n", TestName = "Each of two stray CRs becomes a space")]
    [TestCase("\r", " \r\n.\r\n", TestName = "A message of one CR is a line of one space")]
    [TestCase("a\rb", "a b\r\n.\r\n", TestName = "A stray CR in a last line without LF becomes a space")]
    [TestCase("x\r\n\r\r\n.\r\r\n", "x\r\n \r\n.. \r\n.\r\n", TestName = "CR CR LF lines become a space and CRLF, a dot one stuffed")]
    public void A_stray_CR_goes_out_as_a_space_so_no_next_hop_reads_a_line_or_data_end_the_relay_did_not_send(string message, string expected)
    {
        var sent = NextHopClient.DotStuffed(Encoding.Latin1.GetBytes(message));
        Assert.Multiple(() =>
        {
            Assert.That(Encoding.Latin1.GetString(sent), Is.EqualTo(expected));
            for (var i = 0; i < sent.Length; i++)
            {
                Assert.That(sent[i] != (byte)'\r' || (i + 1 < sent.Length && sent[i + 1] == (byte)'\n'), Is.True, $"a CR without its LF at byte {i}");
            }
        });
    }
}
