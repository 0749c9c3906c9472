using System.Text;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Wire;

/// <summary>
/// How <see cref="PacketWriter"/> frames what it is given. Whole sessions' packets are checked against libmilter and
/// Postfix elsewhere (MilterSessionMacroTests, LibmilterContentTests); these pin the writer's own promises.
/// </summary>
public class PacketWriterTests
{
    [Test]
    public void A_pair_that_fits_is_written_as_two_NUL_terminated_UTF8_strings()
    {
        using var writer = new PacketWriter(maxPayload: 64);
        writer.Begin(MilterCommand.Macro);

        var written = writer.TryWriteCStringPair("{mail_addr}", "jörg@example.org");
        writer.End();

        Assert.That(written, Is.True);
        var payload = writer.Pending[5..].ToArray();
        Assert.That(payload, Is.EqualTo(Encoding.UTF8.GetBytes("{mail_addr}\0jörg@example.org\0")));
    }

    [TestCase(8, true, TestName = "A pair that exactly fills the payload limit is written")]
    [TestCase(7, false, TestName = "A pair one byte over the payload limit is left out whole and the packet is as it was")]
    public void A_pair_is_written_whole_or_not_at_all(int maxPayload, bool fits)
    {
        using var writer = new PacketWriter(maxPayload);
        writer.Begin(MilterCommand.Macro);
        writer.WriteByte((byte)'M');
        var before = writer.Pending.ToArray();

        var written = writer.TryWriteCStringPair("i", "ü12"); // 'M', then 'i' NUL, then 4 bytes of value and NUL: 8 bytes of payload

        Assert.That(written, Is.EqualTo(fits));
        Assert.That(writer.CurrentPayloadLength, Is.EqualTo(fits ? 8 : 1));
        if (!fits)
        {
            Assert.That(writer.Pending.ToArray(), Is.EqualTo(before), "nothing of the pair stays behind");
        }
    }

    [Test]
    public void A_pair_surely_too_long_is_refused_before_it_is_encoded_so_the_buffer_does_not_grow()
    {
        using var writer = new PacketWriter(maxPayload: 65535);
        writer.Begin(MilterCommand.Macro);
        writer.WriteByte((byte)'M');
        var before = writer.Pending.ToArray();
        var size = writer.BufferSize;

        var written = writer.TryWriteCStringPair("{x_big}", new string('a', 100_000)); // more chars than the payload allows

        Assert.That(written, Is.False);
        Assert.That(writer.Pending.ToArray(), Is.EqualTo(before), "nothing of the pair stays behind");
        Assert.That(writer.BufferSize, Is.EqualTo(size), "the value was never encoded into a grown buffer");
    }

    [Test]
    public void A_value_with_a_NUL_inside_is_refused_because_it_cannot_be_framed()
    {
        using var writer = new PacketWriter(maxPayload: 64);
        writer.Begin(MilterCommand.Macro);

        Assert.That(() => writer.TryWriteCStringPair("j", "a\0b"), Throws.ArgumentException);
    }
}
