using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// The channels the MTA routes through, with their spam-filter keywords, read from an imta.cnf-style
/// channel table: each channel is a block of lines separated from the next by a blank line; the first
/// line is the channel name followed by its keywords (a trailing <c>\</c> continues it on the next line);
/// the next line, the channel's official host name, is optional and not used; <c>!</c> starts a comment
/// line. Keywords that are not spam-filter keywords belong to the MTA and are skipped. A malformed
/// spam-filter keyword, or one on the <c>defaults</c> channel (which is not read), is a
/// <see cref="SpamFilterConfigurationException"/> naming the file and line. A table read from a file is read again by
/// <see cref="Running.SpamFilterHost.ReloadAsync"/>; one built in code stays as it is.
/// </summary>
public sealed partial class ChannelTable
{
    private static readonly IReadOnlyDictionary<string, string> NoKeywords = new Dictionary<string, string>();
    private readonly Dictionary<string, ChannelDefinition> _channels;

    /// <summary>Creates a table from definitions built in code.</summary>
    public ChannelTable(IEnumerable<ChannelDefinition> channels)
        : this(channels, filePath: null)
    {
    }

    private ChannelTable(IEnumerable<ChannelDefinition> channels, string? filePath)
    {
        ArgumentNullException.ThrowIfNull(channels);
        FilePath = filePath;
        _channels = new Dictionary<string, ChannelDefinition>(StringComparer.OrdinalIgnoreCase);
        foreach (var channel in channels)
        {
            if (!_channels.TryAdd(channel.Name, channel))
            {
                throw new ArgumentException($"Channel {channel.Name} is defined twice.", nameof(channels));
            }
        }
    }

    /// <summary>A table with no channels: no channel opts anything in or out.</summary>
    public static ChannelTable Empty { get; } = new([]);

    /// <summary>The file the table was read from (its full path), or null for one built in code.</summary>
    public string? FilePath { get; }

    /// <summary>The channels, in no particular order.</summary>
    public IReadOnlyCollection<ChannelDefinition> Channels => _channels.Values;

    /// <summary>The channel named <paramref name="name"/>, or null (an unknown channel has no spam-filter keywords).</summary>
    public ChannelDefinition? Find(string? name) => name is null ? null : _channels.GetValueOrDefault(name);

    /// <summary>Reads the channel table at <paramref name="path"/>.</summary>
    public static ChannelTable Load(string path)
    {
        var (fullPath, lines) = ConfigurationFile.ReadLines(path, "channel table");

        var channels = new List<ChannelDefinition>();
        var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var inBlock = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var text = lines[i].Trim();
            if (text.Length == 0)
            {
                inBlock = false;
                continue;
            }

            if (text[0] == '!' || inBlock)
            {
                continue; // a comment, or the official host name line
            }

            // The channel line and its continuations.
            var first = i + 1;
            var words = new List<(string Word, int Line)>();
            while (true)
            {
                var continued = text.EndsWith('\\');
                foreach (var word in (continued ? text[..^1] : text).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    words.Add((word, i + 1));
                }

                if (!continued || i + 1 >= lines.Length)
                {
                    break;
                }

                text = lines[++i].Trim();
            }

            inBlock = true;
            if (words.Count == 0)
            {
                continue;
            }

            if (words[0].Word.Equals("defaults", StringComparison.OrdinalIgnoreCase))
            {
                // The defaults block of a full imta.cnf is not read: a spam-filter keyword there would be
                // silently without effect, so it is an error.
                var keyword = words.Skip(1).FirstOrDefault(w => KeywordStart().IsMatch(w.Word.ToLowerInvariant()));
                if (keyword.Word is not null)
                {
                    throw new SpamFilterConfigurationException(fullPath, keyword.Line, keyword.Word,
                        "spam-filter keywords are not read from the defaults channel: put them on each channel");
                }

                continue;
            }

            var channel = new ChannelDefinition(words[0].Word, first);
            if (!names.TryAdd(channel.Name, first))
            {
                throw new SpamFilterConfigurationException(fullPath, first, null, $"channel {channel.Name} is already defined at line {names[channel.Name]}");
            }

            ReadKeywords(fullPath, channel, words);
            channels.Add(channel);
        }

