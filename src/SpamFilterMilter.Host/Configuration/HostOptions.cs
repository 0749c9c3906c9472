using System.Globalization;
using System.Text.RegularExpressions;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>One option the host reads from option.dat, for documentation and the reference host.</summary>
/// <param name="Name">The name, with X for the slot and M for the verdict/action pair.</param>
/// <param name="Default">The default as documented (<c>none</c> when there is none).</param>
/// <param name="Meaning">One sentence.</param>
public sealed record OptionDescription(string Name, string Default, string Meaning);

/// <summary>A <c>spamfilterX_verdict_M</c> / <c>spamfilterX_action_M</c> pair.</summary>
/// <param name="Index">M, 0 to 7: pairs are tried in this order.</param>
/// <param name="Pattern">The verdict pattern.</param>
/// <param name="Action">The Sieve action run when the verdict matches.</param>
public sealed record VerdictRule(int Index, VerdictPattern Pattern, SieveAction Action);

/// <summary>Everything option.dat says about one plug-in slot X whose <c>spamfilterX_library</c> is set.</summary>
public sealed class SlotOptions
{
    internal SlotOptions(int number, string library, string configFile)
    {
        Number = number;
        Library = library;
        ConfigFile = configFile;
    }

    /// <summary>X, 1 to 8: slots run in this order.</summary>
    public int Number { get; }

    /// <summary><c>spamfilterX_library</c>: full path of the plug-in assembly.</summary>
    public string Library { get; }

    /// <summary><c>spamfilterX_config_file</c>: full path of the plug-in's own option file.</summary>
    public string ConfigFile { get; }

    /// <summary><c>spamfilterX_optional</c>: true (1) lets a message go on as if the slot were absent when the plug-in or its action fails.</summary>
    public bool Optional { get; internal set; }

    /// <summary><c>spamfilterX_null_action</c>: run for a null verdict; null means none (keep).</summary>
    public SieveAction? NullAction { get; internal set; }

    /// <summary><c>spamfilterX_string_action</c>: run for a string verdict no pair matched; default <c>data:,$U</c>; null means none.</summary>
    public SieveAction? StringAction { get; internal set; }

    /// <summary>The verdict/action pairs, in M order.</summary>
    public IReadOnlyList<VerdictRule> VerdictRules { get; internal set; } = [];

    /// <summary><c>LDAP_OPTINX</c>: the recipient's user attribute that opts the recipient in, or null.</summary>
    public string? UserOptInAttribute { get; internal set; }

    /// <summary><c>LDAP_SOURCE_OPTINX</c>: the sender's user attribute that opts the whole message in, or null.</summary>
    public string? SourceOptInAttribute { get; internal set; }

    /// <summary><c>LDAP_DOMAIN_ATTR_OPTINX</c>: the recipient's domain attribute that opts the recipient in, or null.</summary>
    public string? DomainOptInAttribute { get; internal set; }

    /// <summary>The option name for this slot, e.g. <c>OptionName("string_action")</c> is <c>spamfilter1_string_action</c>.</summary>
    public string OptionName(string suffix) => $"spamfilter{Number}_{suffix}";
}

/// <summary>Where the host finds users and domains for LDAP_OPTINX, LDAP_SOURCE_OPTINX and LDAP_DOMAIN_ATTR_OPTINX.</summary>
public sealed class DirectoryOptions
{
    /// <summary>The default of DIRECTORY_ADDRESS_ATTRIBUTES: Messaging Server's address attributes.</summary>
    public static IReadOnlyList<string> DefaultAddressAttributes { get; } = ["mail", "mailAlternateAddress", "mailEquivalentAddress"];

    /// <summary>The default of DIRECTORY_DOMAIN_ATTRIBUTES.</summary>
    public static IReadOnlyList<string> DefaultDomainAttributes { get; } = ["associatedDomain"];

    /// <summary>DIRECTORY_FILE: the file-backed directory (LDIF), or null.</summary>
    public string? File { get; init; }

    /// <summary>LDAP_HOST: the LDAP server, or null for no LDAP.</summary>
    public string? LdapHost { get; init; }

    /// <summary>LDAP_PORT (default 389).</summary>
    public int LdapPort { get; init; } = 389;

