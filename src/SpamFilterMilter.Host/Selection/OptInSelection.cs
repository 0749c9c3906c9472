using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// Decides, for one message, which slots filter which recipients, the way Messaging Server documents it:
/// <list type="bullet">
/// <item>sender side, for every recipient: the source channel's <c>sourcespamfilterXoptin</c> / <c>sourcespamfilterX</c>,
///       the sender's LDAP_SOURCE_OPTINX attribute;</item>
/// <item>recipient side, for that recipient: the user's LDAP_OPTINX attribute, the domain's LDAP_DOMAIN_ATTR_OPTINX
///       attribute, the destination channel's <c>destinationspamfilterXoptin</c> / <c>destinationspamfilterX</c>;</item>
/// <item><c>disablesourcespamfilterX</c> on the source channel turns the slot off for the message,
///       <c>disabledestinationspamfilterX</c> on a recipient's destination channel for that recipient, whatever opted in.</item>
/// </list>
/// A recipient's opt-in values are the union of its sources (sender side first, then its own user, domain
/// and destination channel values), compared case-insensitively. Recipients whose sets differ are put in
/// different groups, so that each plug-in call gets exactly the values of the recipients it covers. An
/// attribute that is present with only empty values opts nothing in. Directory answers are cached for the
/// message; a directory that cannot be asked is a <see cref="DirectoryLookupException"/>.
/// </summary>
internal sealed class OptInSelection
{
    private readonly ChannelTable _channels;
    private readonly IOptInDirectory? _directory;
    private readonly string? _sourceChannel;
    private readonly Func<string, string?> _destinationChannel;
    private readonly Dictionary<string, Task<DirectoryEntry?>> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Task<DirectoryEntry?>> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly Attributes _attributes;

    public OptInSelection(Attributes attributes, ChannelTable channels, IOptInDirectory? directory, string? sourceChannel, Func<string, string?> destinationChannel)
    {
        _attributes = attributes;
        _channels = channels;
        _directory = directory;
        _sourceChannel = sourceChannel;
        _destinationChannel = destinationChannel;
    }

