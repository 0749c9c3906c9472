namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// Macro names and the default list of each stage. Single-character macros travel bare (<c>j</c>),
/// longer ones in braces (<c>{client_addr}</c>); libmilter matches <c>j</c> with <c>{j}</c> but
/// longer names only exactly, so every name is put in that one canonical form.
/// </summary>
internal static class MacroNames
{
    public const string MtaName = "j";
    public const string QueueId = "i";
    public const string ClientAddress = "{client_addr}";
    public const string ClientName = "{client_name}";
    public const string ClientPort = "{client_port}";
    public const string MailAddress = "{mail_addr}";
    public const string MailHost = "{mail_host}";
    public const string MailMailer = "{mail_mailer}";
    public const string RcptAddress = "{rcpt_addr}";
    public const string RcptHost = "{rcpt_host}";
    public const string RcptMailer = "{rcpt_mailer}";
    public const string OptIn = "{spamfilter_optin}";

    /// <summary>
    /// The macros sent at each stage when the milter did not ask for a list of its own: the seven
    /// Messaging Server 6.3 provided, at the stage sendmail sends them, plus the other facts a host may
    /// supply (sendmail's and Postfix's defaults). A macro is sent only when it has a value.
    /// </summary>
    public static IReadOnlyList<string>[] DefaultLists { get; } =
    [
        /* Connect */ ["j", "_", "v", "{daemon_name}", "{daemon_addr}", "{daemon_port}", "{if_name}", "{if_addr}",
                       ClientAddress, ClientName, ClientPort, "{client_ptr}", "{client_resolve}", "{client_connections}"],
        /* Helo */    ["{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}", "{tls_sni}"],
        /* Mail */    [QueueId, "{auth_type}", "{auth_authen}", "{auth_author}", "{auth_ssf}", MailMailer, MailHost, MailAddress, OptIn],
        /* Rcpt */    [RcptMailer, RcptHost, RcptAddress],
        /* Data */    [QueueId],
        /* EOM */     [QueueId, "{msg_id}"],
        /* EOH */     [],
    ];

    /// <summary>Stage for a host macro that appears in no default list: sent with CONNECT.</summary>
    public const MacroStage ExtraMacroStage = MacroStage.Connect;

    /// <summary>The canonical form: <c>{x}</c> → <c>x</c>, <c>name</c> → <c>{name}</c>.</summary>
    public static string Canonical(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is ['{', _, '}'])
        {
            return name[1..2];
        }

        if (name.Length > 1 && name[0] != '{')
        {
            return "{" + name + "}";
        }

        return name;
    }

    /// <summary>True when the name is well-formed: one character, or <c>{…}</c> without spaces, braces or NUL inside.</summary>
    public static bool IsWellFormed(string name) =>
        name.Length == 1 ? name[0] is > ' ' and not '{' and not '}' and < (char)0x7F
        : name.Length > 2 && name[0] == '{' && name[^1] == '}'
          && name.AsSpan(1, name.Length - 2).IndexOfAny(NotInName) < 0;

    private static readonly System.Buffers.SearchValues<char> NotInName = System.Buffers.SearchValues.Create(" {}\0\t\r\n");

    private static readonly HashSet<string> InDefaultLists = DefaultLists.SelectMany(l => l).ToHashSet(StringComparer.Ordinal);

    /// <summary>True when a macro has a place in one of the default lists.</summary>
    public static bool HasDefaultStage(string canonicalName) => InDefaultLists.Contains(canonicalName);
}
