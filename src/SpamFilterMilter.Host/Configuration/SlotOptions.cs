namespace SpamFilterMilter.Host.Configuration;

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

    /// <summary>The line of option.dat that sets <c>spamfilterX_library</c> (1-based; 0 when the slot was not read from a file).</summary>
    public int LibraryLine { get; internal set; }

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
