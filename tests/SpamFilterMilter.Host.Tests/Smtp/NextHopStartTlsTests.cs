using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// What a real server does not do on demand: a next hop whose EHLO changes over TLS, one that breaks the handshake after
/// accepting STARTTLS, one that refuses STARTTLS. A scripted server on loopback, every line the client sent recorded.
/// </summary>
public class NextHopStartTlsTests
{
    private static readonly Envelope Envelope = new("alice@example.com", [], [new EnvelopeRecipient("bob@example.org", [])]);

    private static readonly byte[] Message = "Subject: hi\r\n\r\nHello.\r\n"u8.ToArray();

    /// <summary>A next hop that greets, answers the first EHLO with <paramref name="firstEhlo"/> and then runs <paramref name="afterEhlo"/>.</summary>
    private static async Task<(Task<NextHopTlsSession?> Delivery, Task<List<string>> Seen)> StartAsync(string firstEhlo, NextHopTls tls,
        Func<Stream, StreamReader, List<string>, Task> afterEhlo)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var seen = Task.Run(async () =>
        {
            var lines = new List<string>();
            try
            {
                using var client = await listener.AcceptTcpClientAsync();
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.ASCII);
                await Write(stream, "220 fake ESMTP");
                lines.Add((await reader.ReadLineAsync())!);
                await Write(stream, firstEhlo);
                await afterEhlo(stream, reader, lines);
            }
            finally
            {
                listener.Stop();
            }

            return lines;
        });
        var delivery = NextHopClient.DeliverAsync(new IPEndPoint(IPAddress.Loopback, port), "relay.example", Envelope, Message, tls: tls);
        return (delivery, seen);
    }

    private static async Task Write(Stream stream, string reply) => await stream.WriteAsync(Encoding.ASCII.GetBytes(reply.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n"));

    /// <summary>Answers each command with 250 (354 to DATA), recording it, until QUIT or the end of the connection.</summary>
    private static async Task TakeMessage(Stream stream, TextReader reader, List<string> lines)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
            if (line == "DATA")
            {
                await Write(stream, "354 go on");
                while (await reader.ReadLineAsync() is { } body && body != ".")
                {
                }

                lines.Add(".");
            }

            if (line == "QUIT")
            {
                return; // a client that gives up does not wait for the 221
            }

            await Write(stream, line == "DATA" ? "250 queued" : "250 ok");
        }
    }

    [Test]
    public async Task After_STARTTLS_the_client_says_EHLO_again_and_uses_only_what_the_new_reply_offers()
    {
        var (delivery, seen) = await StartAsync("250-fake\n250-SIZE 100000\n250-DSN\n250 STARTTLS", new NextHopTls(NextHopTlsLevel.Encrypt), async (stream, reader, lines) =>
        {
            lines.Add((await reader.ReadLineAsync())!);
            await Write(stream, "220 go ahead");
            await using var tls = new SslStream(stream);
            await tls.AuthenticateAsServerAsync(TestCertificate.Create());
            using var secured = new StreamReader(tls, Encoding.ASCII);
            lines.Add((await secured.ReadLineAsync())!);
            await Write(tls, "250-fake\n250 8BITMIME"); // SIZE and DSN no longer offered
            await TakeMessage(tls, secured, lines);
        });

        var session = await delivery;

        Assert.That(await seen, Is.EqualTo(new[]
        {
            "EHLO relay.example", "STARTTLS", "EHLO relay.example", "MAIL FROM:<alice@example.com>", "RCPT TO:<bob@example.org>", "DATA", ".", "QUIT",
        }), "no SIZE and no ORCPT: what the plain-text EHLO offered does not count (RFC 3207 §4.2)");
        Assert.That(session?.ToString(), Does.StartWith("Untrusted TLS connection: TLSv1."));
    }

    [TestCase(NextHopTlsLevel.May)]
    [TestCase(NextHopTlsLevel.Encrypt)]
    public async Task A_handshake_that_fails_after_STARTTLS_was_accepted_fails_the_delivery_and_nothing_goes_in_plain_text(NextHopTlsLevel level)
    {
        var (delivery, seen) = await StartAsync("250-fake\n250 STARTTLS", new NextHopTls(level), async (stream, reader, lines) =>
        {
            lines.Add((await reader.ReadLineAsync())!);
            await Write(stream, "220 go ahead");
            await Write(stream, "this is no TLS record");
            ((NetworkStream)stream).Socket.Shutdown(SocketShutdown.Send); // and the next hop's side ends there
            while (await reader.ReadLineAsync() is { } line)
            {
                lines.Add(line);
            }
        });

        var failure = Assert.ThrowsAsync<NextHopTlsException>(async () => await delivery);

        Assert.That(failure!.Failure, Is.EqualTo(NextHopTlsFailure.Handshake));
        Assert.That(failure.Message, Does.StartWith("cannot start TLS: handshake failure: "));
        Assert.That((await seen).Where(line => line.StartsWith("MAIL", StringComparison.Ordinal) || line.StartsWith("EHLO", StringComparison.Ordinal)),
            Is.EqualTo(new[] { "EHLO relay.example" }), "no second EHLO, no MAIL: the message is not sent in plain text");
    }

    [Test]
    public async Task At_may_a_refused_STARTTLS_leaves_the_session_in_plain_text_as_at_Postfix()
    {
        var (delivery, seen) = await StartAsync("250-fake\n250 STARTTLS", new NextHopTls(NextHopTlsLevel.May), async (stream, reader, lines) =>
        {
            lines.Add((await reader.ReadLineAsync())!);
            await Write(stream, "454 4.7.0 TLS not available due to local problem");
            await TakeMessage(stream, reader, lines);
        });

        Assert.That(await delivery, Is.Null, "plain text");
        Assert.That(await seen, Does.Contain("MAIL FROM:<alice@example.com>"));
    }

    [Test]
    public async Task At_encrypt_a_refused_STARTTLS_fails_the_delivery_with_the_refusal()
    {
        var (delivery, seen) = await StartAsync("250-fake\n250 STARTTLS", new NextHopTls(NextHopTlsLevel.Encrypt), async (stream, reader, lines) =>
        {
            lines.Add((await reader.ReadLineAsync())!);
            await Write(stream, "454 4.7.0 TLS not available due to local problem");
            await TakeMessage(stream, reader, lines);
        });

        var failure = Assert.ThrowsAsync<NextHopTlsException>(async () => await delivery);

        Assert.That(failure!.Failure, Is.EqualTo(NextHopTlsFailure.Refused));
        Assert.That(failure.Message, Is.EqualTo("TLS is required, but STARTTLS was refused: 454 4.7.0 TLS not available due to local problem"));
        Assert.That(await seen, Is.EqualTo(new[] { "EHLO relay.example", "STARTTLS", "QUIT" }));
    }
}
