using System.Text;
using SpamFilterMilter.Testing;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>
/// The one header reader (<see cref="MessageHeaderReader"/>) that the plug-in and the host share: Postfix's rules,
/// and the exact bytes of every value, 8-bit or not. Messages are written as Latin-1 strings here, so that
/// <c>\u00E9</c> is the single byte E9 and UTF-8 text is written byte by byte (<c>\u00C3\u00A9</c> for é).
/// </summary>
public class MessageHeaderReaderTests
{
    private static readonly int[] Deliveries = [int.MaxValue, 1, 7];

    private static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    private static IEnumerable<TestCaseData> Messages()
    {
        yield return Case("CRLF, repeated names, folds, blanks kept",
            "Received: from a\r\n\tby b\r\nReceived: from c\r\nSubject:  two spaces\r\nX-Empty:\r\nX-Tab:\tvalue\r\nX-Trailing: v  \r\n\r\nBody line\r\n",
            ["Received", " from a\r\n\tby b", "Received", " from c", "Subject", "  two spaces", "X-Empty", "", "X-Tab", "\tvalue", "X-Trailing", " v  "],
            "Body line\r\n");
        yield return Case("LF line ends stay LF in folds and body", "A: 1\n folded\nB: 2\n\nline\n", ["A", " 1\n folded", "B", " 2"], "line\n");
        yield return Case("a fold of several lines, mixed line ends", "A: 1\r\n 2\n\t3\r\n\r\n", ["A", " 1\r\n 2\n\t3"], "");
        yield return Case("Latin-1 bytes", "Subject: caf\u00E9\r\nFrom: S\u00E9bastien <s@example.org>\r\n\r\nk\u00F6rper\r\n",
            ["Subject", " caf\u00E9", "From", " S\u00E9bastien <s@example.org>"], "k\u00F6rper\r\n");
        yield return Case("UTF-8 bytes", "Subject: caf\u00C3\u00A9\r\n\r\nb\r\n", ["Subject", " caf\u00C3\u00A9"], "b\r\n");
        yield return Case("bytes that are no UTF-8 at all", "X-Bad: \u00C3\u0028 \u00FF\u00FE\u0080\r\n\r\n\u00FF\r\n", ["X-Bad", " \u00C3\u0028 \u00FF\u00FE\u0080"], "\u00FF\r\n");
        yield return Case("a NUL in a value is kept (sending it is refused later)", "X-Nul: a\0b\r\n\r\n", ["X-Nul", " a\0b"], "");
        yield return Case("a CR inside a line, and before the CRLF, is part of the value", "X-Cr: a\rb\r\r\n\r\n", ["X-Cr", " a\rb\r"], "");
        yield return Case("blanks before the colon are not part of the name", "Subject \t: x\r\n\r\n", ["Subject", " x"], "");
        yield return Case("a line that is no field starts the body (Postfix)", "Subject: x\r\nthis is not a header\r\nmore\r\n", ["Subject", " x"], "this is not a header\r\nmore\r\n");
        yield return Case("a name that is not printable ASCII starts the body", "Subject: x\r\nCaf\u00E9: y\r\n\r\nb\r\n", ["Subject", " x"], "Caf\u00E9: y\r\n\r\nb\r\n");
        yield return Case("a fold with nothing to continue starts the body", " folded\r\nSubject: x\r\n\r\n", [], " folded\r\nSubject: x\r\n\r\n");
        yield return Case("headers only, no line end at the end", "Subject: only headers", ["Subject", " only headers"], "");
        yield return Case("headers only, no blank line", "Subject: x\r\nX-A: y\r\n", ["Subject", " x", "X-A", " y"], "");
        yield return Case("an empty body", "Subject: x\r\n\r\n", ["Subject", " x"], "");
        yield return Case("an empty message", "", [], "");
        yield return Case("no header at all", "\r\nbody\r\n", [], "body\r\n");
        yield return Case("a leading mbox From line is skipped", "From alice@example.org Tue Nov 17 10:00:00 2026\nSubject: x\n\nb\n", ["Subject", " x"], "b\n");
        yield return Case("a From line later is no field", "Subject: x\nFrom alice Tue\n\nb\n", ["Subject", " x"], "From alice Tue\n\nb\n");
        var longValue = new string('v', 100_000);
        yield return Case("a very long line", $"X-Long: {longValue}\r\nX-Next: n\r\n\r\n", ["X-Long", " " + longValue, "X-Next", " n"], "");
        yield return Case("the body comes out as it is", "A: b\r\n\r\n.\r\nline\nbare\rcr\r\n\u00FF", ["A", " b"], ".\r\nline\nbare\rcr\r\n\u00FF");

        static TestCaseData Case(string name, string message, string[] fields, string body) =>
            new TestCaseData(message, fields, body).SetArgDisplayNames(name);
    }

    private static async Task<(List<HeaderField> Fields, byte[] Body)> ReadAsync(byte[] message, int delivery)
    {
        using var reader = new MessageHeaderReader(new ChunkingStream(new MemoryStream(message), delivery));
        var fields = (await reader.ReadFieldsAsync()).ToList();
        var body = new MemoryStream();
        while (await reader.ReadBodyAsync() is { IsEmpty: false } chunk)
        {
            body.Write(chunk.Span);
        }

        return (fields, body.ToArray());
    }

