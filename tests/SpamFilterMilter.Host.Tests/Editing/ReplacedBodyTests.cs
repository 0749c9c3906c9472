using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// A replaced body, in memory or in its file, is written once into the edited message: byte for byte into a CRLF
/// message, with every CRLF made LF (a CR alone kept) into a message written with LF, wherever the 64 KiB pieces of
/// the copy cut the body.
/// </summary>
public class ReplacedBodyTests : TempFolderTest
{
    private const string CrLfMessage = "From: alice@example.org\r\nSubject: hello\r\n\r\nold\r\n";

    private const string LfMessage = "From: alice@example.org\nSubject: hello\n\nold\n";

    /// <summary>CRLF lines, a CR alone, a CR CR LF, and CRLFs placed across the 64 KiB boundaries the copy reads at.</summary>
    private static byte[] AwkwardBody()
    {
        var text = new StringBuilder();
        while (text.Length < (3 * 65536) + 100)
        {
            text.Append("a line\r\n").Append("bare\rcr\r\r\n");
        }

        var bytes = Encoding.ASCII.GetBytes(text.ToString());
        bytes[65535] = (byte)'\r'; // the last byte of the first piece
        bytes[65536] = (byte)'\n'; // the first of the next
        bytes[(2 * 65536) - 1] = (byte)'\r'; // a CR ends the second piece; no LF follows it
        bytes[2 * 65536] = (byte)'x';
        bytes[^2] = (byte)'\r'; // the body ends "\r\r": a CR is its last byte
        bytes[^1] = (byte)'\r';
        return bytes;
    }

    private MessageBody InFile(byte[] bytes)
    {
        using var builder = new MessageBodyBuilder(memoryLimit: 0, Folder.Path);
        builder.Write(bytes);
        return builder.Build();
    }

    [TestCase(true, TestName = "A CRLF message gets a replaced body from a file byte for byte")]
    [TestCase(false, TestName = "A CRLF message gets a replaced body from memory byte for byte")]
    public void A_CRLF_message_gets_the_body_byte_for_byte(bool inFile)
    {
        var bytes = AwkwardBody();
        using var body = inFile ? InFile(bytes) : MessageBody.FromBytes(bytes);

        var edited = MessageEditor.Apply(Encoding.ASCII.GetBytes(CrLfMessage), [new ReplaceBody(body)]);

        Assert.That(edited, Is.EqualTo(Encoding.ASCII.GetBytes("From: alice@example.org\r\nSubject: hello\r\n\r\n").Concat(bytes).ToArray()));
    }

    [TestCase(true, TestName = "An LF message gets a replaced body from a file with LF line ends")]
    [TestCase(false, TestName = "An LF message gets a replaced body from memory with LF line ends")]
    public void An_LF_message_gets_the_body_with_LF_line_ends(bool inFile)
    {
        var bytes = AwkwardBody();
        using var body = inFile ? InFile(bytes) : MessageBody.FromBytes(bytes);
        var expected = "From: alice@example.org\nSubject: hello\n\n" + Encoding.Latin1.GetString(bytes).Replace("\r\n", "\n", StringComparison.Ordinal);

        var edited = MessageEditor.Apply(Encoding.ASCII.GetBytes(LfMessage), [new ReplaceBody(body)]);

        Assert.That(Encoding.Latin1.GetString(edited), Is.EqualTo(expected));
    }

    [Test]
    public void Sieve_size_sees_the_body_as_it_will_be_written()
    {
        const string line = "0123456789abcdefghijklmnopqrstuvwxyz\r\n";
        using var body = InFile(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(line, 2000))));
        var written = "From: alice@example.org\nSubject: hello\n\n".Length + (2000 * (line.Length - 1)); // one byte less a line with LF
        var script = SieveScript.Parse($"require [\"vnd.spamfiltermilter\", \"fileinto\"]; replacebody :verdict; if size :over {written - 1} {{ fileinto \"over\"; }} if size :under {written + 1} {{ fileinto \"under\"; }}");

        var outcome = script.Run(Encoding.ASCII.GetBytes(LfMessage), new Envelope("alice@example.org", null, []), body);

        Assert.That(outcome.Folders, Is.EqualTo(new[] { "over", "under" }), "exactly the LF length");
        Assert.That(outcome.Message, Has.Length.EqualTo(written));
    }
}
