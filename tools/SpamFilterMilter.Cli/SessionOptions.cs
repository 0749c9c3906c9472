using System.CommandLine;
using System.Globalization;
using System.Net;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Cli;

/// <summary>
/// What check tells the milter an SMTP server saw, as options: the envelope in SMTP's own form (<c>--from '&lt;a@example.com&gt;
/// BODY=8BITMIME'</c>, <c>--to '&lt;b@example.org&gt; NOTIFY=SUCCESS'</c>), the client and the server it connected to
/// (<see cref="ClientInfo"/>'s facts, from which the plug-in derives its macros), HELO, and macros that override the
/// derived ones. A malformed value is a usage error naming the option, found before anything is sent.
/// </summary>
internal sealed class SessionOptions
{
    private readonly Option<string?> _from = new("--from")
    {
        Description = "Envelope sender as MAIL FROM's argument: the address, then ESMTP parameters, e.g. '<a@example.com> BODY=8BITMIME SIZE=12' (default: the From field's address).",
    };

    private readonly Option<string[]> _to = new("--to")
    {
        Description = "Envelope recipient as RCPT TO's argument, e.g. '<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;b@example.org' (repeatable; default: the To and Cc fields' addresses).",
    };

    private readonly Option<string> _clientAddress = new("--client-address") { Description = "SMTP client IP address.", DefaultValueFactory = _ => "192.0.2.1" };
    private readonly Option<string?> _clientName = new("--client-name") { Description = "SMTP client's verified host name (default: none: CONNECT sends [address], {client_name} is unknown, _ is unknown [address])." };
    private readonly Option<string?> _clientPtr = new("--client-ptr") { Description = "SMTP client's PTR name when it differs from --client-name (without --client-name: a name that did not confirm)." };
    private readonly Option<int> _clientPort = new("--client-port") { Description = "SMTP client port.", DefaultValueFactory = _ => 25 };
    private readonly Option<string?> _serverAddress = new("--server-address") { Description = "The server address the client connected to (macro {daemon_addr}; default: none)." };
    private readonly Option<int> _serverPort = new("--server-port") { Description = "The server port the client connected to (macro {daemon_port}; default: none)." };
    private readonly Option<string?> _serverName = new("--server-name") { Description = "The server's host name (macros j and {daemon_name}; default: this machine's name)." };
    private readonly Option<string?> _helo = new("--helo") { Description = "HELO/EHLO name (default: the client name, or none)." };

    private readonly Option<string[]> _macros = new("--macro")
    {
        Description = "A macro the milter may ask for, NAME=VALUE (repeatable), e.g. --macro i=4XyZ1 or --macro '{auth_authen}=alice'; wins over the value the plug-in derives.",
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _from, _to, _clientAddress, _clientName, _clientPtr, _clientPort, _serverAddress, _serverPort, _serverName, _helo, _macros })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The facts the options give, checked; throws <see cref="ArgumentException"/> naming a malformed option.</summary>
    public SessionFacts Resolve(ParseResult result)
    {
        var from = result.GetValue(_from) is { } sender ? Path("--from", sender) : default((string Address, IReadOnlyList<string> Parameters)?);
        var to = (result.GetValue(_to) ?? []).Select(text => Path("--to", text) is var path && path.Address.Length > 0 ? path
            : throw new ArgumentException($"--to {LogText.Quote(text)}: the recipient is empty")).ToList();
        var client = new ClientInfo
        {
            Address = Address("--client-address", result.GetValue(_clientAddress)!),
            Port = Port("--client-port", result.GetValue(_clientPort)),
            HostName = result.GetValue(_clientName),
            PtrName = result.GetValue(_clientPtr),
            ServerAddress = result.GetValue(_serverAddress) is { } server ? Address("--server-address", server) : null,
            ServerPort = Port("--server-port", result.GetValue(_serverPort)),
            ServerName = result.GetValue(_serverName),
        };
        return new SessionFacts(client, result.GetValue(_helo) ?? client.HostName, Macros(result.GetValue(_macros) ?? []),
            from, [.. to.Select(t => new EnvelopeRecipient(t.Address, t.Parameters))]);
    }

    private static (string Address, IReadOnlyList<string> Parameters) Path(string option, string text) => Checked(option, () => EnvelopeArgument.Parse(text));

    /// <summary>What <paramref name="read"/> reads, or a usage error naming <paramref name="option"/> and saying what is wrong.</summary>
    private static T Checked<T>(string option, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{option}: {e.Message}", e);
        }
    }

    private static IPAddress Address(string option, string text) =>
        IPAddress.TryParse(text, out var address) ? address : throw new ArgumentException($"{option}: {LogText.Quote(text)} is not an IP address");

    private static int Port(string option, int port) =>
        port is >= 0 and <= IPEndPoint.MaxPort ? port : throw new ArgumentException($"{option}: {port.ToString(CultureInfo.InvariantCulture)} is not a TCP port (0 to 65535)");

    private static Dictionary<string, string> Macros(string[] macros)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var macro in macros)
        {
            var (name, value) = Checked("--macro " + macro, () => MacroArgument.Parse(macro));
            if (!values.TryAdd(name, value))
            {
                throw new ArgumentException($"--macro {name}: given twice.");
            }
        }

        return values;
    }
}

/// <summary>What check tells the milter, checked: the connection facts, HELO, macros, and the envelope the options give.</summary>
/// <param name="From">--from's address and parameters; null: the message's From field.</param>
/// <param name="To">--to's recipients; none: the message's To and Cc fields.</param>
internal sealed record SessionFacts(ClientInfo Client, string? Helo, IReadOnlyDictionary<string, string> Macros,
    (string Address, IReadOnlyList<string> Parameters)? From, IReadOnlyList<EnvelopeRecipient> To)
{
    /// <summary>The envelope: the options' sender and recipients with their parameters, else those of <paramref name="message"/>'s own fields.</summary>
    public Envelope EnvelopeOf(ReadOnlySpan<byte> message)
    {
        var fromMessage = Envelopes.FromMessage(message, From?.Address, [.. To.Select(t => t.Address)]);
        return new Envelope(fromMessage.MailFrom, From?.Parameters, To.Count > 0 ? To : fromMessage.Recipients);
    }
}
