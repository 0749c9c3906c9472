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
    /// How long a header field may be when a milter is in use, name and colon included, folds counted as one LF: Postfix
    /// lowers <c>header_size_limit</c> to 60,000 then (cleanup_message.c <c>KLUDGE_HEADER_LIMIT</c>, "so that we don't
    /// exceed the default Sendmail libmilter request size limit of 65535"), so that no SMFIC_HEADER is larger than
    /// libmilter takes.
    /// </summary>
    public const int PostfixHeaderLimit = 60_000;

    /// <summary>
    /// <paramref name="value"/> as Postfix's cleanup keeps it when <c>name:value</c> is longer than
    /// <see cref="PostfixHeaderLimit"/> (cleanup_out.c <c>cleanup_out_header</c>, whose result is what milter8.c sends):
    /// the field is cut at the start of its first line that would end past the limit when that line starts past 90% of
    /// it ("nice cut": whole lines kept, the line break before the cut dropped), else at the limit itself ("unkind
    /// cut"). A shorter field is returned as it is; a cut one with its folds as bare LF (the wire's form).
    /// </summary>
    public static RawText CutLikePostfix(string name, RawText value)
    {
        var prefix = System.Text.Encoding.UTF8.GetByteCount(name) + 1; // "name:" starts Postfix's header buffer
        if (prefix + value.Length <= PostfixHeaderLimit)
        {
            return value; // the LF form is never longer than the bytes as they are
        }

        var lf = new List<byte>(value.Length);
        var bytes = value.Span;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'\r' && i + 1 < bytes.Length && bytes[i + 1] == (byte)'\n')
            {
                continue; // a CRLF fold travels as LF
            }

            lf.Add(bytes[i]);
        }

        var end = prefix + lf.Count; // where Postfix's buffer ends
        var lineStart = 0;
        while (lineStart <= end)
        {
            var next = lineStart < prefix ? lf.IndexOf((byte)'\n') : lf.IndexOf((byte)'\n', lineStart - prefix);
            var lineEnd = next < 0 ? end : prefix + next;
            if (lineEnd > PostfixHeaderLimit)
            {
                end = lineStart > 0.9 * PostfixHeaderLimit ? lineStart - 1 : PostfixHeaderLimit;
                break;
            }

            lineStart = lineEnd + 1;
        }

        return new RawText(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(lf)[..Math.Max(0, Math.Min(end, prefix + lf.Count) - prefix)]);
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
