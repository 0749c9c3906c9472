using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Plugin;

public class MessageReaderTests
{
    private static readonly int[] Deliveries = [int.MaxValue, 1, 7];

    private static async Task<(List<RawHeader> Headers, string Body)> ReadAsync(string message, int delivery)
    {
        using var reader = new MessageReader(new ChunkingStream(new MemoryStream(Encoding.UTF8.GetBytes(message)), delivery));
        var headers = await reader.ReadHeadersAsync(default);
        var body = new MemoryStream();
        while (await reader.ReadBodyAsync(default) is { IsEmpty: false } chunk)
        {
            body.Write(chunk.Span);
        }

        return (headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    [Test]
    public async Task Headers_keep_order_repeated_names_raw_values_and_folds([ValueSource(nameof(Deliveries))] int delivery)
    {
        var (headers, body) = await ReadAsync(
            "Received: from a\r\n\tby b\r\nReceived: from c\r\nSubject:  two spaces\r\nX-Empty:\r\nX-Tab:\tvalue\r\n\r\nBody line\r\n", delivery);

        Assert.That(headers, Is.EqualTo(new[]
        {
            new RawHeader("Received", " from a\r\n\tby b"),
            new RawHeader("Received", " from c"),
            new RawHeader("Subject", "  two spaces"),
            new RawHeader("X-Empty", ""),
            new RawHeader("X-Tab", "\tvalue"),
        }));
        Assert.That(body, Is.EqualTo("Body line\r\n"));
    }

    [Test]
    public async Task LF_line_ends_work_the_same([ValueSource(nameof(Deliveries))] int delivery)
    {
        var (headers, body) = await ReadAsync("A: 1\n folded\nB: 2\n\nline\n", delivery);

        Assert.That(headers, Is.EqualTo(new[] { new RawHeader("A", " 1\r\n folded"), new RawHeader("B", " 2") }));
        Assert.That(body, Is.EqualTo("line\n"), "the body is passed on as is; the session adds the CRs");
    }

    [Test]
    public async Task A_message_without_a_body_has_an_empty_body([ValueSource(nameof(Deliveries))] int delivery)
    {
        var (headers, body) = await ReadAsync("Subject: only headers\r\n", delivery);

        Assert.That(headers.Single(), Is.EqualTo(new RawHeader("Subject", " only headers")));
        Assert.That(body, Is.Empty);
    }

    [Test]
    public async Task A_line_that_cannot_be_a_header_starts_the_body_as_in_Postfix([ValueSource(nameof(Deliveries))] int delivery)
    {
        var (headers, body) = await ReadAsync("Subject: x\r\nthis is not a header\r\nmore\r\n", delivery);

        Assert.That(headers.Single().Name, Is.EqualTo("Subject"));
        Assert.That(body, Is.EqualTo("this is not a header\r\nmore\r\n"));
    }

    [Test]
    public async Task A_leading_mbox_From_line_is_skipped([ValueSource(nameof(Deliveries))] int delivery)
    {
        var (headers, _) = await ReadAsync("From alice@example.org Tue Nov 17 10:00:00 2026\nSubject: x\n\nb\n", delivery);

        Assert.That(headers.Single().Name, Is.EqualTo("Subject"));
    }

    [Test]
    public async Task A_large_body_comes_out_byte_for_byte()
    {
        var body = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"line {i}\r\n"));

        var (_, read) = await ReadAsync("Subject: big\r\n\r\n" + body, 4093);

        Assert.That(read, Is.EqualTo(body));
    }
}
