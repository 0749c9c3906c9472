using System.Net.Security;
using System.Security.Authentication;
using SmtpServer.Protocol;

namespace SpamFilterMilter.SmtpServer.Tests;

public class SecurityMacrosTests
{
    [TestCase(TlsCipherSuite.TLS_AES_128_GCM_SHA256, "128")]
    [TestCase(TlsCipherSuite.TLS_AES_256_GCM_SHA384, "256")]
    [TestCase(TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, "256")]
    [TestCase(TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "128")]
    [TestCase(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, "256")]
    [TestCase(TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "256")]
    [TestCase(TlsCipherSuite.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "112")]
    [TestCase(TlsCipherSuite.TLS_NULL_WITH_NULL_NULL, null)]
    [TestCase(TlsCipherSuite.TLS_RSA_WITH_CAMELLIA_256_CBC_SHA, null)]
    public void The_cipher_bits_are_those_of_the_suites_bulk_cipher_and_unset_for_one_not_known(TlsCipherSuite suite, string? bits) =>
        Assert.That(SecurityMacros.BitsOf(suite), Is.EqualTo(bits));

    [TestCase(SslProtocols.Tls13, "TLSv1.3")]
    [TestCase(SslProtocols.Tls12, "TLSv1.2")]
    [TestCase(SslProtocols.None, null)]
    public void The_TLS_version_is_named_as_OpenSSL_names_it_for_sendmail_and_Postfix(SslProtocols protocol, string? name) =>
        Assert.That(SecurityMacros.VersionName(protocol), Is.EqualTo(name));

    [Test]
    public void Without_TLS_every_TLS_macro_is_removed() =>
        Assert.That(SecurityMacros.OfTls(null), Is.EqualTo(new (string, string?)[] { ("{tls_version}", null), ("{cipher}", null), ("{cipher_bits}", null) }));

    [Test]
    public void Before_a_client_authenticated_the_AUTH_macros_are_removed_whatever_mechanism_it_named() =>
        Assert.That(SecurityMacros.OfAuth(AuthenticationMethod.Plain, user: null), Is.EqualTo(new (string, string?)[] { ("{auth_type}", null), ("{auth_authen}", null) }));

    [Test]
    public void An_authenticated_client_gives_the_mechanism_and_the_user() =>
        Assert.That(SecurityMacros.OfAuth(AuthenticationMethod.Login, "alice"), Is.EqualTo(new[] { ("{auth_type}", "LOGIN"), ("{auth_authen}", "alice") }));
}
