using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// A certificate from PEM files as certbot leaves them: its chain is presented to the client (openssl s_client shows what
/// the server sent), a renewed one is taken by <see cref="PemServerCertificate.Reload"/>, and a file that cannot be used
/// is named.
/// </summary>
public class PemServerCertificateTests : TempFolderTest
{
    [Test]
    public void The_certificate_and_its_intermediate_are_read_from_the_chain_and_the_key_from_its_own_file()
    {
        var (issued, intermediate) = TestCertificate.CreateIssued();
        var (chain, key) = TestCertificate.WritePem(issued, Folder, intermediates: intermediate);

        var pem = new PemServerCertificate(chain, key);

        Assert.Multiple(() =>
        {
            Assert.That(pem.Certificate.Thumbprint, Is.EqualTo(issued.Thumbprint));
            Assert.That(pem.Certificate.HasPrivateKey, Is.True);
            Assert.That(pem.Intermediates.Select(c => c.Subject), Is.EqualTo(new[] { "CN=Test CA Intermediate" }));
        });
    }

    [Test]
    public void A_key_in_the_certificates_own_file_is_found_there()
    {
        var certificate = TestCertificate.Create();
        var (chain, key) = TestCertificate.WritePem(certificate, Folder);
        var both = Folder.Write("both.pem", File.ReadAllText(chain) + File.ReadAllText(key));

        Assert.That(new PemServerCertificate(both).Certificate.HasPrivateKey, Is.True);
    }

    [Test]
    public void A_certificate_without_its_key_or_with_another_key_is_refused_naming_the_file()
    {
        var (chain, _) = TestCertificate.WritePem(TestCertificate.Create(), Folder);
        var (_, otherKey) = TestCertificate.WritePem(TestCertificate.Create(), Folder, prefix: "other-");

        Assert.Multiple(() =>
        {
            Assert.That(() => new PemServerCertificate(chain), Throws.InvalidOperationException.With.Message.StartsWith($"cannot use {chain} as the TLS certificate: "));
            Assert.That(() => new PemServerCertificate(chain, otherKey),
                Throws.InvalidOperationException.With.Message.StartsWith($"cannot use {chain} with the key {otherKey} as the TLS certificate: "));
            Assert.That(() => new PemServerCertificate(Path.Combine(Folder.Path, "missing.pem")), Throws.InvalidOperationException.With.Message.Contains("missing.pem"));
        });
    }

    [Test]
    public void An_encrypted_key_is_refused_saying_so()
    {
        var certificate = TestCertificate.Create();
        var (chain, key) = TestCertificate.WritePem(certificate, Folder);
        File.WriteAllText(key, certificate.GetECDsaPrivateKey()!.ExportEncryptedPkcs8PrivateKeyPem("secret",
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000)));

        Assert.That(() => new PemServerCertificate(chain, key), Throws.InvalidOperationException.With.Message.EqualTo(
            $"cannot use {chain} with the key {key} as the TLS certificate: its private key is encrypted: give it unencrypted, readable by this process alone"));
    }

    [Test]
    public void A_reload_takes_the_renewed_certificate_and_one_that_fails_keeps_the_old()
    {
        var first = TestCertificate.Create();
        var (chain, key) = TestCertificate.WritePem(first, Folder);
        var pem = new PemServerCertificate(chain, key);
        var renewed = TestCertificate.Create();
        TestCertificate.WritePem(renewed, Folder);

        pem.Reload();
        var afterRenewal = pem.Certificate.Thumbprint;
        File.WriteAllText(key, "not a key\n");

        Assert.Multiple(() =>
        {
            Assert.That(afterRenewal, Is.EqualTo(renewed.Thumbprint));
            Assert.That(pem.Reload, Throws.InvalidOperationException);
            Assert.That(pem.Certificate.Thumbprint, Is.EqualTo(renewed.Thumbprint), "the one it had");
            Assert.That(((ICertificateFactory)pem).GetServerCertificate(null!), Is.SameAs(pem.Certificate));
        });
    }

    /// <summary>What openssl s_client prints of a STARTTLS session with the server: the certificate chain it was sent.</summary>
    private static async Task<string> ChainSentAsync(int port)
    {
        var (_, output, error) = await ServerProcess.RunToEndAsync("openssl",
            ["s_client", "-starttls", "smtp", "-connect", $"127.0.0.1:{port}", "-showcerts", "-servername", FilteringServer.Name],
            TimeSpan.FromSeconds(30), input: "QUIT\r\n");
        return output + error;
    }

    [Test]
    [Category("Integration")]
    public async Task STARTTLS_presents_the_intermediate_behind_the_certificate_as_openssl_sees_it()
    {
        var (issued, intermediate) = TestCertificate.CreateIssued(FilteringServer.Name);
        var (chain, key) = TestCertificate.WritePem(issued, Folder, intermediates: intermediate);
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), certificate: new PemServerCertificate(chain, key));

        var sent = await ChainSentAsync(server.Port);

        Assert.That(sent, Does.Match(@"(?s)Certificate chain\s*\n\s*0 s:CN\s?=\s?mx\.example\.com\s*\n\s*i:CN\s?=\s?Test CA Intermediate.*\n\s*1 s:CN\s?=\s?Test CA Intermediate"), sent);
    }

    [Test]
    [Category("Integration")]
    public async Task After_a_reload_the_next_session_is_sent_the_renewed_certificate_and_its_own_intermediate()
    {
        var (first, firstIntermediate) = TestCertificate.CreateIssued(FilteringServer.Name, caName: "First CA");
        var (chain, key) = TestCertificate.WritePem(first, Folder, intermediates: firstIntermediate);
        var pem = new PemServerCertificate(chain, key);
        await using var server = await FilteringServer.StartAsync(null, new MemoryStore(), certificate: pem);
        var before = await ChainSentAsync(server.Port);
        var (renewed, renewedIntermediate) = TestCertificate.CreateIssued(FilteringServer.Name, caName: "Renewed CA");
        TestCertificate.WritePem(renewed, Folder, intermediates: renewedIntermediate);

        pem.Reload();
        var after = await ChainSentAsync(server.Port);

        Assert.Multiple(() =>
        {
            Assert.That(before, Does.Match(@"\n\s*1 s:CN\s?=\s?First CA Intermediate"), before);
            Assert.That(after, Does.Match(@"\n\s*0 s:CN\s?=\s?mx\.example\.com\s*\n\s*i:CN\s?=\s?Renewed CA Intermediate"), after);
            Assert.That(after, Does.Match(@"\n\s*1 s:CN\s?=\s?Renewed CA Intermediate"), after);
        });
    }
}
