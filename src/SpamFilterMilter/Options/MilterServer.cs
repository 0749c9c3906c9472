namespace SpamFilterMilter.Options;

/// <summary>
/// One milter server that HOST names: a host name or address with its port, or a UNIX-domain socket. A name stands for
/// one server however many addresses it resolves to: they are tried in DNS order when connecting, as with one HOST.
/// </summary>
internal sealed record MilterServer(string Host, int Port, string? UnixSocketPath)
{
    /// <summary>As log lines and metrics name it: <c>host:port</c>, <c>[v6]:port</c> or <c>unix:/path</c>.</summary>
    public string Name => UnixSocketPath is { } path ? "unix:" + path
        : Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>
    /// HOST's entries: one server, or several separated by commas, each <c>name</c>, <c>address</c>, <c>[IPv6]</c>,
    /// <c>unix:/path</c> (or <c>local:/path</c>), or any of the first three followed by <c>:port</c>, which overrides
    /// PORT for that server. An entry with two colons or more and no brackets is a bare IPv6 address, without a port.
    /// Throws <see cref="FormatException"/> naming what is wrong.
    /// </summary>
    public static IReadOnlyList<Entry> ParseList(string value)
    {
        if (value.Trim().Length == 0)
        {
            throw new FormatException("a host name or address is required");
        }

        var entries = new List<Entry>();
        foreach (var text in value.Split(','))
        {
            var entry = ParseEntry(text.Trim());
            if (entries.Any(e => e.Key == entry.Key))
            {
                throw new FormatException($"\"{entry.Key}\" is named twice");
            }

            entries.Add(entry);
        }

        return entries;
    }

    /// <summary>True when <paramref name="value"/> is more than HOST always was (one name or address without a port, or one socket).</summary>
    public static bool IsList(string value) => value.Contains(',', StringComparison.Ordinal) || SplitPort(value).Port is not null;

    private static Entry ParseEntry(string text)
    {
        if (text.Length == 0)
        {
            throw new FormatException("an entry of the list is empty (two commas in a row, or one at an end)");
        }

        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase) || text.StartsWith("local:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..];
            return !path.StartsWith('/') ? throw new FormatException($"\"{path}\" is not an absolute socket path")
                : System.Text.Encoding.UTF8.GetByteCount(path) > MaxSocketPathBytes
                    ? throw new FormatException($"the socket path is {System.Text.Encoding.UTF8.GetByteCount(path)} bytes long; a UNIX-domain socket path holds at most {MaxSocketPathBytes}")
                    : new Entry(text, null, path);
        }

        var (host, port) = SplitPort(text);
        if (port is { } written && (!int.TryParse(written, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535))
        {
            throw new FormatException($"\"{text}\": the port \"{written}\" is not a whole number from 1 to 65535");
        }

        return new Entry(ParseHost(host), port is null ? null : int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), null);
    }

    /// <summary><c>host:port</c> or <c>[v6]:port</c> apart; a bare IPv6 address (two colons or more) has no port.</summary>
    private static (string Host, string? Port) SplitPort(string text)
    {
        if (text.StartsWith('[') && text.IndexOf("]:", StringComparison.Ordinal) is > 0 and var close)
        {
            return (text[..(close + 1)], text[(close + 2)..]);
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon == text.LastIndexOf(':') && !text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase)
            && !text.StartsWith("local:", StringComparison.OrdinalIgnoreCase)
            ? (text[..colon], text[(colon + 1)..])
            : (text, null);
    }

    /// <summary>The longest name DNS takes (RFC 1035: 255 octets on the wire, 253 characters written).</summary>
    private const int MaxHostNameLength = 253;

    /// <summary>Linux's sun_path holds 108 bytes, the terminating NUL included.</summary>
    internal const int MaxSocketPathBytes = 107;

    /// <summary>A host name or address as HOST and SOCKS_HOST take it; an IPv6 literal may be bracketed, and is stored bare.</summary>
    internal static string ParseHost(string value)
    {
        if (value.Length == 0)
        {
            throw new FormatException("a host name or address is required");
        }

        if (value.Any(char.IsWhiteSpace))
        {
            throw new FormatException($"\"{value}\" is not a host name: it contains white space");
        }

        if (value.Length > MaxHostNameLength)
        {
            throw new FormatException($"a host name is at most {MaxHostNameLength} characters; this one has {value.Length}");
        }

        var host = value is ['[', .., ']'] ? value[1..^1] : value;
        if ((host.Contains(':', StringComparison.Ordinal) || host.Length != value.Length)
            && !(System.Net.IPAddress.TryParse(host, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6))
        {
            // A name has no colon; with two colons or more the text was read as an IPv6 address, and it is none.
            throw new FormatException($"\"{value}\" is neither a host name nor an IPv6 address (an IPv6 address with a port is written [address]:port)");
        }

        return host;
    }

    /// <summary>One entry of HOST: a host with its own port or none (PORT then), or a socket path.</summary>
    internal readonly record struct Entry(string Host, int? Port, string? UnixSocketPath)
    {
        /// <summary>What makes two entries the same server, for refusing one named twice.</summary>
        public string Key => UnixSocketPath ?? (Port is { } port ? $"{Host}:{port}" : Host);
    }
}
