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
        var now = DateTimeOffset.UtcNow;
        return ServerRequest(hostName, key).CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
    }

    /// <summary>A server certificate's request: its name as subject and as the one DNS name it is for.</summary>
    private static CertificateRequest ServerRequest(string hostName, ECDsa key)
    {
        var request = new CertificateRequest($"CN={hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        request.CertificateExtensions.Add(names.Build());
        return request;
    }

    /// <summary>
    /// A certificate for <paramref name="hostName"/> issued by an intermediate CA (<c>CN=<paramref name="caName"/> Intermediate</c>)
    /// under a root CA, as a public CA issues one: (the certificate with its key, the intermediate).
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2 Intermediate) CreateIssued(string hostName = "mx.example.com", string caName = "Test CA")
    {
        var (certificate, intermediate, root) = CreateChain(hostName, caName);
        root.Dispose();
        return (certificate, intermediate);
    }

    /// <summary>
    /// <see cref="CreateIssued"/>'s certificate and intermediate, and the root CA's certificate (without its key) a client
    /// that verifies trusts: (the certificate with its key, the intermediate, the root).
    /// </summary>
    public static (X509Certificate2 Certificate, X509Certificate2 Intermediate, X509Certificate2 Root) CreateChain(string hostName = "mx.example.com", string caName = "Test CA")
    {
        var now = DateTimeOffset.UtcNow;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var root = CaRequest($"CN={caName} Root", rootKey).CreateSelfSigned(now.AddDays(-2), now.AddDays(30));
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediateOnly = CaRequest($"CN={caName} Intermediate", intermediateKey).Create(root, now.AddDays(-2), now.AddDays(20), [1]);
        using var intermediate = intermediateOnly.CopyWithPrivateKey(intermediateKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issued = ServerRequest(hostName, key).Create(intermediate, now.AddDays(-1), now.AddDays(7), [2]);
        return (issued.CopyWithPrivateKey(key), X509CertificateLoader.LoadCertificate(intermediate.RawData), X509CertificateLoader.LoadCertificate(root.RawData));

        static CertificateRequest CaRequest(string name, ECDsa key)
        {
            var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
            return request;
        }
    }

    /// <summary>
    /// Writes <paramref name="certificate"/> (and <paramref name="intermediates"/> behind it) and its key as PEM files, as
    /// certbot leaves them: (fullchain.pem, privkey.pem) in <paramref name="folder"/>, or under <paramref name="prefix"/>.
    /// </summary>
    public static (string Certificate, string Key) WritePem(X509Certificate2 certificate, TempFolder folder, string prefix = "", params X509Certificate2[] intermediates)
    {
        var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA key");
        var chain = string.Concat(new[] { certificate }.Concat(intermediates).Select(c => c.ExportCertificatePem() + "\n"));
        return (folder.Write(prefix + "fullchain.pem", chain), folder.Write(prefix + "privkey.pem", key.ExportPkcs8PrivateKeyPem() + "\n"));
    }
}
