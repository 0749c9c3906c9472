using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.Relay;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// <c>--next-hop-tls</c> end to end: swaks sends to the relay, the libmilter test milter filters, and the next hop is a
/// real Postfix smtpd offering STARTTLS with a certificate for mx.example.com under a test CA (its <c>Received:</c> field
/// says <c>ESMTPS</c> for a TLS session), or smtp-sink, which offers no STARTTLS.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class RelayNextHopTlsTests : TempFolderTest
{
    private const string Sender = "claims@prizes.example.net";
    private const string Bob = "bob@example.com";

    private TempFolder _files = null!;
    private PostfixInstance _postfix = null!;
    private SmtpSink _sink = null!;
    private string _caFile = null!;

    [OneTimeSetUp]
    public async Task StartNextHops()
    {
        _files = new TempFolder();
        var (certificate, intermediate, root) = TestCertificate.CreateChain("mx.example.com");
        _caFile = _files.Write("ca.pem", root.ExportCertificatePem() + "\n");
        var (chain, key) = TestCertificate.WritePem(certificate, _files, "smtpd-", intermediate);
        _postfix = await PostfixInstance.StartAsync("", "smtpd_tls_security_level=may", "smtpd_tls_cert_file=" + chain, "smtpd_tls_key_file=" + key);
        _sink = await SmtpSink.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopNextHops()
    {
        await _postfix.DisposeAsync();
        await _sink.DisposeAsync();
        _files.Dispose();
    }

    private Task<RelayServer> StartAsync(int milterPort, int nextHopPort, CapturedLogs logs, NextHopTlsLevel level = NextHopTlsLevel.May, string? caFile = null,
        string? name = null)
    {
        Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={milterPort}\nTIMEOUT=1000\n");
        var relayCnf = Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        return RelayServer.StartAsync(new RelayOptions
        {
            Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
            ServerName = "relay.example",
            OptionFile = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n"),
            PluginFolder = Path.Combine(AppContext.BaseDirectory, "plugins"),
            ChannelFile = relayCnf,
            SourceChannel = "tcp_relay",
            NextHop = NextHop.TryParse($"127.0.0.1:{nextHopPort}"),
            Quarantine = Path.Combine(Folder.Path, "quarantine"),
            NextHopTls = level,
            NextHopTlsCaFile = caFile,
            NextHopTlsName = name,
        }, logs, default);
    }

    private Task<SwaksRun> SendAsync(RelayServer relay, string subject) =>
        Swaks.SendAsync(relay.EndPoint.Port, Sender, [Bob], Folder.Write("message.eml", $"From: {Sender}\r\nTo: {Bob}\r\nSubject: {subject}\r\n\r\nHello."));

    private static string Only(CapturedLogs logs, int eventId) => logs.Entries.Single(e => e.EventId.Id == eventId).Message;

    [Test]
    public async Task By_default_the_relay_sends_over_TLS_to_a_next_hop_that_offers_STARTTLS_and_logs_the_protocol_and_cipher_at_Debug()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(milter.Port, _postfix.SmtpPort, logs);
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_postfix.SinkFolder));

        var swaks = await SendAsync(relay, "opportunistic");

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var relayed = Encoding.ASCII.GetString((await SmtpSink.WaitForNewDumpAsync(_postfix.SinkFolder, seen, TimeSpan.FromSeconds(20))).Message);
        var session = logs.Entries.Single(e => e.EventId.Id == 7019);
        Assert.Multiple(() =>
        {
            Assert.That(relayed, Does.Contain("Subject: opportunistic").And.Contain("by mta.example (Postfix) with ESMTPS id "), "Postfix got it over TLS");
            Assert.That(session.Level, Is.EqualTo(LogLevel.Debug));
            Assert.That(session.Message, Does.Match($@"^message \w+ to next hop 127\.0\.0\.1:{_postfix.SmtpPort}: ""Untrusted TLS connection: TLSv1\.[23] with cipher TLS_\w+, certificate CN=mx\.example\.com""$"));
            Assert.That(Only(logs, 7001), Does.EndWith($"messages go to next hop 127.0.0.1:{_postfix.SmtpPort} (--next-hop-tls may)"));
        });
    }

    [Test]
    public async Task At_encrypt_a_next_hop_without_STARTTLS_gets_nothing_the_client_is_told_to_try_again_later_and_the_log_says_why()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(milter.Port, _sink.Port, logs, NextHopTlsLevel.Encrypt);
        var before = SmtpSink.DumpsIn(_sink.Folder).Count;

        var swaks = await SendAsync(relay, "must be encrypted");

        Assert.That(swaks.Replies[^2], Is.EqualTo("451 4.4.1 Next hop not available - try again later"), "a temporary failure: the client keeps the message\n" + swaks);
        Assert.That(Only(logs, 7018), Is.EqualTo($"next hop 127.0.0.1:{_sink.Port} not available: TLS (encrypt) failed at EHLO: \"TLS is required, but was not offered\"; "
            + "the client is told to try again later"));
        Assert.That(logs.Entries.Single(e => e.EventId.Id == 7018).Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(SmtpSink.DumpsIn(_sink.Folder), Has.Count.EqualTo(before), "nothing went in plain text");
    }

    [Test]
    public async Task At_verify_a_certificate_that_does_not_bear_the_expected_name_is_refused_and_logged_and_the_client_told_to_try_again_later()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(milter.Port, _postfix.SmtpPort, logs, NextHopTlsLevel.Verify, _caFile, "mail.example.net");
        var before = SmtpSink.DumpsIn(_postfix.SinkFolder).Count;

        var swaks = await SendAsync(relay, "wrong name");

        Assert.That(swaks.Replies[^2], Is.EqualTo("451 4.4.1 Next hop not available - try again later"), swaks.ToString());
        Assert.That(Only(logs, 7018), Is.EqualTo($"next hop 127.0.0.1:{_postfix.SmtpPort} not available: TLS (verify) failed at the certificate: "
            + "\"server certificate not verified: CN=mx.example.com: not issued to mail.example.net\"; the client is told to try again later"),
            "the cause quoted: it holds what the next hop sent (a reply, a certificate's subject)");
        Assert.That(SmtpSink.DumpsIn(_postfix.SinkFolder), Has.Count.EqualTo(before));
    }

    [Test]
    public async Task At_verify_a_certificate_under_the_CA_file_that_bears_the_name_carries_the_message_over_verified_TLS()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        await using var relay = await StartAsync(milter.Port, _postfix.SmtpPort, logs, NextHopTlsLevel.Verify, _caFile, "mx.example.com");
        var seen = new HashSet<string>(SmtpSink.DumpsIn(_postfix.SinkFolder));

        var swaks = await SendAsync(relay, "verified");

        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var relayed = Encoding.ASCII.GetString((await SmtpSink.WaitForNewDumpAsync(_postfix.SinkFolder, seen, TimeSpan.FromSeconds(20))).Message);
        Assert.That(relayed, Does.Contain("Subject: verified").And.Contain("with ESMTPS id "));
        Assert.That(Only(logs, 7019), Does.Contain(": \"Verified TLS connection: TLSv1."));
    }

    [Test]
    public async Task A_SIGHUP_reads_the_CA_file_again_for_the_deliveries_after_it_and_a_file_it_cannot_use_leaves_the_authorities_in_use()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var logs = new CapturedLogs();
        var (_, _, strangerRoot) = TestCertificate.CreateChain("mx.example.com");
        var caFile = Folder.Write("rotating-ca.pem", strangerRoot.ExportCertificatePem() + "\n"); // not the CA behind Postfix's certificate
        await using var relay = await StartAsync(milter.Port, _postfix.SmtpPort, logs, NextHopTlsLevel.Verify, caFile, "mx.example.com");

        var before = await SendAsync(relay, "before the rotation");
        File.Copy(_caFile, caFile, overwrite: true);
        await relay.ReloadAsync();
        var after = await SendAsync(relay, "after the rotation");
        File.WriteAllText(caFile, "not a certificate\n");
        await relay.ReloadAsync();
        var afterBrokenFile = await SendAsync(relay, "after a broken file");

        Assert.Multiple(() =>
        {
            Assert.That(before.Replies[^2], Is.EqualTo("451 4.4.1 Next hop not available - try again later"), "the first CA file does not vouch for the next hop\n" + before);
            Assert.That(after.ExitCode, Is.Zero, "read again at the SIGHUP: the new CA file is used\n" + after);
            Assert.That(Only(logs, 7023), Is.EqualTo($"SIGHUP: the next hop's CA file {caFile} read again: 1 certificate(s) for the deliveries from now on"));
            Assert.That(Only(logs, 7022), Is.EqualTo($"SIGHUP: the next hop's CA file was not read again, the authorities in use stay: cannot use --next-hop-tls-ca-file {caFile}: it holds no PEM certificate"));
            Assert.That(afterBrokenFile.ExitCode, Is.Zero, "the authorities read at the last good SIGHUP stay in use\n" + afterBrokenFile);
        });
    }
}
