using System.Buffers.Binary;
using System.Text;

namespace SpamFilterMilter.Testing;

/// <summary>
/// Builds and splits raw milter packets for tests, independently of the code under test:
/// <c>uint32 length (code + payload), code, payload</c>.
/// </summary>
public static class Raw
{
    public static byte[] Packet(char code, params byte[][] parts)
    {
        var payload = parts.SelectMany(p => p).ToArray();
        var packet = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(packet, (uint)(1 + payload.Length));
        packet[4] = (byte)code;
        payload.CopyTo(packet, 5);
        return packet;
    }

    public static byte[] CString(string text) => [.. Encoding.UTF8.GetBytes(text), 0];

    /// <summary>A big-endian uint32, as the protocol writes numbers.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Named after the wire type it writes.")]
    public static byte[] UInt32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>An OPTNEG reply: version, actions, protocol, then optional macro lists (stage, names).</summary>
    public static byte[] OptNeg(uint version, uint actions, uint protocol, params (uint Stage, string Names)[] lists) =>
        Packet('O', [UInt32(version), UInt32(actions), UInt32(protocol), .. lists.SelectMany(l => new[] { UInt32(l.Stage), CString(l.Names) })]);

    public static byte[] Concat(params byte[][] packets) => packets.SelectMany(p => p).ToArray();

    /// <summary>Splits a NUL-separated payload into its strings (the last NUL ends the last string).</summary>
    public static string[] Strings(byte[] payload)
    {
        var text = Encoding.UTF8.GetString(payload);
        if (text.EndsWith('\0'))
        {
            text = text[..^1];
        }

        return text.Split('\0');
    }
}