    /// <summary>LDAP_BIND_DN: simple bind as this DN; null binds anonymously.</summary>
    public string? LdapBindDn { get; init; }

    /// <summary>LDAP_BIND_PASSWORD: never logged, never part of a message.</summary>
    public string? LdapBindPassword { get; init; }

    /// <summary>LDAP_BASE_DN: users and domains are searched below it (subtree).</summary>
    public string? LdapBaseDn { get; init; }

    /// <summary>LDAP_TIMEOUT: seconds allowed for connecting, binding and each search (default 10).</summary>
    public TimeSpan LdapTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>DIRECTORY_ADDRESS_ATTRIBUTES: a user is the entry with the address in one of these.</summary>
    public IReadOnlyList<string> AddressAttributes { get; init; } = DefaultAddressAttributes;

    /// <summary>DIRECTORY_DOMAIN_ATTRIBUTES: a domain is the entry with the domain name in one of these.</summary>
    public IReadOnlyList<string> DomainAttributes { get; init; } = DefaultDomainAttributes;

    /// <summary>True when option.dat names a directory (a file or an LDAP server).</summary>
    public bool IsConfigured => File is not null || LdapHost is not null;

    /// <summary>The directory in words, without the password.</summary>
    public override string ToString() =>
        LdapHost is not null ? $"ldap://{LdapHost}:{LdapPort.ToString(CultureInfo.InvariantCulture)}/{LdapBaseDn}" + (LdapBindDn is null ? " (anonymous)" : $" (bind {LdapBindDn})")
        : File is not null ? $"file {File}" : "none";
}

/// <summary>
/// The spam-filter part of a Messaging Server <c>option.dat</c>: up to eight plug-in slots and the directory
/// used for opt-in. The syntax is <see cref="OptionFile"/>'s (one <c>NAME=VALUE</c> per line, names
/// case-insensitive, blanks around both ignored, lines starting with <c>!</c> or <c>#</c> are comments). An
/// unknown option, a malformed line, a bad value or an option set twice (also under its unnumbered name) is a
/// <see cref="SpamFilterConfigurationException"/> naming the file, the line and the option.
/// </summary>
public sealed partial class HostOptions
{
    /// <summary>The number of plug-in slots (Messaging Server 6.3: eight).</summary>
    public const int SlotCount = 8;