    /// <summary>The directory attributes the slots read: one lookup per user or domain fetches them all. Worked out once per host.</summary>
    internal sealed record Attributes(string[] User, string[] Domain)
    {
        public static Attributes Of(IEnumerable<SlotOptions> slots) => new(
            slots.SelectMany(s => new[] { s.UserOptInAttribute, s.SourceOptInAttribute }).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
            slots.Select(s => s.DomainOptInAttribute).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).ToArray());
    }

    /// <summary>
    /// Whether anything at all can opt a message in to <paramref name="slot"/> when messages come in on
    /// <paramref name="sourceChannel"/> and every recipient goes out on <paramref name="destinationChannel"/> (null: none
    /// named): the source channel's opt-in keyword, the destination channel's, or an LDAP_*OPTIN attribute with a directory
    /// to ask, unless either channel disables the slot. False means the slot filters no message, whatever the message:
    /// worth a warning. With it, what can opt a message in (<c>every message: source channel tcp_relay has
    /// sourcespamfilter1</c>; the reasons joined by <c>; </c>) or why nothing can (<c>source channel tcp_relay has
    /// disablesourcespamfilter1</c>, <c>nothing opts one in (…)</c>): what the relay warns of (7014) and check-config says.
    /// </summary>
    public static (bool CanOptIn, string Why) OptInFor(SlotOptions slot, ChannelTable channels, bool hasDirectory, string? sourceChannel, string? destinationChannel)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ArgumentNullException.ThrowIfNull(channels);
        var number = slot.Number;
        var source = channels.Find(sourceChannel);
        if (source?.DisablesSource(number) == true)
        {
            return (false, $"source channel {source.Name} has disablesourcespamfilter{number}");
        }

        // Every recipient goes out on the destination channel: its disable keyword turns the slot off for all of them,
        // whatever opted them in (ChooseAsync).
        var destination = channels.Find(destinationChannel);
        if (destination?.DisablesDestination(number) == true)
        {
            return (false, $"destination channel {destination.Name} has disabledestinationspamfilter{number}");
        }

        var reasons = new List<string>();
        if (source?.SourceOptIn(number) is { } sourceValues)
        {
            reasons.Add($"every message: source channel {source.Name} has {ChannelDefinition.Keyword("source", number, sourceValues)}");
        }

        if (destination?.DestinationOptIn(number) is { } destinationValues)
        {
            reasons.Add($"every recipient: destination channel {destination.Name} has {ChannelDefinition.Keyword("destination", number, destinationValues)}");
        }

        if (hasDirectory)
        {
            string?[] attributes =
            [
                slot.SourceOptInAttribute is null ? null : $"LDAP_SOURCE_OPTIN{number}",
                slot.UserOptInAttribute is null ? null : $"LDAP_OPTIN{number}",
                slot.DomainOptInAttribute is null ? null : $"LDAP_DOMAIN_ATTR_OPTIN{number}",
            ];
            if (attributes.OfType<string>().ToList() is { Count: > 0 } set)
            {
                reasons.Add($"the senders, users and domains the directory opts in ({string.Join(", ", set)})");
            }
        }

        return reasons.Count > 0
            ? (true, string.Join("; ", reasons))
            : (false, $"nothing opts one in (no sourcespamfilter{number}optin for {Named("source", sourceChannel)}, "
                + $"no destinationspamfilter{number}optin for {Named("destination", destinationChannel)}, no LDAP_*OPTIN{number} with a directory)");

        static string Named(string side, string? channel) => channel is null ? $"a {side} channel (none named)" : $"{side} channel {channel}";
    }

    /// <summary>
    /// The choice of <paramref name="slot"/> for a copy of a message sent by <paramref name="mailFrom"/> (the
    /// original envelope sender, whatever an earlier slot changed it to) to <paramref name="recipients"/>.
    /// </summary>
    public async Task<SlotChoice> ChooseAsync(SlotOptions slot, string mailFrom, IReadOnlyList<EnvelopeRecipient> recipients, CancellationToken cancellationToken)
    {
        var reasons = new List<string>();
        var senderValues = new List<string>();
        var source = _channels.Find(_sourceChannel);
        if (source?.DisablesSource(slot.Number) == true)
        {
            reasons.Add($"not for any recipient: source channel {source.Name} has disablesourcespamfilter{slot.Number}");
            return new SlotChoice([], reasons);
        }

        // Sender side: selects every recipient.
        var senderWide = false;
        if (source?.SourceOptIn(slot.Number) is { } channelValues)
        {
            senderWide = true;
            reasons.Add($"for every recipient: source channel {source.Name} has {ChannelDefinition.Keyword("source", slot.Number, channelValues)}");
            Union(senderValues, channelValues);
        }

        var sender = MailPath.Bare(mailFrom);
        if (slot.SourceOptInAttribute is { } sourceAttribute && sender.Length > 0
            && await UserAsync(sender, cancellationToken).ConfigureAwait(false) is { } senderEntry
            && NonEmpty(senderEntry.Values(sourceAttribute)) is { Count: > 0 } values)
        {
            senderWide = true;
            reasons.Add($"for every recipient: sender {sender} ({senderEntry.Name}) has {sourceAttribute} (LDAP_SOURCE_OPTIN{slot.Number}) = {string.Join(", ", values)}");
            Union(senderValues, values);
        }

        var groups = new List<(string Key, List<EnvelopeRecipient> Recipients, List<string> OptIn)>();
        foreach (var recipient in recipients)
        {
            var address = MailPath.Bare(recipient.Address);
            var destination = _channels.Find(_destinationChannel(address));
            if (destination?.DisablesDestination(slot.Number) == true)
            {
                reasons.Add($"not for <{address}>: destination channel {destination.Name} has disabledestinationspamfilter{slot.Number}");
                continue;
            }

            var why = new List<string>();
            var own = new List<string>(senderValues);
            if (slot.UserOptInAttribute is { } userAttribute
                && await UserAsync(address, cancellationToken).ConfigureAwait(false) is { } user
                && NonEmpty(user.Values(userAttribute)) is { Count: > 0 } userValues)
            {
                why.Add($"user ({user.Name}) has {userAttribute} (LDAP_OPTIN{slot.Number}) = {string.Join(", ", userValues)}");
                Union(own, userValues);
            }

            if (slot.DomainOptInAttribute is { } domainAttribute && MailPath.Domain(address) is { } domainName
                && await DomainAsync(domainName, cancellationToken).ConfigureAwait(false) is { } domain
                && NonEmpty(domain.Values(domainAttribute)) is { Count: > 0 } domainValues)
            {
                why.Add($"domain {domainName} ({domain.Name}) has {domainAttribute} (LDAP_DOMAIN_ATTR_OPTIN{slot.Number}) = {string.Join(", ", domainValues)}");
                Union(own, domainValues);
            }

            if (destination?.DestinationOptIn(slot.Number) is { } destinationValues)
            {
                why.Add($"destination channel {destination.Name} has {ChannelDefinition.Keyword("destination", slot.Number, destinationValues)}");
                Union(own, destinationValues);
            }

            if (why.Count == 0 && !senderWide)
            {
                reasons.Add($"not for <{address}>: nothing opts it in");
                continue;
            }

            if (why.Count > 0)
            {
                reasons.Add($"for <{address}>: {string.Join("; ", why)}");
            }

            // Recipients with the same set of values (whatever their order) are filtered together.
            var key = string.Join('\n', own.Select(v => v.ToUpperInvariant()).Order(StringComparer.Ordinal));
            var index = groups.FindIndex(g => g.Key == key);
            if (index < 0)
            {
                groups.Add((key, [recipient], own));
            }
            else
            {
                groups[index].Recipients.Add(recipient);
            }
        }

        return new SlotChoice(groups.Select(g => new OptInGroup(g.Recipients, g.OptIn)).ToArray(), reasons);
    }

    private static List<string> NonEmpty(IReadOnlyList<string> values) => values.Where(v => v.Trim().Length > 0).ToList();

    private static void Union(List<string> into, IEnumerable<string> values)
    {
        foreach (var value in values)
        {
            if (!into.Contains(value, StringComparer.OrdinalIgnoreCase))
            {
                into.Add(value);
            }
        }
    }

    private Task<DirectoryEntry?> UserAsync(string address, CancellationToken cancellationToken) =>
        _attributes.User.Length == 0 ? NotAsked : Cached(_users, "user", address, d => d.FindUserAsync(address, _attributes.User, cancellationToken), cancellationToken);

    private Task<DirectoryEntry?> DomainAsync(string domain, CancellationToken cancellationToken) =>
        _attributes.Domain.Length == 0 ? NotAsked : Cached(_domains, "domain", domain, d => d.FindDomainAsync(domain, _attributes.Domain, cancellationToken), cancellationToken);

    private static Task<DirectoryEntry?> NotAsked { get; } = Task.FromResult<DirectoryEntry?>(null);

    /// <summary>The lookup of <paramref name="key"/>, asked once per message.</summary>
    private Task<DirectoryEntry?> Cached(Dictionary<string, Task<DirectoryEntry?>> cache, string what, string key, Func<IOptInDirectory, Task<DirectoryEntry?>> lookup, CancellationToken cancellationToken)
    {
        if (_directory is not { } directory)
        {
            return NotAsked;
        }

        if (!cache.TryGetValue(key, out var answer))
        {
            cache[key] = answer = LookUpAsync(what, key, () => lookup(directory), cancellationToken);
        }

        return answer;
    }

    /// <summary>One directory call; whatever it throws (but cancellation) is a <see cref="DirectoryLookupException"/>.</summary>
    private static async Task<DirectoryEntry?> LookUpAsync(string what, string key, Func<Task<DirectoryEntry?>> lookup, CancellationToken cancellationToken)
    {
        try
        {
            return await lookup().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new DirectoryLookupException(what, key, e);
        }
    }

    /// <summary>The first LDAP_*OPTINX option set, e.g. <c>LDAP_OPTIN2</c>, or null when no slot needs the directory.</summary>
    public static string? FirstDirectoryOption(IEnumerable<SlotOptions> slots) => slots
        .Select(s => s.UserOptInAttribute is not null ? $"LDAP_OPTIN{s.Number}"
            : s.SourceOptInAttribute is not null ? $"LDAP_SOURCE_OPTIN{s.Number}"
            : s.DomainOptInAttribute is not null ? $"LDAP_DOMAIN_ATTR_OPTIN{s.Number}" : null)
        .FirstOrDefault(o => o is not null);
}
