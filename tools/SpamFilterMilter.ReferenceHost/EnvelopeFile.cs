using System.Globalization;
using System.Net;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.ReferenceHost;

/// <summary>
/// The envelope of one message and the facts of its SMTP session, for the filter command: one item per line, <c>!</c>
/// starts a comment line; the items are listed at the top of etc/envelope.txt and in docs/host.md. Only <c>from</c> and
/// <c>to</c> are needed. Every other item is a fact an SMTP server would know, and a fact not given is not made up: the
/// plug-in derives its macros from those given, as from any host's.
/// </summary>
internal static class EnvelopeFile
{
    private const string Keywords = "source, client, client-port, client-ptr, server-address, server-port, server-name, helo, queue-id, macro, from or to";

    public static EnvelopeFileContent Load(string path)
    {
        var lines = File.ReadAllLines(path);
        var reader = new Reader(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Replace('\t', ' ').Trim(' ');
            if (line.Length == 0 || line.StartsWith('!'))
            {
                continue;
            }

            var blank = line.IndexOf(' ', StringComparison.Ordinal);
            var (keyword, rest) = blank < 0 ? (line, "") : (line[..blank], line[(blank + 1)..].Trim(' '));
            reader.Read(i + 1, keyword.ToLowerInvariant(), rest);
        }

        return reader.Content();
    }

    /// <summary>The items read so far, each checked as it is read.</summary>
    private sealed class Reader(string path)
    {
        private readonly HashSet<string> _seen = [];
        private readonly Dictionary<string, string> _channels = new(StringComparer.OrdinalIgnoreCase);
        private readonly List<EnvelopeRecipient> _recipients = [];
        private readonly Dictionary<string, string> _macros = new(StringComparer.Ordinal);
        private string? _source, _helo;
        private (string Address, IReadOnlyList<string> Parameters)? _from;
        private ClientInfo? _client;
        private int _line;
        private string _keyword = "";

        public void Read(int line, string keyword, string rest)
        {
            (_line, _keyword) = (line, keyword);
            if (keyword is not ("to" or "macro") && !_seen.Add(keyword))
            {
                throw Error("given twice");
            }

            switch (keyword)
            {
                case "source":
                    _source = OneWord(rest);
                    break;
                case "client":
                    var words = Words(rest, 1, 2);
                    Client(c => c with { Address = Address(words[0]), HostName = words.Length == 2 ? words[1] : null });
                    break;
                case "client-port":
                    Client(c => c with { Port = Port(rest) });
                    break;
                case "client-ptr":
                    Client(c => c with { PtrName = OneWord(rest) });
                    break;
                case "server-address":
                    Client(c => c with { ServerAddress = Address(OneWord(rest)) });
                    break;
                case "server-port":
                    Client(c => c with { ServerPort = Port(rest) });
                    break;
                case "server-name":
                    Client(c => c with { ServerName = OneWord(rest) });
                    break;
                case "helo":
                    _helo = OneWord(rest);
                    break;
                case "queue-id":
                    Macro(HostMacros.QueueId, OneWord(rest));
                    break;
                case "macro":
                    var (name, value) = Smtp(() => MacroArgument.Parse(rest));
                    Macro(name, value);
                    break;
                case "from":
                    _from = Smtp(() => EnvelopeArgument.Parse(rest));
                    break;
                case "to":
                    Recipient(rest);
                    break;
                default:
                    throw Error($"unknown keyword: expected {Keywords}");
            }
        }

        public EnvelopeFileContent Content()
        {
            if (_from is not { } from || _recipients.Count == 0)
            {
                throw new SpamFilterConfigurationException(path, 0, _from is null ? "from" : "to", "an envelope needs a from line and at least one to line");
            }

            if (_client is { Address: null } client && (client.Port != 0 || client.PtrName is not null))
            {
                throw new SpamFilterConfigurationException(path, 0, "client", "client-port and client-ptr need a client line (the client's address)");
            }

            return new EnvelopeFileContent(new Envelope(from.Address, from.Parameters, _recipients), _source, _channels, _client, _helo, _macros);
        }

        private void Client(Func<ClientInfo, ClientInfo> change) => _client = change(_client ?? new ClientInfo());

        /// <summary>RCPT TO's argument; the word after the path is the recipient's channel unless it is a parameter (holds '='), '-' for none.</summary>
        private void Recipient(string rest)
        {
            var (address, words) = Smtp(() => EnvelopeArgument.SplitPath(rest));
            if (address.Length == 0)
            {
                throw Error("the recipient is empty");
            }

            var channel = words.Count > 0 && !words[0].Contains('=', StringComparison.Ordinal) ? words[0] : null;
            var parameters = channel is null ? words : words.Skip(1).ToArray();
            if (parameters.Select(EnvelopeArgument.ParameterProblem).FirstOrDefault(p => p is not null) is { } problem)
            {
                throw Error(problem);
            }

            _recipients.Add(new EnvelopeRecipient(address, parameters));
            if (channel is not (null or "-"))
            {
                _channels[address] = channel;
            }
        }

        private void Macro(string name, string value)
        {
            if (!_macros.TryAdd(name, value))
            {
                throw Error($"macro {name} is given twice{(name == HostMacros.QueueId ? $" (queue-id gives {HostMacros.QueueId})" : "")}");
            }
        }

        /// <summary>An SMTP argument or a macro read, or a configuration error at this line saying what is wrong with it.</summary>
        private T Smtp<T>(Func<T> read)
        {
            try
            {
                return read();
            }
            catch (FormatException e)
            {
                throw Error(e.Message);
            }
        }

        private string OneWord(string rest) => Words(rest, 1, 1)[0];

        private string[] Words(string rest, int least, int most)
        {
            var words = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return words.Length >= least && words.Length <= most ? words
                : throw Error("wrong number of values (see the comment at the top of etc/envelope.txt)");
        }

        private IPAddress Address(string text) =>
            IPAddress.TryParse(text, out var address) ? address : throw Error($"\"{text}\" is not an IP address");

        private int Port(string rest) =>
            int.TryParse(OneWord(rest), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort ? port
            : throw Error($"\"{rest}\" is not a TCP port (0 to 65535)");

        private SpamFilterConfigurationException Error(string problem) => new(path, _line, _keyword, problem);
    }
}

/// <summary>What an envelope file says.</summary>
internal sealed record EnvelopeFileContent(Envelope Envelope, string? SourceChannel, IReadOnlyDictionary<string, string> Channels, ClientInfo? Client, string? HeloName,
    IReadOnlyDictionary<string, string> Macros)
{
    /// <summary>The message to filter: <paramref name="bytes"/> with this envelope, and only the facts and macros the file gives.</summary>
    public HostMessage ToMessage(byte[] bytes) => new()
    {
        Message = bytes,
        Envelope = Envelope,
        SourceChannel = SourceChannel,
        DestinationChannels = Channels,
        Client = Client,
        HeloName = HeloName,
        Macros = Macros.Count == 0 ? null : Macros,
    };
}
