using System.Globalization;
using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// Every option of option.dat, in documentation order, each with its name, default, meaning and how its
/// value is read: the reader (<see cref="HostOptionsReader"/>) walks this table, and the documentation
/// (<see cref="SpamFilterHostOptions.Descriptions"/>: option.dat.sample, the README) is made from it.
/// </summary>
internal static partial class HostOptionDescriptors
{
    /// <summary>The default of <c>spamfilterX_string_action</c>: a string verdict is run as the Sieve it is.</summary>
    public static SieveAction DefaultStringAction { get; } = SieveAction.TryParse("data:,$U", out _)!;

    /// <summary>Every option, in documentation order.</summary>
    public static IReadOnlyList<HostOptionDescriptor> All { get; } =
    [
        Slot("spamfilter{X}_library", "none", "Path of the plug-in assembly; setting it turns slot X on.",
            (slot, s) => slot.Library = (s.Required(), s.Line)),
        Slot("spamfilter{X}_config_file", "none", "The plug-in's own option file; required with spamfilterX_library.",
            (slot, s) => slot.ConfigFile = s.Reader.OptionFilePath(s.Required())),
        Slot("spamfilter{X}_optional", "0", "1: a failing plug-in or action lets the message go on as if the slot were absent; 0: the failure verdict's action applies.",
            (slot, s) => slot.Optional = s.Value switch
            {
                "0" => false,
                "1" => true,
                _ => throw s.Error($"\"{s.Value}\" is not 0 or 1"),
            }),
        Slot("spamfilter{X}_null_action", "none", "Sieve (data: URL) run for a null verdict; none means keep.",
            (slot, s) => slot.NullAction = Action(s)),
        Slot("spamfilter{X}_string_action", DefaultStringAction.Url, "Sieve (data: URL) run for a string verdict no verdict_M matched; $U is the verdict.",
            (slot, s) => slot.StringAction = Action(s)),
        Slot("spamfilter{X}_verdict_{M}", "none", "Verdict pattern of pair M (0 to 7): * any run, % one character, $ quotes the next; case-insensitive, up to 1024 characters.",
            (slot, s) => slot.Verdicts[s.Pair] = (VerdictPattern.TryCreate(s.Value, out var problem) ?? throw s.Error(problem!), s.Line)),
        Slot("spamfilter{X}_action_{M}", "none", "Sieve (data: URL) run when the verdict matches spamfilterX_verdict_M.",
            (slot, s) => slot.Actions[s.Pair] = (Action(s) ?? throw s.Error("a verdict's action cannot be empty"), s.Line)),
        Slot("LDAP_OPTIN{X}", "none", "User attribute that opts a recipient in; its values are opt-in values.",
            (slot, s) => slot.UserAttribute = AttributeName(s)),
        Slot("LDAP_SOURCE_OPTIN{X}", "none", "User attribute that opts in every message the user sends.",
            (slot, s) => slot.SourceAttribute = AttributeName(s)),
        Slot("LDAP_DOMAIN_ATTR_OPTIN{X}", "none", "Domain attribute that opts in every recipient of the domain.",
            (slot, s) => slot.DomainAttribute = AttributeName(s)),
        General(SpamFilterHostOptions.MessageBudgetOption, "none", "Seconds all slots together may take over one message; once used up, the slots not yet run get their failure outcome without being called.",
            s => s.Reader.MessageBudget = TimeSpan.FromSeconds(s.Integer(1, 86_400, "is not a number of seconds (1 to 86400)"))),
        Directory("DIRECTORY_FILE", "none", "The file-backed directory (LDIF) for user and domain opt-in.",
            (directory, s) => directory.File = s.Required()),
        Directory("DIRECTORY_ADDRESS_ATTRIBUTES", string.Join(',', DirectoryOptions.DefaultAddressAttributes), "Attributes that hold a user's addresses.",
            (directory, s) => directory.AddressAttributes = Attributes(s)),
        Directory("DIRECTORY_DOMAIN_ATTRIBUTES", string.Join(',', DirectoryOptions.DefaultDomainAttributes), "Attributes that hold a domain entry's domain names.",
            (directory, s) => directory.DomainAttributes = Attributes(s)),
        Directory("LDAP_HOST", "none", "LDAP server for user and domain opt-in (instead of DIRECTORY_FILE).",
            (directory, s) => directory.LdapHost = s.Required()),
        Directory("LDAP_PORT", DirectoryOptions.DefaultLdapPort.ToString(CultureInfo.InvariantCulture), "LDAP server port.",
            (directory, s) => directory.LdapPort = s.Integer(1, 65535, "is not a port number (1 to 65535)")),
        Directory("LDAP_BIND_DN", "none", "DN for a simple bind; none binds anonymously.",
            (directory, s) => directory.LdapBindDn = s.Value.Length > 0 ? s.Value : null),
        Directory("LDAP_BIND_PASSWORD", "none", "Password of LDAP_BIND_DN; never logged.",
            (directory, s) => directory.LdapBindPassword = s.Value),
        Directory("LDAP_BASE_DN", "none", "Search base for users and domains; required with LDAP_HOST.",
            (directory, s) => directory.LdapBaseDn = s.Value),
        Directory("LDAP_TIMEOUT", DirectoryOptions.DefaultLdapTimeoutSeconds.ToString(CultureInfo.InvariantCulture), "Seconds allowed for connecting, binding and each search.",
            (directory, s) => directory.LdapTimeout = TimeSpan.FromSeconds(s.Integer(1, 3600, "is not a number of seconds (1 to 3600)"))),
    ];

