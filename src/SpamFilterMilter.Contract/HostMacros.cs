namespace SpamFilterMilter.Contract;

/// <summary>
/// The names of the sendmail macros a host gives a filter (<see cref="IFilterSession.SetMacro"/>,
/// <see cref="MessageSubmission.Macros"/>): what the filter cannot derive from the client and the envelope, the
/// host's queue id and what it knows of the session's TLS and SMTP AUTH. Which stage each goes with is the filter's
/// configuration; by default Postfix's lists: the TLS ones with HELO, the AUTH ones with MAIL, the queue id with MAIL
/// and every stage after it (a host that has no queue id yet, as Postfix before its first accepted recipient, gives
/// none).
/// </summary>
public static class HostMacros
{
    /// <summary>The host's queue id, as it logs it and answers it in its 250.</summary>
    public const string QueueId = "i";

    /// <summary>The TLS protocol, as OpenSSL names it: <c>TLSv1.3</c>.</summary>
    public const string TlsVersion = "{tls_version}";

    /// <summary>The TLS cipher suite.</summary>
    public const string Cipher = "{cipher}";

    /// <summary>The bits of the cipher suite's bulk cipher: <c>256</c>.</summary>
    public const string CipherBits = "{cipher_bits}";

    /// <summary>The subject of the client's certificate.</summary>
    public const string CertSubject = "{cert_subject}";

    /// <summary>The issuer of the client's certificate.</summary>
    public const string CertIssuer = "{cert_issuer}";

    /// <summary>The SASL mechanism the client authenticated with: <c>PLAIN</c>.</summary>
    public const string AuthType = "{auth_type}";

    /// <summary>The name the client authenticated as.</summary>
    public const string AuthAuthen = "{auth_authen}";

    /// <summary>The identity MAIL's <c>AUTH=</c> gave, when the server trusts it.</summary>
    public const string AuthAuthor = "{auth_author}";
}
