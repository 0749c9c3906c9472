using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// What the lines said about the directory. Its options depend on each other (a file or a server; the other
/// LDAP_* options only with LDAP_HOST), so they are checked together once every line is read, and a bad
/// value waits until then too: a file with several mistakes is always told of the same one first, in the
/// order <see cref="Build"/> checks them, whatever the order of the lines.
/// </summary>
internal sealed class DirectoryDraft
{
    private readonly Dictionary<string, OptionSetting> _given = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SpamFilterConfigurationException> _problems = new(StringComparer.Ordinal);

    public string? File { get; set; }

    public IReadOnlyList<string> AddressAttributes { get; set; } = DirectoryOptions.DefaultAddressAttributes;

    public IReadOnlyList<string> DomainAttributes { get; set; } = DirectoryOptions.DefaultDomainAttributes;

    public string? LdapHost { get; set; }

    public int LdapPort { get; set; } = DirectoryOptions.DefaultLdapPort;

    public string? LdapBindDn { get; set; }

    public string? LdapBindPassword { get; set; }

    public string? LdapBaseDn { get; set; }

    public TimeSpan LdapTimeout { get; set; } = TimeSpan.FromSeconds(DirectoryOptions.DefaultLdapTimeoutSeconds);

    /// <summary>Reads a directory option's line with <paramref name="apply"/>; a bad value is kept for <see cref="Build"/>.</summary>
    public void Take(OptionSetting setting, Action<DirectoryDraft, OptionSetting> apply)
    {
        _given[setting.Name] = setting;
        try
        {
            apply(this, setting);
        }
        catch (SpamFilterConfigurationException e)
        {
            _problems[setting.Name] = e;
        }
    }

    /// <summary>The directory options, once the rules between them hold and every value is good.</summary>
    public DirectoryOptions Build(HostOptionsReader reader)
    {
        ThrowIfBad("DIRECTORY_FILE");
        ThrowIfBad("LDAP_HOST");
        if (File is not null && LdapHost is not null)
        {
            throw reader.Error(LineOf("LDAP_HOST"), "LDAP_HOST", $"set either DIRECTORY_FILE (line {LineOf("DIRECTORY_FILE")}) or LDAP_HOST, not both");
        }

        foreach (var ldapOnly in new[] { "LDAP_PORT", "LDAP_BIND_DN", "LDAP_BIND_PASSWORD", "LDAP_BASE_DN", "LDAP_TIMEOUT" })
        {
            if (LdapHost is null && _given.ContainsKey(ldapOnly))
            {
                throw reader.Error(LineOf(ldapOnly), ldapOnly, "has no effect without LDAP_HOST");
            }
        }

        ThrowIfBad("LDAP_PORT");
        ThrowIfBad("LDAP_TIMEOUT");
        if (LdapHost is not null && string.IsNullOrEmpty(LdapBaseDn))
        {
            throw reader.Error(LineOf("LDAP_HOST"), "LDAP_BASE_DN", "is required with LDAP_HOST");
        }

        if (LdapBindPassword is not null && LdapBindDn is null)
        {
            throw reader.Error(LineOf("LDAP_BIND_PASSWORD"), "LDAP_BIND_PASSWORD", "is set but LDAP_BIND_DN is not");
        }

        ThrowIfBad("DIRECTORY_ADDRESS_ATTRIBUTES");
        ThrowIfBad("DIRECTORY_DOMAIN_ATTRIBUTES");
        if (_problems.Values.FirstOrDefault() is { } other)
        {
            throw other; // an option added to the table without a place in the order above
        }

        return new DirectoryOptions
        {
            File = File is null ? null : reader.OptionFilePath(File),
            LdapHost = LdapHost,
            LdapPort = LdapPort,
            LdapBindDn = LdapBindDn,
            LdapBindPassword = LdapBindPassword,
            LdapBaseDn = LdapBaseDn,
            LdapTimeout = LdapTimeout,
            AddressAttributes = AddressAttributes,
            DomainAttributes = DomainAttributes,
        };

        int LineOf(string name) => _given.TryGetValue(name, out var setting) ? setting.Line : 0;

        void ThrowIfBad(string name)
        {
            if (_problems.Remove(name, out var problem))
            {
                throw problem;
            }
        }
    }
}
