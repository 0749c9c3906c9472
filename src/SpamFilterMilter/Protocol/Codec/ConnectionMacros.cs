using System.Globalization;
using System.Net;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// The macros an MTA derives from the connection, with Postfix's values (smtpd_milter.c): who the client is
/// (<c>_</c>, <c>{client_*}</c>), who the server is (<c>j</c>, <c>{daemon_*}</c>, <c>v</c>) and, as sendmail has them,
/// <c>{if_name}</c> and <c>{if_addr}</c>. A client without an IP address (a UNIX-domain socket, or no SMTP at all) is
/// the local host, as Postfix makes it: <c>localhost [127.0.0.1]</c>. Whether each goes out is the stage's list's
/// business (<see cref="MacroLists"/>).
/// </summary>
internal static class ConnectionMacros
{
    private const string Unknown = "unknown";
    private const string LocalName = "localhost";
    private const string LocalAddress = "127.0.0.1";

    /// <summary>The name of this machine, for <c>j</c> and <c>{daemon_name}</c> when the host names no server (Postfix: <c>$myhostname</c>).</summary>
    public static string DefaultServerName => LazyServerName.Value;

    private static readonly Lazy<string> LazyServerName = new(() =>
    {
        try
        {
            return Dns.GetHostName() is { Length: > 0 } name ? name : LocalName;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return LocalName;
        }
    });

    /// <summary>The MTA as <c>v</c> names it (Postfix: <c>$mail_name $mail_version</c>): this plug-in and its version.</summary>
    public static string Version { get; } =
        "SpamFilterMilter " + (typeof(ConnectionMacros).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    /// <summary>Each macro and its value (null: none, the macro is not sent) for a connection from <paramref name="client"/>.</summary>
    public static IEnumerable<(string Name, string? Value)> Of(ClientInfo? client)
    {
        var ip = client?.Address is { } address ? CommandEncoder.Unmapped(address) : null;
        var local = ip is null;
        var name = client?.HostName ?? (local ? LocalName : Unknown); // the verified name
        var ptr = client?.PtrName ?? name;                              // what the address maps to, verified or not
        var addr = ip?.ToString() ?? LocalAddress;
        var forged = !string.Equals(name, ptr, StringComparison.OrdinalIgnoreCase);

        // Postfix: "%s [%s]" of the PTR name (or unknown) and the bare address, " (may be forged)" when the verified
        // name differs. sendmail would write "[addr]" alone for a client without a PTR name: see docs/options.md.
        yield return (MacroNames.Client, $"{ptr} [{addr}]{(forged ? " (may be forged)" : string.Empty)}");
        yield return (MacroNames.ClientAddress, ip is null ? LocalAddress : CommandEncoder.ClientAddressMacro(ip));
        yield return (MacroNames.ClientPort, (local ? 0 : client!.Port).ToString(CultureInfo.InvariantCulture));
        yield return (MacroNames.ClientName, name);
        yield return (MacroNames.ClientPtr, ptr);
        yield return (MacroNames.ClientResolve, local || client!.HostName is not null ? "OK"
            : client.NameLookupFailedTemporarily ? "TEMP" // before FORGED: Postfix's status for a forward lookup that failed for now
            : client.PtrName is not null ? "FORGED" : "FAIL");

        var serverName = client?.ServerName ?? DefaultServerName;
        yield return (MacroNames.MtaName, serverName);
        yield return (MacroNames.DaemonName, serverName);
        yield return (MacroNames.MtaVersion, Version);

        var server = client?.ServerAddress is { } serverAddress ? CommandEncoder.Unmapped(serverAddress) : null;
        yield return (MacroNames.DaemonAddress, server?.ToString() ?? (local ? LocalAddress : null));
        yield return (MacroNames.DaemonPort, client?.ServerPort is int port and > 0 ? port.ToString(CultureInfo.InvariantCulture) : local ? "0" : null);

        // sendmail: the interface the client came in on, its address only when it is not the loopback.
        yield return (MacroNames.InterfaceName, serverName);
        yield return (MacroNames.InterfaceAddress, server is null || IPAddress.IsLoopback(server) ? null : CommandEncoder.ClientAddressMacro(server));
    }
}
