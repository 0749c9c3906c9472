using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// STARTTLS to the next hop at Postfix's levels, against a real Postfix smtpd: one that offers STARTTLS with a certificate
/// for mx.example.com issued under a test CA, one that offers none. What Postfix received is read where it relayed it
/// (its smtp-sink): its <c>Received:</c> field says <c>ESMTPS</c> for a session over TLS.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class NextHopTlsTests
{
    private const string ServerName = "mx.example.com";

    private TempFolder _files = null!;
    private PostfixInstance _tlsPostfix = null!;
    private PostfixInstance _plainPostfix = null!;
    private X509Certificate2 _root = null!;
    private X509Certificate2 _otherRoot = null!;

    [OneTimeSetUp]
    public async Task StartPostfixes()
    {
        _files = new TempFolder();
        var (certificate, intermediate, root) = TestCertificate.CreateChain(ServerName);
        _root = root;
        (_, _, _otherRoot) = TestCertificate.CreateChain(ServerName, "Other CA");
        var (chain, key) = TestCertificate.WritePem(certificate, _files, "smtpd-", intermediate);
        _tlsPostfix = await PostfixInstance.StartAsync("", "smtpd_tls_security_level=may", "smtpd_tls_cert_file=" + chain, "smtpd_tls_key_file=" + key,
            "smtpd_tls_loglevel=1");
        _plainPostfix = await PostfixInstance.StartAsync("");
    }

    [OneTimeTearDown]
    public async Task StopPostfixes()
    {
        await _tlsPostfix.DisposeAsync();
        await _plainPostfix.DisposeAsync();
        _files.Dispose();
    }

    private static readonly Envelope Envelope = new("alice@example.com", [], [new EnvelopeRecipient("bob@example.org", [])]);

    private static byte[] Message(string subject) => Encoding.ASCII.GetBytes($"Subject: {subject}\r\nFrom: alice@example.com\r\n\r\nHello.\r\n");

    /// <summary>Delivers a message with <paramref name="subject"/> to <paramref name="postfix"/> and returns the TLS and what Postfix relayed.</summary>
    private static async Task<(NextHopTlsSession? Session, string Relayed)> DeliverAsync(PostfixInstance postfix, NextHopTls tls, string subject)
    {
        var seen = new HashSet<string>(SmtpSink.DumpsIn(postfix.SinkFolder));
        var session = await NextHopClient.DeliverAsync(new IPEndPoint(IPAddress.Loopback, postfix.SmtpPort), "relay.example", Envelope, Message(subject), tls: tls);
        var dump = await SmtpSink.WaitForNewDumpAsync(postfix.SinkFolder, seen, TimeSpan.FromSeconds(20));
        return (session, Encoding.ASCII.GetString(dump.Message));
    }

    private static Task<NextHopTlsException> RefusedAsync(PostfixInstance postfix, NextHopTls tls) =>
        AssertThrowsAsync(() => NextHopClient.DeliverAsync(new IPEndPoint(IPAddress.Loopback, postfix.SmtpPort), "relay.example", Envelope, Message("refused"), tls: tls));

    private static async Task<NextHopTlsException> AssertThrowsAsync(Func<Task> delivery)
    {
        try
        {
            await delivery();
        }
        catch (NextHopTlsException e)
        {
            return e;
        }

        Assert.Fail("the delivery went through");
        throw new InvalidOperationException();
    }

    private static async Task<bool> LoggedAsync(PostfixInstance postfix, string line)
    {
        for (var wait = 0; wait < 100 && !postfix.Log.Contains(line, StringComparison.Ordinal); wait++)
        {
            await Task.Delay(50);
        }

        return postfix.Log.Contains(line, StringComparison.Ordinal);
    }

    [Test]
    public async Task At_may_a_next_hop_that_offers_STARTTLS_gets_the_message_over_TLS_its_certificate_not_checked()
    {
        // The name is not the certificate's, nor is the CA trusted: may takes any certificate, as Postfix's may does.
        var (session, relayed) = await DeliverAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.May) { ServerName = "wrong.example" }, "may over TLS");

        Assert.Multiple(() =>
        {
            Assert.That(relayed, Does.Contain("Subject: may over TLS"));
            Assert.That(relayed, Does.Contain("by mta.example (Postfix) with ESMTPS id "), "Postfix's Received field: the session was TLS");
            Assert.That(session, Is.Not.Null);
            Assert.That(session!.ProtocolName, Is.AnyOf("TLSv1.2", "TLSv1.3"));
            Assert.That(session.Verified, Is.False);
            Assert.That(session.ToString(), Does.StartWith("Untrusted TLS connection: TLSv1.").And.Contain("certificate CN=mx.example.com"));
        });
    }

    [Test]
    public async Task At_may_a_next_hop_that_offers_no_STARTTLS_gets_the_message_in_plain_text()
    {
        var (session, relayed) = await DeliverAsync(_plainPostfix, new NextHopTls(NextHopTlsLevel.May), "may in plain text");

        Assert.That(relayed, Does.Contain("Subject: may in plain text").And.Contain("by mta.example (Postfix) with ESMTP id "));
        Assert.That(session, Is.Null, "no TLS");
    }

    [Test]
    public async Task At_encrypt_a_next_hop_that_offers_no_STARTTLS_gets_nothing_and_the_failure_says_so()
    {
        var refused = await RefusedAsync(_plainPostfix, new NextHopTls(NextHopTlsLevel.Encrypt));

        Assert.That(refused.Failure, Is.EqualTo(NextHopTlsFailure.NotOffered));
        Assert.That(refused.Message, Is.EqualTo("TLS is required, but was not offered"));
        Assert.That(await LoggedAsync(_plainPostfix, "disconnect from unknown[127.0.0.1] ehlo=1 quit=1 commands=2"), Is.True,
            "Postfix's count of the session's commands: EHLO and QUIT, no MAIL\n" + _plainPostfix.Log);
    }

    [Test]
    public async Task At_encrypt_the_message_goes_over_TLS_whatever_the_certificate()
    {
        var (session, relayed) = await DeliverAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.Encrypt), "encrypt");

        Assert.That(relayed, Does.Contain("with ESMTPS id "));
        Assert.That(session?.Verified, Is.False);
    }

    [Test]
    public async Task At_verify_a_certificate_that_chains_to_the_given_CA_and_bears_the_name_is_trusted()
    {
        var (session, relayed) = await DeliverAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.Verify) { ServerName = ServerName, TrustedAuthorities = [_root] }, "verified");

        Assert.That(relayed, Does.Contain("Subject: verified").And.Contain("with ESMTPS id "));
        Assert.That(session?.Verified, Is.True);
        Assert.That(session!.ToString(), Does.StartWith("Verified TLS connection: TLSv1."));
    }

    [Test]
    public async Task At_verify_a_certificate_from_another_CA_is_refused_and_nothing_is_sent()
    {
        var refused = await RefusedAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.Verify) { ServerName = ServerName, TrustedAuthorities = [_otherRoot] });

        Assert.That(refused.Failure, Is.EqualTo(NextHopTlsFailure.Certificate));
        Assert.That(refused.Message, Does.StartWith("server certificate not verified: CN=mx.example.com: not trusted ("));
        Assert.That(SmtpSink.DumpsIn(_tlsPostfix.SinkFolder).Select(File.ReadAllText), Has.None.Contains("Subject: refused"));
    }

    [Test]
    public async Task At_verify_the_system_roots_do_not_trust_a_private_CA()
    {
        var refused = await RefusedAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.Verify) { ServerName = ServerName });

        Assert.That(refused.Failure, Is.EqualTo(NextHopTlsFailure.Certificate));
        Assert.That(refused.Message, Does.Contain("not trusted ("));
    }

    [Test]
    public async Task At_verify_a_trusted_certificate_for_another_name_is_refused()
    {
        var refused = await RefusedAsync(_tlsPostfix, new NextHopTls(NextHopTlsLevel.Verify) { ServerName = "mail.example.net", TrustedAuthorities = [_root] });

        Assert.That(refused.Failure, Is.EqualTo(NextHopTlsFailure.Certificate));
        Assert.That(refused.Message, Is.EqualTo("server certificate not verified: CN=mx.example.com: not issued to mail.example.net"));
    }
}
