using System.Net;
using System.Net.Sockets;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// Hands a filtered message to the next hop over SMTP, byte for byte: EHLO, STARTTLS when <see cref="NextHopTls"/> asks
/// for it (and EHLO again over TLS), MAIL and RCPT with the arguments <see cref="NextHopEnvelope"/> writes, the message
/// dot-stuffed (its bytes otherwise as they are, so a signature over them still holds, but for line ends and stray CRs:
/// <see cref="DotStuffed"/>), QUIT. One message per connection; no authentication (a relay's next hop takes mail from it
/// by its address).
/// </summary>
public static class NextHopClient
{
    /// <summary>RFC 5321 §4.5.3.2.6: how long a client waits for the answer to the final dot, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultEndOfDataTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Delivers <paramref name="message"/> (CRLF line ends) to <paramref name="nextHop"/>, secured as <paramref name="tls"/>
    /// asks (default <see cref="NextHopTls.None"/>, plain SMTP); returns the TLS the message went over, null when plain.
    /// Throws <see cref="NextHopException"/> when the next hop refuses (its reply is the exception's), and
    /// <see cref="NextHopTlsException"/> when the hop cannot be secured as asked (the message is then not sent in plain
    /// text). <paramref name="cancellationToken"/> gives up until the message's final dot is sent; from then on the next
    /// hop may have taken the message, and giving up would have it sent again (RFC 1047), so its answer is waited for
    /// whatever the token says, up to <paramref name="endOfDataTimeout"/> (default <see cref="DefaultEndOfDataTimeout"/>).
    /// A QUIT that fails after the message was taken changes nothing.
    /// </summary>
    public static async Task<NextHopTlsSession?> DeliverAsync(EndPoint nextHop, string heloName, Envelope envelope, ReadOnlyMemory<byte> message,
        TimeSpan? endOfDataTimeout = null, NextHopTls? tls = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nextHop);
        ArgumentNullException.ThrowIfNull(envelope);
        using var socket = new Socket(nextHop.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(nextHop, cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await using var connection = new NextHopConnection(stream);

        await connection.ExpectAsync("greeting", 2, cancellationToken).ConfigureAwait(false);
        var ehlo = await connection.CommandAsync("EHLO " + heloName, 2, cancellationToken).ConfigureAwait(false);
        (ehlo, var session) = await NextHopStartTls.NegotiateAsync(connection, ehlo, heloName, tls ?? NextHopTls.None, cancellationToken).ConfigureAwait(false);
        var extensions = ExtensionsOf(ehlo);
        await connection.CommandAsync("MAIL FROM:" + NextHopEnvelope.MailArguments(envelope, extensions, message.Length), 2, cancellationToken).ConfigureAwait(false);
        foreach (var recipient in envelope.Recipients)
        {
            await connection.CommandAsync("RCPT TO:" + NextHopEnvelope.RcptArguments(recipient, extensions), 2, cancellationToken).ConfigureAwait(false);
        }

        await connection.CommandAsync("DATA", 3, cancellationToken).ConfigureAwait(false);
        await connection.Stream.WriteAsync(DotStuffed(message.Span), cancellationToken).ConfigureAwait(false);
        using var answer = new CancellationTokenSource(endOfDataTimeout ?? DefaultEndOfDataTimeout);
        await connection.ExpectAsync("end of data", 2, answer.Token).ConfigureAwait(false);
        try
        {
            await connection.CommandAsync("QUIT", 2, answer.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NextHopException or IOException or SocketException or OperationCanceledException)
        {
            // The message is the next hop's: a refused QUIT or a connection gone after it is no reason to send it again.
        }

        return session;
    }

    /// <summary>
    /// The message as SMTP carries it: every line ended by CRLF (a bare LF, as a milter's replacement body may have, becomes
    /// CRLF, as Postfix stores lines), a line that starts with a dot doubled, a final CRLF if the message lacks one, and
    /// the end-of-data line. A CR that does not end its line (a stray CR, one not followed by LF) goes out as a space, as
    /// Postfix's cleanup writes a client's (<c>cleanup_replace_stray_cr_lf</c>; Postfix 3.7.11 passes a milter's
    /// replacement body on as it is, docs/postfix-differential.md): a next hop that ends lines at a bare CR would
    /// otherwise read <c>body\r.\rMAIL FROM:…</c> as the end of this message and the start of another, never filtered
    /// (SMTP smuggling). Whoever made the message, no CR goes out but in CRLF.
    /// </summary>
    public static byte[] DotStuffed(ReadOnlySpan<byte> message)
    {
        var counter = new Output([]);
        Stuff(message, ref counter);
        var stuffed = new byte[counter.Length];
        var output = new Output(stuffed);
        Stuff(message, ref output);
        return stuffed;
    }

    /// <summary>Writes <see cref="DotStuffed"/>'s result a line at a time: counted first, then written into an array of that size.</summary>
    private static void Stuff(ReadOnlySpan<byte> message, ref Output output)
    {
        var rest = message;
        while (!rest.IsEmpty)
        {
            var lf = rest.IndexOf((byte)'\n');
            var line = lf < 0 ? rest : rest[..lf];
            rest = lf < 0 ? [] : rest[(lf + 1)..];
            if (lf >= 0 && line.EndsWith((byte)'\r'))
            {
                line = line[..^1]; // the line's own CR: written back with its LF below
            }

            if (line.StartsWith((byte)'.'))
            {
                output.Write("."u8);
            }

            // Every CR left is a stray one (a CR before the CRLF, a last line's CR): a space.
            for (var cr = line.IndexOf((byte)'\r'); cr >= 0; cr = line.IndexOf((byte)'\r'))
            {
                output.Write(line[..cr]);
                output.Write(" "u8);
                line = line[(cr + 1)..];
            }

            output.Write(line);
            output.Write("\r\n"u8); // a bare LF gets its CR; a last line without LF is ended
        }

        output.Write(".\r\n"u8);
    }

    /// <summary>Where <see cref="Stuff"/> writes: an array, or nothing when it only counts (an empty target).</summary>
    private ref struct Output(Span<byte> target)
    {
        private readonly Span<byte> _target = target;

        public int Length { get; private set; }

        public void Write(ReadOnlySpan<byte> bytes)
        {
            if (!_target.IsEmpty)
            {
                bytes.CopyTo(_target[Length..]);
            }

            Length += bytes.Length;
        }
    }

    private static NextHopExtensions ExtensionsOf(IReadOnlyList<string> ehloLines)
    {
        var extensions = NextHopExtensions.None;
        foreach (var line in ehloLines.Skip(1))
        {
            var keyword = line.Split(' ', 2)[0].ToUpperInvariant();
            extensions |= keyword switch
            {
                "SIZE" => NextHopExtensions.Size,
                "8BITMIME" => NextHopExtensions.EightBitMime,
                "DSN" => NextHopExtensions.Dsn,
                "SMTPUTF8" => NextHopExtensions.SmtpUtf8,
                _ => NextHopExtensions.None,
            };
        }

        return extensions;
    }
}

/// <summary>The next hop refused a step (or broke the protocol): the message was not handed over.</summary>
public sealed class NextHopException : Exception
{
    /// <summary>Creates an exception with no reply.</summary>
    public NextHopException()
    {
        Lines = [];
    }

    /// <summary>Creates an exception with a message and no reply.</summary>
    public NextHopException(string message) : base(message)
    {
        Lines = [];
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public NextHopException(string message, Exception innerException) : base(message, innerException)
    {
        Lines = [];
    }

    /// <param name="step">The command (or "greeting", "end of data") that was refused, for the message.</param>
    /// <param name="code">The reply code; 0 when the reply was not SMTP.</param>
    /// <param name="lines">The reply's text lines.</param>
    public NextHopException(string step, int code, IReadOnlyList<string> lines)
        : base($"next hop refused {step}: {code} {string.Join(" / ", lines)}")
    {
        Code = code;
        Lines = lines;
    }

    /// <summary>The reply code (0 when the reply was not SMTP).</summary>
    public int Code { get; }

    /// <summary>The reply's text.</summary>
    public IReadOnlyList<string> Lines { get; }
}
