using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// Macro names, the default list of each stage and how a list is written. Single-character macros travel bare
/// (<c>j</c>), longer ones in braces (<c>{client_addr}</c>); libmilter matches <c>j</c> with <c>{j}</c> but
/// longer names only exactly, so every name is put in that one canonical form.
/// </summary>
internal static class MacroNames
{
    public const string MtaName = "j";
    public const string MtaVersion = "v";
    public const string Client = "_";
    public const string QueueId = HostMacros.QueueId;
    public const string DaemonName = "{daemon_name}";
    public const string DaemonAddress = "{daemon_addr}";
    public const string DaemonPort = "{daemon_port}";
    public const string InterfaceName = "{if_name}";
    public const string InterfaceAddress = "{if_addr}";
    public const string ClientAddress = "{client_addr}";
    public const string ClientName = "{client_name}";
    public const string ClientPort = "{client_port}";
    public const string ClientPtr = "{client_ptr}";
    public const string ClientResolve = "{client_resolve}";
    public const string MailAddress = "{mail_addr}";
    public const string MailHost = "{mail_host}";
    public const string MailMailer = "{mail_mailer}";
    public const string RcptAddress = "{rcpt_addr}";
    public const string RcptHost = "{rcpt_host}";
    public const string RcptMailer = "{rcpt_mailer}";
    public const string OptIn = "{spamfilter_optin}";

    /// <summary>
    /// The macros sent at each stage (by <see cref="MacroStage"/>) unless configured otherwise or the milter asks for a
    /// list of its own: Postfix 3.7's <c>milter_*_macros</c> defaults, word for word and in its order, plus the opt-in
    /// values of this plug-in's host at MAIL (which have no value unless the host gives them). A macro goes out only
    /// when it has a value.
    /// </summary>
    public static IReadOnlyList<string> DefaultListText { get; } =
    [
        /* Connect */ "j {daemon_name} {daemon_addr} v _",
        /* Helo */    $"{HostMacros.TlsVersion} {HostMacros.Cipher} {HostMacros.CipherBits} {HostMacros.CertSubject} {HostMacros.CertIssuer}",
        /* Mail */    $"{QueueId} {HostMacros.AuthType} {HostMacros.AuthAuthen} {HostMacros.AuthAuthor} {MailAddress} {MailHost} {MailMailer} {OptIn}",
        /* Rcpt */    $"{QueueId} {RcptAddress} {RcptHost} {RcptMailer}",
        /* Data */    QueueId,
        /* EOM */     QueueId,
        /* EOH */     QueueId,
        /* Unknown */ "",
    ];

    /// <summary>Stage for a host macro that appears in no list: sent with CONNECT.</summary>
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

    /// <summary>
    /// A list as Postfix's <c>milter_*_macros</c> are written: names separated by blanks or commas, braces optional
    /// (<c>j, daemon_name {client_addr}</c>); each name in canonical form, in the order given. Empty text is an
    /// empty list. A word that is no macro name is a <see cref="FormatException"/> naming it.
    /// </summary>
    public static IReadOnlyList<string> ParseList(string text)
    {
        var names = new List<string>();
        foreach (var word in text.Split([' ', '\t', ',', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            var canonical = Canonical(word);
            if (!IsWellFormed(canonical))
            {
                throw new FormatException($"\"{word}\" is not a macro name: use one character, or a name with or without braces and no braces inside");
            }

            names.Add(canonical);
        }

        return names;
    }
}
