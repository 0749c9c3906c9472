using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// A replaced body, in memory or in its file, is written once into the edited message by Postfix's rule: CRLF and a
/// bare LF both end a line, each line gets the message's own line end (CRLF, or LF for a message written with LF), a CR
/// alone is kept, and a last line without a line end is ended; an empty body stays empty. The same wherever the
/// 64 KiB pieces of the copy cut the body.
/// </summary>
public class ReplacedBodyTests : TempFolderTest
{
    private const string CrLfMessage = "From: alice@example.org\r\nSubject: hello\r\n\r\nold\r\n";

    private const string LfMessage = "From: alice@example.org\nSubject: hello\n\nold\n";

    private const string CrLfHeader = "From: alice@example.org\r\nSubject: hello\r\n\r\n";

    private const string LfHeader = "From: alice@example.org\nSubject: hello\n\n";

    /// <summary>CRLF lines, bare LFs, a CR alone, a CR CR LF, and line ends placed across the 64 KiB boundaries the copy reads at; no line end at the end.</summary>
    private static byte[] AwkwardBody()
    {
        var text = new StringBuilder();
        while (text.Length < (3 * 65536) + 100)
        {
            text.Append("a line\r\n").Append("bare\rcr\r\r\n").Append("lf only\n");
        }

        var bytes = Encoding.ASCII.GetBytes(text.ToString());
        bytes[65535] = (byte)'\r'; // the last byte of the first piece
        bytes[65536] = (byte)'\n'; // the first of the next
        bytes[(2 * 65536) - 1] = (byte)'\r'; // a CR ends the second piece; no LF follows it
        bytes[2 * 65536] = (byte)'x';
        bytes[(3 * 65536) - 1] = (byte)'y'; // a bare LF starts the fourth piece
        bytes[3 * 65536] = (byte)'\n';
        bytes[^2] = (byte)'\r'; // the body ends "\r\r": a CR is its last byte, and the last line has no line end
        bytes[^1] = (byte)'\r';
        return bytes;
    }

    /// <summary>The rule, written out plainly: each line end (CRLF or LF) made <paramref name="lineEnd"/>, the last line ended.</summary>
    private static string Expected(byte[] body, string lineEnd)
    {
        var text = Encoding.Latin1.GetString(body).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", lineEnd, StringComparison.Ordinal);
        return text.Length == 0 || text.EndsWith('\n') ? text : text + lineEnd;
    }

    private MessageBody InFile(byte[] bytes)
    {
        using var builder = new MessageBodyBuilder(memoryLimit: 0, Folder.Path);
        builder.Write(bytes);
        return builder.Build();
    }

    [TestCase(true, TestName = "A CRLF message gets a replaced body from a file with CRLF line ends and its last line ended")]
    [TestCase(false, TestName = "A CRLF message gets a replaced body from memory with CRLF line ends and its last line ended")]
    public void A_CRLF_message_gets_the_body_with_CRLF_line_ends(bool inFile)
    {
        var bytes = AwkwardBody();
        using var body = inFile ? InFile(bytes) : MessageBody.FromBytes(bytes);

        var edited = MessageEditor.Apply(Encoding.ASCII.GetBytes(CrLfMessage), [new ReplaceBody(body)]);

        Assert.That(Encoding.Latin1.GetString(edited), Is.EqualTo(CrLfHeader + Expected(bytes, "\r\n")));
    }

    [TestCase(true, TestName = "An LF message gets a replaced body from a file with LF line ends and its last line ended")]
    [TestCase(false, TestName = "An LF message gets a replaced body from memory with LF line ends and its last line ended")]
    public void An_LF_message_gets_the_body_with_LF_line_ends(bool inFile)
    {
        var bytes = AwkwardBody();
        using var body = inFile ? InFile(bytes) : MessageBody.FromBytes(bytes);

        var edited = MessageEditor.Apply(Encoding.ASCII.GetBytes(LfMessage), [new ReplaceBody(body)]);

        Assert.That(Encoding.Latin1.GetString(edited), Is.EqualTo(LfHeader + Expected(bytes, "\n")));
    }

    // Each row: the body the milter sent, and the body written into a CRLF message and into an LF one.
    [TestCase("", "", "", TestName = "An empty replacement body stays empty")]
    [TestCase("abc", "abc\r\n", "abc\n", TestName = "A body without a final line end gets one")]
    [TestCase("abc\r\n", "abc\r\n", "abc\n", TestName = "A body ending in CRLF is whole")]
    [TestCase("abc\n", "abc\r\n", "abc\n", TestName = "A bare LF ends a line too")]
    [TestCase("a\nb\r\nc", "a\r\nb\r\nc\r\n", "a\nb\nc\n", TestName = "Bare LF, CRLF and an unended last line together")]
    [TestCase("a\rb", "a\rb\r\n", "a\rb\n", TestName = "A CR alone is kept inside a line")]
    [TestCase("abc\r", "abc\r\r\n", "abc\r\n", TestName = "A CR alone at the end is kept and the line ended")]
    [TestCase("a\r\r\nb", "a\r\r\nb\r\n", "a\r\nb\n", TestName = "CR CR LF is a CR then a line end")]
    [TestCase("\r\n", "\r\n", "\n", TestName = "One empty line stays one empty line")]
    [TestCase("\n\n", "\r\n\r\n", "\n\n", TestName = "Two bare LFs are two empty lines")]
    public void A_replacement_body_is_written_with_the_messages_line_ends_and_its_last_line_ended(string replacement, string inCrLf, string inLf)
    {
        using var body = MessageBody.FromBytes(Encoding.ASCII.GetBytes(replacement));

        var crLf = MessageEditor.Apply(Encoding.ASCII.GetBytes(CrLfMessage), [new ReplaceBody(body)]);
        var lf = MessageEditor.Apply(Encoding.ASCII.GetBytes(LfMessage), [new ReplaceBody(body)]);

        Assert.That(Encoding.ASCII.GetString(crLf), Is.EqualTo(CrLfHeader + inCrLf));
        Assert.That(Encoding.ASCII.GetString(lf), Is.EqualTo(LfHeader + inLf));
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
