using System.Net.Security;
using System.Security.Authentication;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>The TLS a message went over to the next hop, for the log.</summary>
public sealed class NextHopTlsSession
{
    internal NextHopTlsSession(SslProtocols protocol, TlsCipherSuite cipherSuite, string certificateSubject, bool verified)
    {
        Protocol = protocol;
        CipherSuite = cipherSuite;
        CertificateSubject = certificateSubject;
        Verified = verified;
    }

    /// <summary>The protocol negotiated.</summary>
    public SslProtocols Protocol { get; }

    /// <summary>The cipher suite negotiated.</summary>
    public TlsCipherSuite CipherSuite { get; }

    /// <summary>The subject of the next hop's certificate.</summary>
    public string CertificateSubject { get; }

    /// <summary>True when the certificate was checked and trusted (<see cref="NextHopTlsLevel.Verify"/>); false: not checked.</summary>
    public bool Verified { get; }

    /// <summary>The protocol as OpenSSL and Postfix name it: <c>TLSv1.2</c>, <c>TLSv1.3</c>.</summary>
    public string ProtocolName => Protocol switch
    {
        SslProtocols.Tls12 => "TLSv1.2",
        SslProtocols.Tls13 => "TLSv1.3",
        _ => Protocol.ToString(),
    };

    /// <summary>As Postfix's smtp client says it: <c>Verified TLS connection: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384, certificate CN=mx.example</c>.</summary>
    public override string ToString() =>
        $"{(Verified ? "Verified" : "Untrusted")} TLS connection: {ProtocolName} with cipher {CipherSuite}, certificate {CertificateSubject}";
}
