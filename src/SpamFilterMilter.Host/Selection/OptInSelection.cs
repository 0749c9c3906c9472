using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Selection;

/// <summary>Which recipients of a message copy one slot filters, with the opt-in values and why.</summary>
/// <param name="Selected">The recipients (as in the envelope) the slot runs for.</param>
/// <param name="OptIn">The union of the opt-in values, without repeats, in order of first appearance.</param>
/// <param name="Reasons">One line per recipient or message-wide fact: why selected, or why not.</param>
internal sealed record SlotChoice(IReadOnlyList<EnvelopeRecipient> Selected, IReadOnlyList<string> OptIn, IReadOnlyList<string> Reasons);

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
/// Opt-in values are the union of every source (sender side first, then each selected recipient's user,
/// domain and destination channel values), compared case-insensitively. An attribute that is present with
/// only empty values opts nothing in. Directory answers are cached for the message.
/// </summary>
internal sealed class OptInSelection
{
    private readonly ChannelTable _channels;
    private readonly IOptInDirectory? _directory;
    private readonly string? _sourceChannel;
    private readonly Func<string, string?> _destinationChannel;
    private readonly Dictionary<string, Task<DirectoryEntry?>> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Task<DirectoryEntry?>> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly string[] _userAttributes;
    private readonly string[] _domainAttributes;

    public OptInSelection(IReadOnlyList<SlotOptions> slots, ChannelTable channels, IOptInDirectory? directory, string? sourceChannel, Func<string, string?> destinationChannel)
    {
        _channels = channels;
        _directory = directory;
        _sourceChannel = sourceChannel;
        _destinationChannel = destinationChannel;
        _userAttributes = slots.SelectMany(s => new[] { s.UserOptInAttribute, s.SourceOptInAttribute }).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        _domainAttributes = slots.Select(s => s.DomainOptInAttribute).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
    }

    /// <summary>The choice of <paramref name="slot"/> for a copy sent by <paramref name="mailFrom"/> to <paramref name="recipients"/>.</summary>
    public async Task<SlotChoice> ChooseAsync(SlotOptions slot, string mailFrom, IReadOnlyList<EnvelopeRecipient> recipients, CancellationToken cancellationToken)
    {
        var reasons = new List<string>();
        var values = new List<string>();
        var source = _channels.Find(_sourceChannel);
        if (source?.DisablesSource(slot.Number) == true)
        {
            reasons.Add($"not for any recipient: source channel {source.Name} has disablesourcespamfilter{slot.Number}");
            return new SlotChoice([], [], reasons);
        }

        // Sender side: selects every recipient.
        var senderWide = false;
        if (source?.SourceOptIn(slot.Number) is { } channelValues)
        {
            senderWide = true;
            reasons.Add($"for every recipient: source channel {source.Name} has {Keyword("source", slot.Number, channelValues)}");
            Union(values, channelValues);
        }

        var sender = SieveScript.Bare(mailFrom);
        if (slot.SourceOptInAttribute is { } sourceAttribute && sender.Length > 0
            && await UserAsync(sender, cancellationToken).ConfigureAwait(false) is { } senderEntry
            && NonEmpty(senderEntry.Values(sourceAttribute)) is { Count: > 0 } senderValues)
        {
            senderWide = true;
            reasons.Add($"for every recipient: sender {sender} ({senderEntry.Name}) has {sourceAttribute} (LDAP_SOURCE_OPTIN{slot.Number}) = {string.Join(", ", senderValues)}");
            Union(values, senderValues);
        }

        var selected = new List<EnvelopeRecipient>();
        foreach (var recipient in recipients)
        {
            var address = SieveScript.Bare(recipient.Address);
            var channelName = _destinationChannel(address);
            var destination = _channels.Find(channelName);
            if (destination?.DisablesDestination(slot.Number) == true)
            {
                reasons.Add($"not for <{address}>: destination channel {destination.Name} has disabledestinationspamfilter{slot.Number}");
                continue;
            }

            var why = new List<string>();
            var own = new List<string>();
            if (slot.UserOptInAttribute is { } userAttribute
                && await UserAsync(address, cancellationToken).ConfigureAwait(false) is { } user
                && NonEmpty(user.Values(userAttribute)) is { Count: > 0 } userValues)
            {
                why.Add($"user ({user.Name}) has {userAttribute} (LDAP_OPTIN{slot.Number}) = {string.Join(", ", userValues)}");
                Union(own, userValues);
            }

            var at = address.LastIndexOf('@');
            if (slot.DomainOptInAttribute is { } domainAttribute && at >= 0
                && await DomainAsync(address[(at + 1)..], cancellationToken).ConfigureAwait(false) is { } domain
                && NonEmpty(domain.Values(domainAttribute)) is { Count: > 0 } domainValues)
            {
                why.Add($"domain {address[(at + 1)..]} ({domain.Name}) has {domainAttribute} (LDAP_DOMAIN_ATTR_OPTIN{slot.Number}) = {string.Join(", ", domainValues)}");
                Union(own, domainValues);
            }

            if (destination?.DestinationOptIn(slot.Number) is { } destinationValues)
            {
                why.Add($"destination channel {destination.Name} has {Keyword("destination", slot.Number, destinationValues)}");
                Union(own, destinationValues);
            }

            if (why.Count == 0 && !senderWide)
            {
                reasons.Add($"not for <{address}>: nothing opts it in");
                continue;
            }

            selected.Add(recipient);
            if (why.Count > 0)
            {
                reasons.Add($"for <{address}>: {string.Join("; ", why)}");
            }

            Union(values, own);
        }

        return new SlotChoice(selected, values, reasons);
    }

    private static string Keyword(string side, int slot, IReadOnlyList<string> values) =>
        values.Count == 0 ? $"{side}spamfilter{slot}" : $"{side}spamfilter{slot}optin {string.Join(',', values)}";

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

    private Task<DirectoryEntry?> UserAsync(string address, CancellationToken cancellationToken)
    {
        if (_directory is null || _userAttributes.Length == 0)
        {
            return Task.FromResult<DirectoryEntry?>(null);
        }

        if (!_users.TryGetValue(address, out var lookup))
        {
            _users[address] = lookup = _directory.FindUserAsync(address, _userAttributes, cancellationToken);
        }

        return lookup;
    }

    private Task<DirectoryEntry?> DomainAsync(string domain, CancellationToken cancellationToken)
    {
        if (_directory is null || _domainAttributes.Length == 0)
        {
            return Task.FromResult<DirectoryEntry?>(null);
        }

        if (!_domains.TryGetValue(domain, out var lookup))
        {
            _domains[domain] = lookup = _directory.FindDomainAsync(domain, _domainAttributes, cancellationToken);
        }

        return lookup;
    }

    /// <summary>True when some slot needs the directory (an LDAP_*OPTINX option is set).</summary>
    public static bool NeedsDirectory(IEnumerable<SlotOptions> slots) =>
        slots.Any(s => s.UserOptInAttribute is not null || s.SourceOptInAttribute is not null || s.DomainOptInAttribute is not null);
}
