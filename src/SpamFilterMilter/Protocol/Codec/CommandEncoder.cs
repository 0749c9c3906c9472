using System.Net;
using System.Net.Sockets;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// Writes the payloads of the MTA's commands, as sendmail and Postfix lay them out. Pure: it writes into the
/// packet the caller began and knows nothing of the connection or the session's state.
/// </summary>
internal static class CommandEncoder
{
    /// <summary>
    /// SMFIC_CONNECT: <c>hostname\0</c>, the family byte, then unless the family is U <c>uint16 port</c> and
    /// <c>address\0</c>. A client without a known name is named by its address in brackets, as sendmail does.
    /// </summary>
    public static void WriteConnect(PacketWriter writer, ClientInfo? client)
    {
        if (client is null)
        {
            writer.WriteCString("localhost");
            writer.WriteByte(MilterConstants.FamilyUnknown);
            return;
        }

        if (client.LocalSocketPath is { } path)
        {
            writer.WriteCString(client.HostName ?? "localhost");
            writer.WriteByte(MilterConstants.FamilyUnix);
            writer.WriteUInt16(0);
            writer.WriteCString(path);
            return;
        }

        if (client.Address is not { } address)
        {
            writer.WriteCString(client.HostName ?? "localhost");
            writer.WriteByte(MilterConstants.FamilyUnknown);
            return;
        }

        var ip = Unmapped(address);
        writer.WriteCString(client.HostName ?? $"[{ip}]");
        writer.WriteByte(ip.AddressFamily == AddressFamily.InterNetworkV6 ? MilterConstants.FamilyInet6 : MilterConstants.FamilyInet);
        writer.WriteUInt16((ushort)client.Port);
        writer.WriteCString(ip.ToString());
    }

    /// <summary>SMFIC_MAIL and SMFIC_RCPT: <c>"&lt;address&gt;"\0</c> then each ESMTP argument, <c>\0</c>-terminated.</summary>
    public static void WriteArgv(PacketWriter writer, string first, IReadOnlyList<string>? rest)
    {
        writer.WriteCString(first);
        if (rest is not null)
        {
            foreach (var argument in rest)
            {
                writer.WriteCString(argument);
            }
        }
    }

    /// <summary>
    /// SMFIC_HEADER: <c>name\0value\0</c>. The value is the exact bytes after the colon, 8-bit bytes as they are; unless
    /// the milter negotiated HDR_LEADSPC exactly one leading space is removed (sendmail, Postfix). Folded lines travel
    /// joined by a bare LF. Written straight into the packet, without building a string per header.
    /// </summary>
    public static void WriteHeader(PacketWriter writer, string name, RawText value, bool keepLeadingSpace)
    {
        writer.WriteCString(name);
        var bytes = value.Span;
        writer.WriteHeaderValue(!keepLeadingSpace && bytes.StartsWith((byte)' ') ? bytes[1..] : bytes);
    }

    /// <summary>The address of a connecting client as sendmail and Postfix put it in <c>{client_addr}</c> (IPv6 tagged).</summary>
    public static string ClientAddressMacro(IPAddress address)
    {
        var ip = Unmapped(address);
        return ip.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6:" + ip : ip.ToString();
    }

    /// <summary>An IPv4-mapped IPv6 address (<c>::ffff:192.0.2.1</c>) as the plain IPv4 address, as sendmail gives it to a milter; any other as it is.</summary>
    public static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
