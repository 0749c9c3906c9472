using System.Buffers.Binary;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Codec;

/// <summary>
/// <see cref="BodyPacketizer"/> on its own: body bytes in, SMFIC_BODY packets out, driven as the session drives it
/// (fill, send each full packet, send the last one at the end of the message). What reaches a milter over a socket
/// is MilterSessionEventTests'.
/// </summary>
public class BodyPacketizerTests
{
    /// <summary>Packetizes <paramref name="chunks"/> as one message; returns each packet's payload.</summary>
    private static List<byte[]> Packetize(int maxPayload, params byte[][] chunks)
    {
        using var writer = new PacketWriter(maxPayload);
        var body = new BodyPacketizer();
        var sent = new MemoryStream();
        foreach (var chunk in chunks)
        {
            var remaining = chunk.AsSpan();
            while (!remaining.IsEmpty)
            {
                remaining = remaining[body.Fill(writer, remaining)..];
                if (body.IsFull(writer))
                {
                    body.Close(writer);
                    Send(writer, sent);
                }
            }
        }

        if (body.IsOpen)
        {
            body.Close(writer);
            Send(writer, sent);
        }

        return Payloads(sent.ToArray());
    }

    /// <summary>What the session's flush does: the pending bytes go out, the writer is empty again.</summary>
    private static void Send(PacketWriter writer, MemoryStream sent)
    {
        sent.Write(writer.Pending);
        writer.Clear();
    }

    /// <summary>Splits written bytes into packets, checking each is SMFIC_BODY.</summary>
    private static List<byte[]> Payloads(byte[] bytes)
    {
        var payloads = new List<byte[]>();
        for (var at = 0; at < bytes.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at));
            Assert.That((char)bytes[at + 4], Is.EqualTo('B'), "every packet is SMFIC_BODY");
            payloads.Add(bytes[(at + 5)..(at + 4 + length)]);
            at += 4 + length;
        }

        return payloads;
    }

    private static string Text(IEnumerable<byte[]> packets) => Encoding.ASCII.GetString(packets.SelectMany(p => p).ToArray());

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    [TestCase("a\nb\n", "a\r\nb\r\n")]
    [TestCase("a\r\nb\r\n", "a\r\nb\r\n")]          // CRLF stays CRLF
    [TestCase("\n\n\n", "\r\n\r\n\r\n")]
    [TestCase("a\rb\r", "a\rb\r")]                  // a bare CR is not a line end: left alone
    [TestCase("a\r\r\nb", "a\r\r\nb")]
    [TestCase("no line end", "no line end")]
    public void A_bare_LF_becomes_CRLF_and_nothing_else_changes(string body, string sent)
    {
        Assert.That(Text(Packetize(65535, Ascii(body))), Is.EqualTo(sent));
    }

    [TestCase("line\r", "\nnext", "line\r\nnext")]  // the CR of this CRLF came in the chunk before
    [TestCase("line", "\nnext", "line\r\nnext")]
    [TestCase("a\r", "b\n", "a\rb\r\n")]
    public void A_line_end_split_between_the_hosts_chunks_is_seen_whole(string first, string second, string sent)
    {
        Assert.That(Text(Packetize(65535, Ascii(first), Ascii(second))), Is.EqualTo(sent));
    }

    [Test]
    public void Every_packet_but_the_last_is_exactly_the_largest_size_the_milter_accepts()
    {
        var body = new byte[25];
        body.AsSpan().Fill((byte)'x');

        var packets = Packetize(10, body[..3], body[3..17], body[17..]);

        Assert.That(packets.Select(p => p.Length), Is.EqualTo(new[] { 10, 10, 5 }));
    }

    [Test]
    public void The_CR_a_bare_LF_gets_may_end_one_packet_and_the_LF_start_the_next()
    {
        var packets = Packetize(5, Ascii("abcd\nef"));

        Assert.That(packets.Select(p => Encoding.ASCII.GetString(p)), Is.EqualTo(new[] { "abcd\r", "\nef" }));
    }

    [Test]
    public void A_CRLF_already_there_may_be_split_between_packets_too()
    {
        var packets = Packetize(5, Ascii("abcd\r\nef"));

        Assert.That(packets.Select(p => Encoding.ASCII.GetString(p)), Is.EqualTo(new[] { "abcd\r", "\nef" }));
    }

    [TestCase(3)]
    [TestCase(7)]
    [TestCase(64)]
    [TestCase(65535)]
    public void One_byte_at_a_time_gives_the_same_packets_as_one_chunk(int maxPayload)
    {
        var body = Ascii(string.Concat(Enumerable.Range(0, 40).Select(i => (i % 4) switch
        {
            0 => $"line {i}\n",
            1 => $"crlf {i}\r\n",
            2 => $"cr {i}\r",
            _ => "\n\n",
        })));

        var whole = Packetize(maxPayload, body);
        var bytewise = Packetize(maxPayload, [.. body.Select(b => new[] { b })]);

        Assert.That(bytewise, Is.EqualTo(whole));
        Assert.That(Text(whole), Is.EqualTo(Encoding.ASCII.GetString(body).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal)));
        Assert.That(whole.SkipLast(1).Select(p => p.Length), Has.All.EqualTo(maxPayload));
    }

    [Test]
    public void Reset_forgets_a_CR_that_ended_the_last_message()
    {
        using var writer = new PacketWriter(65535);
        var body = new BodyPacketizer();
        body.Fill(writer, Ascii("x\r"));
        body.Cancel(writer);

        body.Reset();
        body.Fill(writer, Ascii("\ny"));
        body.Close(writer);

        Assert.That(Encoding.ASCII.GetString(Payloads(writer.Pending.ToArray()).Single()), Is.EqualTo("\r\ny"), "a new message: its first LF gets its CR");
    }

    [Test]
    public void Cancel_drops_the_open_packet_and_leaves_what_was_pending_before()
    {
        using var writer = new PacketWriter(65535);
        writer.Begin(MilterCommand.Abort);
        writer.End();
        var before = writer.Pending.ToArray();
        var body = new BodyPacketizer();

        body.Fill(writer, Ascii("half a body"));
        body.Cancel(writer);

        Assert.That((body.IsOpen, writer.Pending.ToArray()), Is.EqualTo((false, before)));
    }
}
