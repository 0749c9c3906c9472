using System.Buffers.Binary;
using System.Text;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// Renders one packet for the DEBUG=2 traffic log: its libmilter name, length, decoded fields and a
/// hex dump. Only called when traffic logging is on, so it may allocate freely.
/// </summary>
internal static class PacketFormatter
{
    private const int MaxDumpBytes = 512;

    public static string Describe(MilterCommand command, ReadOnlySpan<byte> payload) =>
        Render(MilterNames.Name(command), DecodeCommand(command, payload), payload);

    public static string Describe(MilterReply reply, ReadOnlySpan<byte> payload) =>
        Render(MilterNames.Name(reply), DecodeReply(reply, payload), payload);

    /// <summary>Splits a run of written packets (length, code, payload …) and describes each.</summary>
    public static IEnumerable<string> DescribeWritten(ReadOnlyMemory<byte> packets)
    {
        var offset = 0;
        while (offset + 5 <= packets.Length)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(packets.Span[offset..]);
            var command = (MilterCommand)packets.Span[offset + 4];
            yield return Describe(command, packets.Span.Slice(offset + 5, Math.Max(0, length - 1)));
            offset += 4 + length;
        }
    }

    private static string Render(string name, string decoded, ReadOnlySpan<byte> payload)
    {
        var text = new StringBuilder();
        text.Append(name).Append(" len=").Append(payload.Length + 1);
        if (decoded.Length > 0)
        {
            text.Append(' ').Append(decoded);
        }

        if (payload.Length > 0)
        {
            text.Append(" | ").Append(Convert.ToHexString(payload[..Math.Min(payload.Length, MaxDumpBytes)]).ToLowerInvariant());
            if (payload.Length > MaxDumpBytes)
            {
                text.Append("…(+").Append(payload.Length - MaxDumpBytes).Append(" bytes)");
            }
        }

        return text.ToString();
    }

    private static string DecodeCommand(MilterCommand command, ReadOnlySpan<byte> p) => command switch
    {
        MilterCommand.OptionNegotiation when p.Length >= 12 => Words(p),
        MilterCommand.Macro when p.Length >= 1 => $"for '{(char)p[0]}' {Strings(p[1..])}",
        MilterCommand.Connect => DecodeConnect(p),
        MilterCommand.Body => $"{p.Length} body bytes",
        MilterCommand.Abort or MilterCommand.Quit or MilterCommand.QuitNewConnection or MilterCommand.Data
            or MilterCommand.EndOfHeaders or MilterCommand.EndOfBody => string.Empty,
        _ => Strings(p),
    };

    private static string DecodeReply(MilterReply reply, ReadOnlySpan<byte> p) => reply switch
    {
        MilterReply.OptionNegotiation when p.Length >= 12 => Words(p) + (p.Length > 12 ? " lists " + Strings(p[12..]) : string.Empty),
        MilterReply.InsertHeader or MilterReply.ChangeHeader when p.Length >= 4 =>
            $"index={BinaryPrimitives.ReadUInt32BigEndian(p)} {Strings(p[4..])}",
        MilterReply.ReplaceBody => $"{p.Length} body bytes",
        _ => Strings(p),
    };

    /// <summary>hostname\0, family, then (unless family U) uint16 port and address\0.</summary>
    private static string DecodeConnect(ReadOnlySpan<byte> p)
    {
        var nul = p.IndexOf((byte)0);
        if (nul < 0 || nul + 1 >= p.Length)
        {
            return Strings(p);
        }

        var text = $"{Strings(p[..(nul + 1)])} family={(char)p[nul + 1]}";
        var rest = p[(nul + 2)..];
        return rest.Length >= 2
            ? $"{text} port={BinaryPrimitives.ReadUInt16BigEndian(rest)} address={Strings(rest[2..])}"
            : text;
    }

    private static string Words(ReadOnlySpan<byte> p) =>
        $"version={BinaryPrimitives.ReadUInt32BigEndian(p)} actions={MilterNames.Describe((ActionFlags)BinaryPrimitives.ReadUInt32BigEndian(p[4..]))} " +
        $"steps={MilterNames.Describe((ProtocolFlags)BinaryPrimitives.ReadUInt32BigEndian(p[8..]))}";

    /// <summary>NUL-separated strings, quoted and escaped.</summary>
    private static string Strings(ReadOnlySpan<byte> p)
    {
        var text = new StringBuilder();
        var start = 0;
        for (var i = 0; i <= p.Length; i++)
        {
            if (i == p.Length || p[i] == 0)
            {
                if (i == p.Length && start == i)
                {
                    break;
                }

                if (text.Length > 0)
                {
                    text.Append(' ');
                }

                text.Append('"');
                foreach (var b in p[start..i])
                {
                    text.Append(b switch
                    {
                        (byte)'"' => "\\\"",
                        (byte)'\\' => "\\\\",
                        (byte)'\r' => "\\r",
                        (byte)'\n' => "\\n",
                        (byte)'\t' => "\\t",
                        < 0x20 or >= 0x7F => $"\\x{b:x2}",
                        _ => ((char)b).ToString(),
                    });
                }

                text.Append('"');
                start = i + 1;
            }
        }

        return text.ToString();
    }
}