    /// <summary>
    /// Why a name no descriptor knows is refused. Messaging Server options this host knows of but does not
    /// implement are said to be so, with what to use instead, rather than "unknown".
    /// </summary>
    public static string NotSupported(string name)
    {
        if (AnySlotOption().Match(name) is { Success: true } slotOption)
        {
            return NotSupportedSlotOptions.GetValueOrDefault(slotOption.Groups["rest"].Value) ?? Unknown(name);
        }

        return name.ToLowerInvariant() switch
        {
            var n when n.StartsWith("ldap_optout", StringComparison.Ordinal) =>
                "not supported: opt-out attributes are not implemented (remove the user's opt-in value, or use disablesourcespamfilterX / disabledestinationspamfilterX on a channel)",
            var n when n.StartsWith("alias_optin", StringComparison.Ordinal) || n.StartsWith("alias_optout", StringComparison.Ordinal) =>
                "not supported: this host has no alias file (opt recipients in through LDAP_OPTINX, their domain or a channel)",
            _ => Unknown(name),
        };
    }

    /// <summary>
    /// "unknown option", with the name most likely meant when the line's is a mistyping of one: the options' names
    /// written with the slot and pair numbers the line has (<c>spamfiltr2_library</c>: did you mean spamfilter2_library?).
    /// </summary>
    private static string Unknown(string name)
    {
        var numbers = Numbers().Matches(name).Select(m => m.Value).ToList();
        var names = All.Select(d =>
        {
            var given = 0;
            return PlaceholderOf().Replace(d.Pattern, placeholder => given < numbers.Count ? numbers[given++]
                : placeholder.Value == "{X}" ? string.Empty : "0"); // no slot number written: suggest none (slot 1)
        });
        return OptionFile.ClosestName(name, names) is { } meant ? $"unknown option (did you mean {meant}?)" : "unknown option";
    }

    [GeneratedRegex("[0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex Numbers();

    [GeneratedRegex(@"\{[XM]\}", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceholderOf();

    /// <summary>
    /// Any name of a slot's option, known or not (<c>spamfilterX_rest</c>): one no descriptor knows still has its slot
    /// number checked, as a known one has.
    /// </summary>
    [GeneratedRegex(@"^spamfilter(?<x>[0-9]*)_(?<rest>.+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    public static partial Regex AnySlotOption();

    /// <summary>The slot options (the name after <c>spamfilterX_</c>) this host knows of and does not take, with why.</summary>
    private static readonly Dictionary<string, string> NotSupportedSlotOptions = new(StringComparer.OrdinalIgnoreCase)
    {
        ["message_budget"] = $"not a slot's option: {SpamFilterHostOptions.MessageBudgetOption} holds for all slots together, written without a slot number",
        ["null_optin"] = "not supported: Messaging Server never documented its meaning; here any non-empty opt-in value opts in",
    };

    /// <summary>Verdicts an action with $U is parsed with when option.dat is read (see <see cref="Action"/>).</summary>
    private static readonly string[] PlaceholderVerdicts = [string.Empty, "keep;", "\"verdict\""];

    /// <summary>An option of slot X: it sets the slot's draft.</summary>
    private static HostOptionDescriptor Slot(string pattern, string @default, string meaning, Action<SlotDraft, OptionSetting> apply) =>
        new(pattern, @default, meaning, s => apply(s.Reader.Slot(s.Slot), s));

    /// <summary>An option of the host as a whole, not of a slot.</summary>
    private static HostOptionDescriptor General(string name, string @default, string meaning, Action<OptionSetting> apply) =>
        new(name, @default, meaning, apply);

    /// <summary>A directory option: it sets the directory's draft, whose errors name the option by its own name.</summary>
    private static HostOptionDescriptor Directory(string name, string @default, string meaning, Action<DirectoryDraft, OptionSetting> apply) =>
        new(name, @default, meaning, s => s.Reader.Directory.Take(s with { Name = name }, apply));

    /// <summary>
    /// An action URL, decoded and its Sieve parsed now, so that its errors name this line; null when empty
    /// (explicitly no action). A script with $U is parsed with placeholder verdicts (none, a command, a quoted
    /// string): it is wrong only when no verdict at all could make it right.
    /// </summary>
    private static SieveAction? Action(OptionSetting setting)
    {
        if (setting.Value.Length == 0)
        {
            return null; // explicitly no action
        }

        var action = SieveAction.TryParse(setting.Value, out var problem) ?? throw setting.Error(problem!);
        SieveException? first = null;
        foreach (var placeholder in action.UsesVerdict ? PlaceholderVerdicts : [string.Empty])
        {
            try
            {
                action.ScriptFor(placeholder); // a script without $U is kept parsed for every message
                return action;
            }
            catch (SieveException e)
            {
                first ??= e;
            }
        }

        var with = action.UsesVerdict ? " (with $U replaced by an empty verdict)" : string.Empty;
        throw setting.Error($"the Sieve script is wrong{with}: {first!.Message}", first);
    }

    private static string AttributeName(OptionSetting setting) =>
        AttributeNameSyntax().IsMatch(setting.Value) ? setting.Value : throw setting.Error($"\"{setting.Value}\" is not an attribute name");

    /// <summary>An attribute list ("a,b c"): names separated by commas or blanks.</summary>
    private static string[] Attributes(OptionSetting setting)
    {
        var names = setting.Value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return names.Length > 0 && names.All(n => AttributeNameSyntax().IsMatch(n))
            ? names
            : throw setting.Error($"\"{setting.Value}\" is not a list of attribute names (separated by commas)");
    }

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)$", RegexOptions.CultureInvariant)]
    private static partial Regex AttributeNameSyntax();
}
