using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SmtpServer;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The server's own <c>Received:</c> field (RFC 5321 §4.4), written as Postfix's smtpd writes its own:
/// <code>
/// Received: from client.example (unknown [192.0.2.1])
///         by mx.example.com (SpamFilterMilter) with ESMTP id 3F2A9C41D07B;
///         Thu, 21 Aug 2026 10:00:00 +0000 (UTC)
/// </code>
/// <c>ESMTP</c> after EHLO, <c>SMTP</c> after HELO; an <c>S</c> is added on a TLS connection and an <c>A</c> for an
/// authenticated client (RFC 3848). The client's name is the one looked up for its address (ClientNameLookup), else
/// <c>unknown</c>, as Postfix writes a client whose address has no name; after a MAIL that came without HELO it stands in
/// the HELO name's place too, as in Postfix's (<c>helo_name ? helo_name : name</c>).
/// </summary>
internal static class TraceField
{
    /// <summary>A new message id: 12 hexadecimal digits.</summary>
    public static string NewQueueId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(6));

    public static byte[] Write(ISessionContext context, ClientInfo client, string? heloName, bool esmtp, string queueId)
    {
        var protocol = (esmtp ? "ESMTP" : "SMTP")
            + (context.Pipe?.IsSecure == true ? "S" : string.Empty)
            + (context.Authentication.IsAuthenticated ? "A" : string.Empty);
        var date = DateTimeOffset.UtcNow.ToString("ddd, d MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture);
        return Encoding.UTF8.GetBytes(
            $"Received: from {heloName ?? client.HostName ?? "unknown"} ({client.HostName ?? "unknown"} {AddressLiteral(client.Address)})\r\n"
            + $"\tby {context.ServerOptions.ServerName} (SpamFilterMilter) with {protocol} id {queueId};\r\n"
            + $"\t{date} (UTC)\r\n");
    }

    private static string AddressLiteral(IPAddress? address) => address switch
    {
        null => "[unknown]",
        { AddressFamily: AddressFamily.InterNetworkV6 } => $"[IPv6:{address}]",
        _ => $"[{address}]",
    };
}
