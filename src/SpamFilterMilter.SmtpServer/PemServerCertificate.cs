using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// A server certificate read from PEM files as certbot and most CAs leave them (the certificate with the intermediate
/// certificates behind it, and its private key), for an SmtpServer endpoint's STARTTLS
/// (<c>EndpointDefinitionBuilder.Certificate(pem)</c>): the integration presents the whole chain, which a certificate
/// given to SmtpServer alone does not send, and <see cref="Reload"/> takes a renewed certificate for the sessions that
/// start after it, without a restart.
/// </summary>
public sealed class PemServerCertificate : ICertificateFactory
{
    private volatile Loaded _loaded;

    /// <summary>Reads the certificate; throws <see cref="InvalidOperationException"/> saying which file and why when it cannot be used.</summary>
    /// <param name="certificatePath">The certificate, then its intermediate certificates (certbot's <c>fullchain.pem</c>).</param>
    /// <param name="keyPath">Its private key (certbot's <c>privkey.pem</c>); null when it is in <paramref name="certificatePath"/> too.</param>
    public PemServerCertificate(string certificatePath, string? keyPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePath);
        CertificatePath = Path.GetFullPath(certificatePath);
        KeyPath = keyPath is null ? null : Path.GetFullPath(keyPath);
        _loaded = Load();
    }

    /// <summary>The certificate file.</summary>
    public string CertificatePath { get; }

    /// <summary>The key file, or null when the key is in <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; }

    /// <summary>The certificate presented now (with its private key).</summary>
    public X509Certificate2 Certificate => _loaded.Certificate;

    /// <summary>The intermediate certificates presented behind it.</summary>
    public X509Certificate2Collection Intermediates => [.. _loaded.Intermediates];

    /// <summary>
    /// Reads the files again (a renewed certificate): sessions that start TLS from now on get it. When they cannot be
    /// used, throws <see cref="InvalidOperationException"/> and keeps the certificate it had.
    /// </summary>
    public void Reload() => _loaded = Load();

    X509Certificate ICertificateFactory.GetServerCertificate(ISessionContext sessionContext) => _loaded.Certificate;

    /// <summary>What the handshake presents for <paramref name="certificate"/>: its chain when it is this one's (read before a reload, too).</summary>
    internal SslStreamCertificateContext? ContextFor(X509Certificate certificate)
    {
        var loaded = _loaded;
        return ReferenceEquals(loaded.Certificate, certificate) ? loaded.Context : null;
    }

    private Loaded Load()
    {
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
            if (!certificate.HasPrivateKey)
            {
                throw new CryptographicException("it has no private key");
            }

            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(CertificatePath);
            var intermediates = all.Where(c => c.Thumbprint != certificate.Thumbprint).ToArray();
            var context = SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true);
            return new Loaded(certificate, intermediates, context);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            var key = KeyPath is null ? "" : $" with the key {KeyPath}";
            throw new InvalidOperationException($"cannot use {CertificatePath}{key} as the TLS certificate: {e.Message}", e);
        }
    }

    private sealed record Loaded(X509Certificate2 Certificate, X509Certificate2[] Intermediates, SslStreamCertificateContext Context);
}
