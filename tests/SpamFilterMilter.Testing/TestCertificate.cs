using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SpamFilterMilter.Testing;

/// <summary>A self-signed server certificate for a test's STARTTLS (clients in the tests do not verify it, as swaks does not by default).</summary>
public static class TestCertificate
{
    /// <summary>A certificate for <paramref name="hostName"/> with its private key, valid from yesterday for a week.</summary>
    public static X509Certificate2 Create(string hostName = "mx.example.com")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
    }

    /// <summary>Writes <paramref name="certificate"/> and its key as PEM files, as certbot leaves them: (certificate, key).</summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, TempFolder folder)
    {
        var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA key");
        return (folder.Write("fullchain.pem", certificate.ExportCertificatePem() + "\n"), folder.Write("privkey.pem", key.ExportPkcs8PrivateKeyPem() + "\n"));
    }
}
