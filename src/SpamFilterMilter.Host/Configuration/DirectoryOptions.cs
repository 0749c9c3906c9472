using System.Globalization;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>Where the host finds users and domains for LDAP_OPTINX, LDAP_SOURCE_OPTINX and LDAP_DOMAIN_ATTR_OPTINX.</summary>
public sealed class DirectoryOptions
{
    /// <summary>The default of DIRECTORY_ADDRESS_ATTRIBUTES: Messaging Server's address attributes.</summary>
    public static IReadOnlyList<string> DefaultAddressAttributes { get; } = ["mail", "mailAlternateAddress", "mailEquivalentAddress"];

    /// <summary>The default of DIRECTORY_DOMAIN_ATTRIBUTES.</summary>
    public static IReadOnlyList<string> DefaultDomainAttributes { get; } = ["associatedDomain"];

    /// <summary>The default of LDAP_PORT.</summary>
    internal const int DefaultLdapPort = 389;

    /// <summary>The default of LDAP_TIMEOUT, in seconds.</summary>
    internal const int DefaultLdapTimeoutSeconds = 10;

    /// <summary>DIRECTORY_FILE: the file-backed directory (LDIF), or null.</summary>
    public string? File { get; init; }

    /// <summary>LDAP_HOST: the LDAP server, or null for no LDAP.</summary>
    public string? LdapHost { get; init; }

    /// <summary>LDAP_PORT (default <see cref="DefaultLdapPort"/>).</summary>
    public int LdapPort { get; init; } = DefaultLdapPort;

    /// <summary>LDAP_BIND_DN: simple bind as this DN; null binds anonymously.</summary>
    public string? LdapBindDn { get; init; }

    /// <summary>LDAP_BIND_PASSWORD: never logged, never part of a message.</summary>
    public string? LdapBindPassword { get; init; }

    /// <summary>LDAP_BASE_DN: users and domains are searched below it (subtree).</summary>
    public string? LdapBaseDn { get; init; }

    /// <summary>LDAP_TIMEOUT: seconds allowed for connecting, binding and each search (default <see cref="DefaultLdapTimeoutSeconds"/>).</summary>
    public TimeSpan LdapTimeout { get; init; } = TimeSpan.FromSeconds(DefaultLdapTimeoutSeconds);

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