    private static HeaderField[] Fields(string[] pairs) =>
        [.. pairs.Chunk(2).Select(p => new HeaderField(p[0], new RawText(Bytes(p[1]))))];

    [TestCaseSource(nameof(Messages))]
    public async Task Every_field_and_the_body_come_out_byte_for_byte_however_the_stream_delivers(string message, string[] fields, string body)
    {
        foreach (var delivery in Deliveries)
        {
            var read = await ReadAsync(Bytes(message), delivery);

            Assert.That(read.Fields, Is.EqualTo(Fields(fields)), $"fields, {delivery} bytes a read");
            Assert.That(Encoding.Latin1.GetString(read.Body), Is.EqualTo(body), $"body, {delivery} bytes a read");
        }
    }

    [TestCaseSource(nameof(Messages))]
    public void The_synchronous_reader_reads_the_same_fields(string message, string[] fields, string body)
    {
        using var reader = new MessageHeaderReader(new ChunkingStream(new MemoryStream(Bytes(message)), 3));
        var read = new List<HeaderField>();
        while (reader.ReadField() is { } field)
        {
            read.Add(field);
        }

        Assert.That(read, Is.EqualTo(Fields(fields)));
        Assert.That(reader.BodyStart, Is.EqualTo(Bytes(message).Length - Bytes(body).Length), "where the body starts");
    }

    [Test]
    public void Each_field_says_where_its_lines_are_and_the_end_where_the_blank_line_and_the_body_are()
    {
        var message = Bytes("From a Tue\nA: 1\n b\nB: 2\r\n\r\nbody");
        using var reader = new MessageHeaderReader(new MemoryStream(message));
        var seen = new List<string>();
        while (reader.ReadField() is { } field)
        {
            seen.Add($"{field.Name} {Encoding.Latin1.GetString(message[(int)reader.FieldStart..(int)reader.FieldEnd])}");
        }

        Assert.That(seen, Is.EqualTo(new[] { "A A: 1\n b\n", "B B: 2\r\n" }));
        Assert.That((reader.HeaderEnded, reader.SeparatorStart, reader.BodyStart), Is.EqualTo((true, 25L, 27L)));
    }

    [Test]
    public void Each_field_says_how_many_blanks_stood_between_its_name_and_its_colon()
    {
        using var reader = new MessageHeaderReader(new MemoryStream(Bytes("A: 1\nSubject \t : x\n folded\nB  :2\nC:3\n\nbody")));
        var seen = new List<string>();
        while (reader.ReadField() is { } field)
        {
            seen.Add($"{field.Name} {reader.BlanksBeforeColon}");
        }

        Assert.That(seen, Is.EqualTo(new[] { "A 0", "Subject 3", "B 2", "C 0" }));
    }

    [Test]
    public void A_line_that_is_no_field_ends_the_header_without_a_separator()
    {
        using var reader = new MessageHeaderReader(new MemoryStream(Bytes("A: 1\r\nbody\r\n")));

        Assert.That(reader.ReadField(), Is.EqualTo(new HeaderField("A", " 1")));
        Assert.That(reader.ReadField(), Is.Null);
        Assert.That(reader.ReadField(), Is.Null, "and stays ended");
        Assert.That((reader.SeparatorStart, reader.BodyStart), Is.EqualTo((6L, 6L)));
    }

    [Test]
    public void A_header_field_longer_than_the_limit_is_refused_as_one_line_or_as_many()
    {
        var oneLine = Bytes("X-Long: " + new string('v', MessageHeaderReader.MaxFieldBytes + 1) + "\r\n\r\n");
        var folded = Bytes("X-Long: v" + string.Concat(Enumerable.Repeat("\r\n " + new string('v', 1000), MessageHeaderReader.MaxFieldBytes / 1000)) + "\r\n\r\n");

        Assert.ThrowsAsync<InvalidDataException>(async () => await ReadAsync(oneLine, int.MaxValue));
        Assert.ThrowsAsync<InvalidDataException>(async () => await ReadAsync(folded, 4093));
    }

    [Test]
    public void A_reader_given_a_higher_limit_takes_a_field_over_the_default_one_whole()
    {
        var value = " " + new string('v', MessageHeaderReader.MaxFieldBytes + 1);
        var message = Bytes("X-Long:" + value + "\r\nB: 2\r\n\r\nbody");
        using var reader = new MessageHeaderReader(new MemoryStream(message), message.Length);

        Assert.That(reader.ReadField(), Is.EqualTo(new HeaderField("X-Long", value)));
        Assert.That(reader.ReadField(), Is.EqualTo(new HeaderField("B", " 2")));
        Assert.That(reader.ReadField(), Is.Null);
    }

    [Test]
    public void The_body_is_read_only_after_the_header()
    {
        using var reader = new MessageHeaderReader(new MemoryStream(Bytes("A: 1\r\n\r\nb")));

        Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.ReadBodyAsync());
    }
}
