using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Testing.Smtp;

/// <summary>One reply as the client received it: the code, and every line as it came (code and separator included).</summary>
public sealed record ClientReply(int Code, IReadOnlyList<string> Lines)
{
    /// <summary>The reply's lines joined by CRLF, as on the wire (no final CRLF).</summary>
    public string Text => string.Join("\r\n", Lines);

    public override string ToString() => Text;
}

/// <summary>
/// An SMTP client that sends one line at a time and reads the whole reply to it, to check every byte of what the server
/// answers (swaks shows replies, but does not stop where a test wants), and whether the server closed the connection.
/// </summary>
public sealed class SmtpLineClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private Stream _stream; // the connection, or TLS over it
    private StreamReader _reader;

    private SmtpLineClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        // Latin-1 maps every byte to one char, so a reply with 8-bit bytes is compared byte for byte, not as U+FFFD.
        _reader = new StreamReader(_stream, Encoding.Latin1);
    }

    /// <summary>The greeting.</summary>
    public ClientReply Greeting { get; private set; } = null!;

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/> and reads the greeting.</summary>
    public static Task<SmtpLineClient> ConnectAsync(int port, CancellationToken cancellationToken = default) => ConnectAsync(port, tls: false, cancellationToken);

    /// <summary>
    /// Connects with a receive buffer of a few kilobytes and reads the greeting: a client that stops reading holds the
    /// server's writes after a few thousand replies, not after the megabytes the kernel's own sizing would take.
    /// </summary>
    public static Task<SmtpLineClient> ConnectWithSmallBufferAsync(int port, CancellationToken cancellationToken = default) =>
        ConnectAsync(port, tls: false, cancellationToken, receiveBufferSize: 4096);

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/> with TLS from the start (an SMTPS port) and reads the greeting.</summary>
    public static Task<SmtpLineClient> ConnectTlsAsync(int port, CancellationToken cancellationToken = default) => ConnectAsync(port, tls: true, cancellationToken);

    private static async Task<SmtpLineClient> ConnectAsync(int port, bool tls, CancellationToken cancellationToken, int? receiveBufferSize = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is { } size)
        {
            socket.ReceiveBufferSize = size; // before connecting: it sets the window the server may fill
        }

        await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var client = new SmtpLineClient(socket);
        if (tls)
        {
            await client.BeginTlsAsync(cancellationToken);
        }

        client.Greeting = await client.ReadReplyAsync(cancellationToken) ?? throw new IOException("the server closed the connection without a greeting");
        return client;
    }

    /// <summary>STARTTLS and, when the server is ready (220), the handshake: the reply to STARTTLS.</summary>
    public async Task<ClientReply> StartTlsAsync(CancellationToken cancellationToken = default)
    {
        var ready = await SendAsync("STARTTLS", cancellationToken);
        if (ready.Code == 220)
        {
            await BeginTlsAsync(cancellationToken);
        }

        return ready;
    }

    /// <summary>The TLS protocol the connection runs, once it does.</summary>
    public System.Security.Authentication.SslProtocols? TlsProtocol => (_stream as SslStream)?.SslProtocol;

    /// <summary>From here on over TLS, with a test server's self-signed certificate: its name is all that is checked.</summary>
    private async Task BeginTlsAsync(CancellationToken cancellationToken)
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false, (_, certificate, _, _) => certificate?.Subject == "CN=mx.example.com");
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.example.com" }, cancellationToken);
        (_stream, _reader) = (tls, new StreamReader(tls, Encoding.Latin1));
    }

    /// <summary>Sends <paramref name="line"/> and returns the reply.</summary>
    public async Task<ClientReply> SendAsync(string line, CancellationToken cancellationToken = default)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"), cancellationToken);
        return await ReadReplyAsync(cancellationToken) ?? throw new IOException($"the server closed the connection after {line}");
    }

    /// <summary>Sends <paramref name="line"/>'s bytes as they are (8-bit ones too), then CR LF, and returns the reply.</summary>
    public async Task<ClientReply> SendAsync(byte[] line, CancellationToken cancellationToken = default)
    {
        await _stream.WriteAsync((byte[])[.. line, .. "\r\n"u8], cancellationToken);
        return await ReadReplyAsync(cancellationToken) ?? throw new IOException($"the server closed the connection after {Encoding.Latin1.GetString(line)}");
    }

    /// <summary>Sends a message after a 354 (dot-stuffed, then the final dot) and returns the reply to the final dot.</summary>
    public Task<ClientReply> SendMessageAsync(string message) => SendMessageAsync(Encoding.UTF8.GetBytes(message));

    /// <summary>
    /// Sends a message's bytes after a 354 (dot-stuffed, then the final dot) and returns the reply to the final dot. Its
    /// CRs go as they are (a client's stray CRs are what the servers under test must handle): not through
    /// <see cref="NextHopClient.DotStuffed"/>, which sends a stray CR as a space.
    /// </summary>
    public async Task<ClientReply> SendMessageAsync(byte[] message, CancellationToken cancellationToken = default)
    {
        await _stream.WriteAsync(DotStuffedAsIs(message), cancellationToken);
        return await ReadReplyAsync(cancellationToken) ?? throw new IOException("the server closed the connection after the message");
    }

    /// <summary>Lines split at LF, each a bare LF's line given its CR, a line starting with a dot doubled, a last line ended, then the final dot.</summary>
    private static byte[] DotStuffedAsIs(byte[] message)
    {
        var output = new MemoryStream(message.Length + 16);
        var rest = message.AsSpan();
        while (!rest.IsEmpty)
        {
            var lf = rest.IndexOf((byte)'\n');
            var line = lf < 0 ? rest : rest[..lf];
            rest = lf < 0 ? [] : rest[(lf + 1)..];
            if (line.StartsWith((byte)'.'))
            {
                output.WriteByte((byte)'.');
            }

            output.Write(line);
            output.Write(lf >= 0 && line.EndsWith((byte)'\r') ? "\n"u8 : "\r\n"u8);
        }

        output.Write(".\r\n"u8);
        return output.ToArray();
    }

    /// <summary>Sends <paramref name="bytes"/> as they are and reads nothing: a client that pipelines and does not read.</summary>
    public async Task SendWithoutReadingAsync(string bytes, CancellationToken cancellationToken = default) =>
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(bytes), cancellationToken);

    /// <summary>Sends <paramref name="bytes"/> as they are (8-bit ones too) and reads nothing.</summary>
    public async Task SendWithoutReadingAsync(byte[] bytes, CancellationToken cancellationToken = default) =>
        await _stream.WriteAsync(bytes, cancellationToken);

    /// <summary>Sends <paramref name="bytes"/> as they are (no dot-stuffing, no final dot of its own) and returns the reply.</summary>
    public async Task<ClientReply> SendRawAsync(string bytes)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(bytes));
        return await ReadReplyAsync() ?? throw new IOException("the server closed the connection");
    }

    /// <summary>EHLO, MAIL, each RCPT and DATA, each expected to be accepted, then the message: the reply to the final dot.</summary>
    public async Task<ClientReply> SendMailAsync(string from, IEnumerable<string> to, string message)
    {
        Assert.That((await SendAsync("EHLO client.example")).Code, Is.EqualTo(250));
        Assert.That((await SendAsync($"MAIL FROM:<{from}>")).Code, Is.EqualTo(250));
        foreach (var recipient in to)
        {
            Assert.That((await SendAsync($"RCPT TO:<{recipient}>")).Code, Is.EqualTo(250));
        }

        Assert.That((await SendAsync("DATA")).Code, Is.EqualTo(354));
        return await SendMessageAsync(message);
    }

    /// <summary>
    /// True when the server has closed the connection (nothing more to read); false when it sends something instead.
    /// Waits for the server at most <paramref name="within"/> (a bound for a broken server, not a measure).
    /// </summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        try
        {
            return await _reader.ReadLineAsync(timeout.Token) is null;
        }
        catch (IOException)
        {
            return true; // reset by the server
        }
    }

    /// <summary>
    /// Reads every reply there is until the server closes the connection (true) or <paramref name="within"/> passes with
    /// nothing more (false): how many replies came, and whether it closed. A close in the middle of a TLS record counts
    /// as closed.
    /// </summary>
    public async Task<(int Replies, bool Closed)> ReadUntilClosedAsync(TimeSpan within)
    {
        var replies = 0;
        try
        {
            while (true)
            {
                using var quiet = new CancellationTokenSource(within);
                if (await ReadReplyAsync(quiet.Token) is null)
                {
                    return (replies, true);
                }

                replies++;
            }
        }
        catch (OperationCanceledException)
        {
            return (replies, false);
        }
        catch (IOException)
        {
            return (replies, true); // reset, or a record cut short
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }

    /// <summary>Reads the server's next reply, sent or not for something this client sent; null when the server closed the connection.</summary>
    public async Task<ClientReply?> ReadReplyAsync(CancellationToken cancellationToken = default)
    {
        var lines = new List<string>();
        while (await _reader.ReadLineAsync(cancellationToken) is { } line)
        {
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return new ClientReply(int.Parse(line.AsSpan(0, 3), System.Globalization.CultureInfo.InvariantCulture), lines);
            }
        }

        return null;
    }
}
