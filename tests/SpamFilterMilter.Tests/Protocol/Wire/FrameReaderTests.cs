using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Wire;

public class FrameReaderTests
{
    private static readonly int[] Deliveries = [int.MaxValue, 1, 3];

    private static FrameReader Reader(byte[] bytes, int maxReadSize, int maxPayload = 65535) =>
        new(new ChunkingStream(new MemoryStream(bytes), maxReadSize), maxPayload);

    [Test]
    public async Task A_frame_is_read_exactly_whatever_the_segmentation([ValueSource(nameof(Deliveries))] int delivery, [Values] bool blocking)
    {
        using var reader = Reader(Raw.Packet('y', Raw.CString("550 5.7.1 no")), delivery);

        var frame = await reader.ReadAsync(FilterStage.Helo, "test", blocking, default);

        Assert.That(frame.Code, Is.EqualTo(MilterReply.ReplyCode));
        Assert.That(frame.Payload.ToArray(), Is.EqualTo(Raw.CString("550 5.7.1 no")));
    }

    [Test]
    public async Task Several_frames_in_one_read_come_out_one_by_one([ValueSource(nameof(Deliveries))] int delivery, [Values] bool blocking)
    {
        var bytes = Raw.Concat(Raw.Packet('p'), Raw.Packet('h', Raw.CString("X-A"), Raw.CString("1")), Raw.Packet('c'));
        using var reader = Reader(bytes, delivery);

        var codes = new List<MilterReply>();
        for (var i = 0; i < 3; i++)
        {
            codes.Add((await reader.ReadAsync(FilterStage.Helo, "test", blocking, default)).Code);
        }

        Assert.That(codes, Is.EqualTo(new[] { MilterReply.Progress, MilterReply.AddHeader, MilterReply.Continue }));
        Assert.That(reader.BufferedCount, Is.Zero);
    }

    [Test]
    public async Task A_payload_of_exactly_the_limit_is_accepted([ValueSource(nameof(Deliveries))] int delivery, [Values] bool blocking)
    {
        var payload = new byte[65535];
        Random.Shared.NextBytes(payload);
        using var reader = Reader(Raw.Packet('b', payload), delivery == 1 ? 4096 : delivery);

        var frame = await reader.ReadAsync(FilterStage.Helo, "test", blocking, default);

        Assert.That(frame.Payload.ToArray(), Is.EqualTo(payload));
    }

    // Hostile input: bytes, the failure kind, words of the cause.
    private static readonly object[] Hostile =
    [
        new object[] { new byte[] { 0, 0, 0, 0, (byte)'c' }, "Malformed", "bad packet length 0" },
        new object[] { new byte[] { 0x7F, 0xFF, 0xFF, 0xFF, (byte)'c' }, "Malformed", "unreasonable packet length 2147483647" },
        new object[] { new byte[] { 0, 1, 0, 1, (byte)'b' }, "Malformed", "unreasonable packet length 65537 (limit 65536)" },
        new object[] { "UNKNOWN COMMAND\r\n"u8.ToArray(), "Malformed", "the bytes read as text \"UNKN\": is this port really a milter?" },
        new object[] { Array.Empty<byte>(), "Closed", "can't read packet header: the milter closed the connection" },
        new object[] { new byte[] { 0, 0 }, "Closed", "in the middle of a packet (2 of 5 bytes)" },
        new object[] { new byte[] { 0, 0, 0, 5, (byte)'y', (byte)'5' }, "Closed", "can't read packet payload" },
    ];

    [TestCaseSource(nameof(Hostile))]
    public void Hostile_bytes_fail_with_a_clear_cause_whatever_the_segmentation(byte[] bytes, string kind, string cause)
    {
        foreach (var (delivery, blocking) in Deliveries.SelectMany(d => new[] { (d, false), (d, true) }))
        {
            using var reader = Reader(bytes, delivery);

            var error = Assert.ThrowsAsync<MilterProtocolException>(async () => await reader.ReadAsync(FilterStage.Helo, "SMFIC_HELO reply", blocking, default))!;

            Assert.That(error.Kind.ToString(), Is.EqualTo(kind), $"delivery {delivery}");
            Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Helo, "SMFIC_HELO reply")));
            Assert.That(error.Cause, Does.Contain(cause));
        }
    }

    [Test]
    public void An_absurd_length_is_refused_before_anything_is_allocated()
    {
        using var reader = Reader([0xFF, 0xFF, 0xFF, 0xFF, (byte)'b'], int.MaxValue, maxPayload: int.MaxValue - 10);
        var before = GC.GetAllocatedBytesForCurrentThread();

        Assert.ThrowsAsync<MilterProtocolException>(async () => await reader.ReadAsync(FilterStage.Helo, "test", true, default));

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), "a 4 GiB length must not reach the allocator");
    }
}
