using System.Net.Security;
using System.Runtime.CompilerServices;
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
    /// <summary>Each certificate read, with its chain: a handshake that took a certificate just before a reload still gets its own.</summary>
    private readonly ConditionalWeakTable<X509Certificate, SslStreamCertificateContext> _chains = [];
    private volatile Loaded _loaded;

    /// <summary>Reads the certificate; throws <see cref="InvalidOperationException"/> saying which file and why when it cannot be used.</summary>
    /// <param name="certificatePath">The certificate, then its intermediate certificates (certbot's <c>fullchain.pem</c>).</param>
    /// <param name="keyPath">Its private key (certbot's <c>privkey.pem</c>); null when it is in <paramref name="certificatePath"/> too.</param>
    /// <exception cref="ArgumentException"><paramref name="certificatePath"/> is null or empty.</exception>
    /// <exception cref="InvalidOperationException">A file cannot be read, holds no certificate or key, the key is encrypted
    /// or is not the certificate's: the message names the file and why (the cause as the inner exception).</exception>
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

    /// <summary>The certificate presented now, with its private key: the instance the handshakes use, not to be disposed.</summary>
    public X509Certificate2 Certificate => _loaded.Certificate;

    /// <summary>The intermediate certificates presented behind it.</summary>
    public IReadOnlyList<X509Certificate2> Intermediates => _loaded.Intermediates;

    /// <summary>
    /// Reads the files again (a renewed certificate): sessions that start TLS from now on get it. When they cannot be
    /// used, throws and keeps the certificate it had.
    /// </summary>
    /// <exception cref="InvalidOperationException">The files cannot be used now (as for the constructor); the certificate in use stays.</exception>
    public void Reload() => _loaded = Load();

    X509Certificate ICertificateFactory.GetServerCertificate(ISessionContext sessionContext) => _loaded.Certificate;

    /// <summary>What the handshake presents for <paramref name="certificate"/>: its chain when it is one this read (before a reload, too).</summary>
    internal SslStreamCertificateContext? ContextFor(X509Certificate certificate) => _chains.TryGetValue(certificate, out var chain) ? chain : null;

    private Loaded Load()
    {
        try
        {
            if (File.ReadAllText(KeyPath ?? CertificatePath).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
            {
                throw new CryptographicException("its private key is encrypted: give it unencrypted, readable by this process alone");
            }

            var certificate = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
            if (!certificate.HasPrivateKey)
            {
                throw new CryptographicException("it has no private key");
            }

            if (OperatingSystem.IsWindows())
            {
                // Windows' TLS takes no ephemeral key (what a PEM key becomes): through PKCS#12 it gets a stored one.
                certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
            }

            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(CertificatePath);
            var intermediates = all.Where(c => c.Thumbprint != certificate.Thumbprint).ToArray();
            _chains.AddOrUpdate(certificate, SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true));
            return new Loaded(certificate, intermediates);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            var key = KeyPath is null ? "" : $" with the key {KeyPath}";
            throw new InvalidOperationException($"cannot use {CertificatePath}{key} as the TLS certificate: {e.Message}", e);
        }
    }

    private sealed record Loaded(X509Certificate2 Certificate, IReadOnlyList<X509Certificate2> Intermediates);
}