    /// <summary>
    /// The slot a name's number gives (option.dat, channel keywords): no number means slot 1, as in
    /// Messaging Server; otherwise 1 to <see cref="SlotCount"/>, digits only.
    /// </summary>
    internal static bool TryParseSlot(string digits, out int slot)
    {
        if (digits.Length == 0)
        {
            slot = 1;
            return true;
        }

        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out slot) && slot is >= 1 and <= SlotCount;
    }

    /// <summary>What is wrong when <see cref="TryParseSlot"/> says no.</summary>
    internal static string SlotNumberProblem { get; } = $"the slot number must be 1 to {SlotCount}";

    /// <summary>The number of verdict/action pairs per slot (M = 0..7).</summary>
    public const int PairCount = 8;

    internal static SieveAction DefaultStringAction { get; } = SieveAction.TryParse("data:,$U", out _)!;

    private HostOptions(string filePath, IReadOnlyList<SlotOptions> slots, DirectoryOptions directory, IReadOnlyList<string> notes)
    {
        FilePath = filePath;
        Slots = slots;
        Directory = directory;
        Notes = notes;
    }

    /// <summary>The option file read.</summary>
    public string FilePath { get; }

    /// <summary>The slots that are on (their <c>spamfilterX_library</c> is set), in number order.</summary>
    public IReadOnlyList<SlotOptions> Slots { get; }

    /// <summary>The directory for user and domain opt-in.</summary>
    public DirectoryOptions Directory { get; }

    /// <summary>Things an administrator may want to know that are not errors (e.g. a slot with options but no library is off).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Every option, with its default: the list option.dat.sample and docs/host.md document.</summary>
    public static IReadOnlyList<OptionDescription> Descriptions { get; } =
    [
        new("spamfilterX_library", "none", "Path of the plug-in assembly; setting it turns slot X on."),
        new("spamfilterX_config_file", "none", "The plug-in's own option file; required with spamfilterX_library."),
        new("spamfilterX_optional", "0", "1: a failing plug-in or action lets the message go on as if the slot were absent; 0: the failure verdict's action applies."),
        new("spamfilterX_null_action", "none", "Sieve (data: URL) run for a null verdict; none means keep."),
        new("spamfilterX_string_action", "data:,$U", "Sieve (data: URL) run for a string verdict no verdict_M matched; $U is the verdict."),
        new("spamfilterX_verdict_M", "none", "Verdict pattern of pair M (0 to 7): * any run, % one character, $ quotes the next; case-insensitive, up to 1024 characters."),
        new("spamfilterX_action_M", "none", "Sieve (data: URL) run when the verdict matches spamfilterX_verdict_M."),
        new("LDAP_OPTINX", "none", "User attribute that opts a recipient in; its values are opt-in values."),
        new("LDAP_SOURCE_OPTINX", "none", "User attribute that opts in every message the user sends."),
        new("LDAP_DOMAIN_ATTR_OPTINX", "none", "Domain attribute that opts in every recipient of the domain."),
        new("DIRECTORY_FILE", "none", "The file-backed directory (LDIF) for user and domain opt-in."),
        new("DIRECTORY_ADDRESS_ATTRIBUTES", "mail,mailAlternateAddress,mailEquivalentAddress", "Attributes that hold a user's addresses."),
        new("DIRECTORY_DOMAIN_ATTRIBUTES", "associatedDomain", "Attributes that hold a domain entry's domain names."),
        new("LDAP_HOST", "none", "LDAP server for user and domain opt-in (instead of DIRECTORY_FILE)."),
        new("LDAP_PORT", "389", "LDAP server port."),
        new("LDAP_BIND_DN", "none", "DN for a simple bind; none binds anonymously."),
        new("LDAP_BIND_PASSWORD", "none", "Password of LDAP_BIND_DN; never logged."),
        new("LDAP_BASE_DN", "none", "Search base for users and domains; required with LDAP_HOST."),
        new("LDAP_TIMEOUT", "10", "Seconds allowed for connecting, binding and each search."),
    ];

    /// <summary>
    /// Reads option.dat at <paramref name="path"/>. A relative <c>spamfilterX_library</c> is taken from
    /// <paramref name="pluginDirectory"/> (the host's plug-in folder; default: option.dat's folder); other
    /// relative paths are relative to option.dat's folder.
    /// </summary>
    public static HostOptions Load(string path, string? pluginDirectory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        var lines = OptionFile.Read(fullPath);
        var folder = Path.GetDirectoryName(fullPath)!;
        return new Reader(fullPath, folder, pluginDirectory is null ? folder : Path.GetFullPath(pluginDirectory)).Read(lines);
    }

    /// <summary>Verdicts an action with $U is parsed with when option.dat is read (see Reader.Action).</summary>
    private static readonly string[] PlaceholderVerdicts = [string.Empty, "keep;", "\"verdict\""];

    [GeneratedRegex(@"^spamfilter(?<x>[0-9]*)_(?<rest>.+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SlotOptionName();

    [GeneratedRegex(@"^(?<kind>verdict|action)_(?<m>[0-9]+)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PairOptionName();

    [GeneratedRegex(@"^ldap_(?<kind>optin|source_optin|domain_attr_optin)(?<x>[0-9]*)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex OptInOptionName();

    [GeneratedRegex(@"^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)$", RegexOptions.CultureInvariant)]
    private static partial Regex AttributeName();

    /// <summary>Parses an attribute list ("a,b c"): names separated by commas or blanks.</summary>
    private static bool TryParseAttributes(string value, out IReadOnlyList<string> attributes)
    {
        var names = value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        attributes = names;
        return names.Length > 0 && names.All(n => AttributeName().IsMatch(n));
    }

    /// <summary>One pass over the lines: every option checked where it stands, then the cross-option rules.</summary>
    private sealed class Reader(string filePath, string folder, string pluginFolder)
    {
        private readonly Dictionary<string, int> _seen = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<int, SlotDraft> _slots = [];
        private readonly Dictionary<string, (string Value, int Line)> _directory = new(StringComparer.OrdinalIgnoreCase);

        public HostOptions Read(IReadOnlyList<OptionLine> lines)
        {
            foreach (var line in lines)
            {
                Option(line.Line, line.Name, line.Value);
            }

            var notes = new List<string>();
            var slots = new List<SlotOptions>();
            foreach (var (number, draft) in _slots.OrderBy(s => s.Key))
            {
                var slot = draft.Build(this, number);
                if (slot is null)
                {
                    notes.Add($"slot {number} has options but no spamfilter{number}_library: it is off");
                }
                else
                {
                    slots.Add(slot);
                }
            }

            return new HostOptions(filePath, slots, Directory(), notes);
        }

        public SpamFilterConfigurationException Error(int line, string? option, string problem, Exception? inner = null) =>
            new(filePath, line, option, problem, inner);

        private void Option(int line, string name, string value)
        {
            if (SlotOptionName().Match(name) is { Success: true } slotMatch)
            {
                var slot = SlotNumber(line, name, slotMatch.Groups["x"].Value);
                var rest = slotMatch.Groups["rest"].Value.ToLowerInvariant();
                var draft = Draft(slot);
                if (PairOptionName().Match(rest) is { Success: true } pair)
                {
                    var m = int.TryParse(pair.Groups["m"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : -1;
                    if (m is < 0 or >= PairCount)
                    {
                        throw Error(line, name, $"the pair number must be 0 to {PairCount - 1}");
                    }

                    Remember(line, name, $"spamfilter{slot}_{pair.Groups["kind"].Value.ToLowerInvariant()}_{m}");
                    if (pair.Groups["kind"].Value.Equals("verdict", StringComparison.OrdinalIgnoreCase))
                    {
                        draft.Verdicts[m] = (Pattern(line, name, value), line);
                    }
                    else
                    {
                        draft.Actions[m] = (Action(line, name, value) ?? throw Error(line, name, "a verdict's action cannot be empty"), line);
                    }

                    return;
                }

                Remember(line, name, $"spamfilter{slot}_{rest}");
                switch (rest)
                {
                    case "library":
                        draft.Library = (Required(line, name, value), line);
                        break;
                    case "config_file":
                        draft.ConfigFile = Path.GetFullPath(Path.Combine(folder, Required(line, name, value)));
                        break;
                    case "optional":
                        draft.Optional = value switch
                        {
                            "0" => false,
                            "1" => true,
                            _ => throw Error(line, name, $"\"{value}\" is not 0 or 1"),
                        };
                        break;
                    case "null_action":
                        draft.NullAction = Action(line, name, value);
                        break;
                    case "string_action":
                        draft.StringAction = Action(line, name, value);
                        break;
                    case "null_optin":
                        throw Error(line, name, NotSupported(name));
                    default:
                        throw Error(line, name, "unknown option");
                }

                return;
            }

            if (OptInOptionName().Match(name) is { Success: true } optIn)
            {
                var slot = SlotNumber(line, name, optIn.Groups["x"].Value);
                var kind = optIn.Groups["kind"].Value.ToLowerInvariant();
                Remember(line, name, $"ldap_{kind}{slot}");
                if (!AttributeName().IsMatch(value))
                {
                    throw Error(line, name, $"\"{value}\" is not an attribute name");
                }

                var draft = Draft(slot);
                switch (kind)
                {
                    case "optin": draft.UserAttribute = value; break;
                    case "source_optin": draft.SourceAttribute = value; break;
                    default: draft.DomainAttribute = value; break;
                }

                return;
            }

            var upper = name.ToUpperInvariant();
            if (upper is "DIRECTORY_FILE" or "DIRECTORY_ADDRESS_ATTRIBUTES" or "DIRECTORY_DOMAIN_ATTRIBUTES"
                or "LDAP_HOST" or "LDAP_PORT" or "LDAP_BIND_DN" or "LDAP_BIND_PASSWORD" or "LDAP_BASE_DN" or "LDAP_TIMEOUT")
            {
                Remember(line, name, upper);
                _directory[upper] = (value, line);
                return;
            }

            throw Error(line, name, NotSupported(name));
        }

        /// <summary>
        /// Messaging Server options this host knows of but does not implement: an administrator
        /// bringing an option.dat across is told so, and what to use instead, rather than "unknown".
        /// </summary>
        private static string NotSupported(string name) => name.ToLowerInvariant() switch
        {
            var n when n.StartsWith("ldap_optout", StringComparison.Ordinal) =>
                "not supported: opt-out attributes are not implemented (remove the user's opt-in value, or use disablesourcespamfilterX / disabledestinationspamfilterX on a channel)",
            var n when n.StartsWith("alias_optin", StringComparison.Ordinal) || n.StartsWith("alias_optout", StringComparison.Ordinal) =>
                "not supported: this host has no alias file (opt recipients in through LDAP_OPTINX, their domain or a channel)",
            var n when n.EndsWith("_null_optin", StringComparison.Ordinal) =>
                "not supported: Messaging Server never documented its meaning; here any non-empty opt-in value opts in",
            _ => "unknown option",
        };

        private DirectoryOptions Directory()
        {
            string? Get(string name) => _directory.TryGetValue(name, out var v) ? v.Value : null;
            int LineOf(string name) => _directory.TryGetValue(name, out var v) ? v.Line : 0;

            var file = Get("DIRECTORY_FILE");
            if (file is { Length: 0 })
            {
                throw Error(LineOf("DIRECTORY_FILE"), "DIRECTORY_FILE", "the value is empty");
            }

            var host = Get("LDAP_HOST");
            if (host is { Length: 0 })
            {
                throw Error(LineOf("LDAP_HOST"), "LDAP_HOST", "the value is empty");
            }

            if (file is not null && host is not null)
            {
                throw Error(LineOf("LDAP_HOST"), "LDAP_HOST", $"set either DIRECTORY_FILE (line {LineOf("DIRECTORY_FILE")}) or LDAP_HOST, not both");
            }

            foreach (var ldapOnly in new[] { "LDAP_PORT", "LDAP_BIND_DN", "LDAP_BIND_PASSWORD", "LDAP_BASE_DN", "LDAP_TIMEOUT" })
            {
                if (host is null && Get(ldapOnly) is not null)
                {
                    throw Error(LineOf(ldapOnly), ldapOnly, "has no effect without LDAP_HOST");
                }
            }

            var port = 389;
            if (Get("LDAP_PORT") is { } portText
                && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
            {
                throw Error(LineOf("LDAP_PORT"), "LDAP_PORT", $"\"{portText}\" is not a port number (1 to 65535)");
            }

            var timeout = 10;
            if (Get("LDAP_TIMEOUT") is { } timeoutText
                && (!int.TryParse(timeoutText, NumberStyles.None, CultureInfo.InvariantCulture, out timeout) || timeout is < 1 or > 3600))
            {
                throw Error(LineOf("LDAP_TIMEOUT"), "LDAP_TIMEOUT", $"\"{timeoutText}\" is not a number of seconds (1 to 3600)");
            }

            if (host is not null && string.IsNullOrEmpty(Get("LDAP_BASE_DN")))
            {
                throw Error(LineOf("LDAP_HOST"), "LDAP_BASE_DN", "is required with LDAP_HOST");
            }

            if (Get("LDAP_BIND_PASSWORD") is not null && string.IsNullOrEmpty(Get("LDAP_BIND_DN")))
            {
                throw Error(LineOf("LDAP_BIND_PASSWORD"), "LDAP_BIND_PASSWORD", "is set but LDAP_BIND_DN is not");
            }

            return new DirectoryOptions
            {
                File = file is null ? null : Path.GetFullPath(Path.Combine(folder, file)),
                LdapHost = host,
                LdapPort = port,
                LdapBindDn = Get("LDAP_BIND_DN") is { Length: > 0 } dn ? dn : null,
                LdapBindPassword = Get("LDAP_BIND_PASSWORD"),
                LdapBaseDn = Get("LDAP_BASE_DN"),
                LdapTimeout = TimeSpan.FromSeconds(timeout),
                AddressAttributes = Attributes("DIRECTORY_ADDRESS_ATTRIBUTES", DirectoryOptions.DefaultAddressAttributes),
                DomainAttributes = Attributes("DIRECTORY_DOMAIN_ATTRIBUTES", DirectoryOptions.DefaultDomainAttributes),
            };

            IReadOnlyList<string> Attributes(string name, IReadOnlyList<string> fallback)
            {
                if (Get(name) is not { } text)
                {
                    return fallback;
                }

                return TryParseAttributes(text, out var list)
                    ? list
                    : throw Error(LineOf(name), name, $"\"{text}\" is not a list of attribute names (separated by commas)");
            }
        }

        private SlotDraft Draft(int slot)
        {
            if (!_slots.TryGetValue(slot, out var draft))
            {
                _slots[slot] = draft = new SlotDraft();
            }

            return draft;
        }

        private void Remember(int line, string name, string canonical)
        {
            if (_seen.TryGetValue(canonical, out var first))
            {
                throw Error(line, name, $"is already set at line {first}");
            }

            _seen[canonical] = line;
        }

        private int SlotNumber(int line, string name, string digits) =>
            TryParseSlot(digits, out var slot) ? slot : throw Error(line, name, SlotNumberProblem);

        private string Required(int line, string name, string value) =>
            value.Length > 0 ? value : throw Error(line, name, "the value is empty");

        private VerdictPattern Pattern(int line, string name, string value) =>
            VerdictPattern.TryCreate(value, out var problem) ?? throw Error(line, name, problem!);

        /// <summary>
        /// An action URL, decoded and its Sieve parsed now, so that its errors name this line. A script with
        /// $U is parsed with placeholder verdicts (none, a command, a quoted string): it is wrong only when
        /// no verdict at all could make it right.
        /// </summary>
        private SieveAction? Action(int line, string name, string value)
        {
            if (value.Length == 0)
            {
                return null; // explicitly no action
            }

            var action = SieveAction.TryParse(value, out var problem) ?? throw Error(line, name, problem!);
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
            throw Error(line, name, $"the Sieve script is wrong{with}: {first!.Message}", first);
        }

        public string PluginPath(string library) => Path.GetFullPath(Path.Combine(pluginFolder, library));
    }

    /// <summary>What the lines said about one slot, before the cross-option checks.</summary>
    private sealed class SlotDraft
    {
        public (string Value, int Line)? Library { get; set; }

        public string? ConfigFile { get; set; }

        public bool Optional { get; set; }

        public SieveAction? NullAction { get; set; }

        public SieveAction? StringAction { get; set; } = DefaultStringAction;

        public Dictionary<int, (VerdictPattern Pattern, int Line)> Verdicts { get; } = [];

        public Dictionary<int, (SieveAction Action, int Line)> Actions { get; } = [];

        public string? UserAttribute { get; set; }

        public string? SourceAttribute { get; set; }

        public string? DomainAttribute { get; set; }

        public SlotOptions? Build(Reader reader, int number)
        {
            foreach (var (m, verdict) in Verdicts.Where(v => !Actions.ContainsKey(v.Key)))
            {
                throw reader.Error(verdict.Line, $"spamfilter{number}_verdict_{m}", $"has no spamfilter{number}_action_{m}");
            }

            foreach (var (m, action) in Actions.Where(a => !Verdicts.ContainsKey(a.Key)))
            {
                throw reader.Error(action.Line, $"spamfilter{number}_action_{m}", $"has no spamfilter{number}_verdict_{m}");
            }

            if (Library is not { } library)
            {
                return null;
            }

            var configFile = ConfigFile
                ?? throw reader.Error(library.Line, $"spamfilter{number}_config_file", $"is required with spamfilter{number}_library");
            return new SlotOptions(number, reader.PluginPath(library.Value), configFile)
            {
                Optional = Optional,
                NullAction = NullAction,
                StringAction = StringAction,
                VerdictRules = Verdicts.OrderBy(v => v.Key).Select(v => new VerdictRule(v.Key, v.Value.Pattern, Actions[v.Key].Action)).ToArray(),
                UserOptInAttribute = UserAttribute,
                SourceOptInAttribute = SourceAttribute,
                DomainOptInAttribute = DomainAttribute,
            };
        }
    }
}
