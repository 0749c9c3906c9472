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
    [TestCase("a\r", "a\r\r\n.\r\n", TestName = "A last CR without LF is kept and the line still ended")]
    [TestCase("a\r\r\n", "a\r\r\n.\r\n", TestName = "A CR before the CRLF is the line's own")]
    [TestCase("", ".\r\n", TestName = "An empty message is only the end-of-data line")]
    public void The_message_goes_out_dot_stuffed_with_CRLF_lines_and_the_end_of_data_line(string message, string expected)
    {
        Assert.That(Encoding.Latin1.GetString(NextHopClient.DotStuffed(Encoding.Latin1.GetBytes(message))), Is.EqualTo(expected));
    }
}