        return new ChannelTable(channels, fullPath);
    }

    /// <summary>Reads the table again from <see cref="FilePath"/>, as a reload does; a table built in code is itself.</summary>
    internal ChannelTable Reread() => FilePath is null ? this : Load(FilePath);

    /// <summary>
    /// What changed from <paramref name="before"/> in the channels' spam-filter keywords, one line per keyword added,
    /// removed or given other values, e.g. <c>/etc/relay.cnf: channel tcp_relay: sourcespamfilter2 added</c>. A channel
    /// with no spam-filter keyword is as good as absent: the MTA's own keywords are not compared.
    /// </summary>
    internal IEnumerable<string> ChangesFrom(ChannelTable before)
    {
        var file = FilePath ?? before.FilePath ?? "channel table";
        var names = before._channels.Keys.Union(_channels.Keys, StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.OrdinalIgnoreCase);
        foreach (var name in names)
        {
            var (earlier, current) = (before.Find(name), Find(name));
            var was = earlier?.Keywords() ?? NoKeywords;
            var now = current?.Keywords() ?? NoKeywords;
            var shown = (current ?? earlier)!.Name;
            foreach (var (key, keyword) in now)
            {
                if (!was.TryGetValue(key, out var old))
                {
                    yield return $"{file}: channel {shown}: {keyword} added";
                }
                else if (!string.Equals(old, keyword, StringComparison.OrdinalIgnoreCase))
                {
                    yield return $"{file}: channel {shown}: {old} -> {keyword}";
                }
            }

            foreach (var (key, keyword) in was.Where(k => !now.ContainsKey(k.Key)))
            {
                yield return $"{file}: channel {shown}: {keyword} removed";
            }
        }
    }

    private static void ReadKeywords(string path, ChannelDefinition channel, List<(string Word, int Line)> words)
    {
        var seen = new Dictionary<string, bool>(StringComparer.Ordinal); // side and slot -> enabled
        for (var w = 1; w < words.Count; w++)
        {
            var (word, line) = words[w];
            var lower = word.ToLowerInvariant();
            if (!KeywordStart().IsMatch(lower))
            {
                if (MistypedKeyword(lower) is { } meant)
                {
                    // Skipped as the MTA's, it would leave the channel's slot off without a word: a typo, surely.
                    throw new SpamFilterConfigurationException(path, line, word, $"is not a spam-filter keyword (did you mean {meant}?)");
                }

                continue; // an MTA keyword, or the value of one
            }

            var match = Keyword().Match(lower);
            if (!match.Success)
            {
                throw new SpamFilterConfigurationException(path, line, word, "is not a spam-filter keyword (sourcespamfilterXoptin, destinationspamfilterX, disablesourcespamfilterX, ...)");
            }

            if (!SpamFilterHostOptions.TryParseSlot(match.Groups["x"].Value, out var slot))
            {
                throw new SpamFilterConfigurationException(path, line, word, SpamFilterHostOptions.SlotNumberProblem);
            }

            var disable = match.Groups["disable"].Success;
            if (disable && match.Groups["optin"].Success)
            {
                throw new SpamFilterConfigurationException(path, line, word, "a disable keyword takes no opt-in values (disablesourcespamfilterX, disabledestinationspamfilterX)");
            }

            var source = match.Groups["side"].Value == "source";
            var side = source ? "source" : "destination";
            if (seen.TryGetValue($"{side}{slot}", out var enabled) && enabled == disable)
            {
                throw new SpamFilterConfigurationException(path, line, word, $"slot {slot} is both enabled and disabled for the {side} side of channel {channel.Name}");
            }

            seen[$"{side}{slot}"] = !disable;
            if (disable && source)
            {
                channel.DisableSource(slot);
                continue;
            }

            if (disable)
            {
                channel.DisableDestination(slot);
                continue;
            }

            string[] values = [];
            if (match.Groups["optin"].Success)
            {
                if (w + 1 >= words.Count)
                {
                    throw new SpamFilterConfigurationException(path, line, word, "needs its opt-in values (e.g. spam,virus)");
                }

                var list = words[++w].Word;
                values = list.Split(',');
                if (values.Any(v => v.Length == 0))
                {
                    throw new SpamFilterConfigurationException(path, words[w].Line, word, $"\"{list}\" has an empty opt-in value (values are separated by single commas)");
                }
            }

            if (source)
            {
                channel.AddSourceOptIn(slot, values);
            }
            else
            {
                channel.AddDestinationOptIn(slot, values);
            }
        }
    }

    /// <summary>
    /// The spam-filter keyword <paramref name="word"/> is a near miss of (<c>sourcespamfiltr1</c>: sourcespamfilter1), its
    /// slot number as written, or null for a word that is no near miss of one (an MTA keyword).
    /// </summary>
    private static string? MistypedKeyword(string word)
    {
        var slot = SlotDigits().Match(word);
        var withoutSlot = slot.Success ? word.Remove(slot.Index, slot.Length) : word;
        string[] keywords = ["sourcespamfilteroptin", "destinationspamfilteroptin", "sourcespamfilter", "destinationspamfilter",
            "disablesourcespamfilter", "disabledestinationspamfilter"];
        return OptionFile.ClosestName(withoutSlot, keywords) is { } meant
            ? meant.Replace("spamfilter", "spamfilter" + slot.Value, StringComparison.Ordinal)
            : null;
    }

    [GeneratedRegex("[0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex SlotDigits();

    [GeneratedRegex(@"^(disable)?(source|destination)spamfilter", RegexOptions.CultureInvariant)]
    private static partial Regex KeywordStart();

    [GeneratedRegex(@"^(?<disable>disable)?(?<side>source|destination)spamfilter(?<x>[0-9]*)(?<optin>optin)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Keyword();
}
