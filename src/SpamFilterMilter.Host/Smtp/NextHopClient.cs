using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// Hands a filtered message to the next hop over SMTP, byte for byte: EHLO, MAIL and RCPT with the arguments
/// <see cref="NextHopEnvelope"/> writes, the message dot-stuffed (its bytes otherwise as they are, so a signature over
/// them still holds), QUIT. One message per connection; no TLS, no authentication (a relay on a trusted network).
/// </summary>
public static class NextHopClient
{
    /// <summary>RFC 5321 §4.5.3.2.6: how long a client waits for the answer to the final dot, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultEndOfDataTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Delivers <paramref name="message"/> (CRLF line ends) to <paramref name="nextHop"/>; throws
    /// <see cref="NextHopException"/> when it refuses. <paramref name="cancellationToken"/> gives up until the message's
    /// final dot is sent; from then on the next hop may have taken the message, and giving up would have it sent again
    /// (RFC 1047), so its answer is waited for whatever the token says, up to <paramref name="endOfDataTimeout"/>
    /// (default <see cref="DefaultEndOfDataTimeout"/>). A QUIT that fails after the message was taken changes nothing.
    /// </summary>
    public static async Task DeliverAsync(EndPoint nextHop, string heloName, Envelope envelope, ReadOnlyMemory<byte> message, TimeSpan? endOfDataTimeout = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nextHop);
        ArgumentNullException.ThrowIfNull(envelope);
        using var socket = new Socket(nextHop.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(nextHop, cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new ReplyReader(stream);

        await Expect(reader, "greeting", 2, cancellationToken).ConfigureAwait(false);
        var ehlo = await CommandAsync(stream, reader, "EHLO " + heloName, 2, cancellationToken).ConfigureAwait(false);
        var extensions = ExtensionsOf(ehlo);
        await CommandAsync(stream, reader, "MAIL FROM:" + NextHopEnvelope.MailArguments(envelope, extensions, message.Length), 2, cancellationToken).ConfigureAwait(false);
        foreach (var recipient in envelope.Recipients)
        {
            await CommandAsync(stream, reader, "RCPT TO:" + NextHopEnvelope.RcptArguments(recipient, extensions), 2, cancellationToken).ConfigureAwait(false);
        }

        await CommandAsync(stream, reader, "DATA", 3, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(DotStuffed(message.Span), cancellationToken).ConfigureAwait(false);
        using var answer = new CancellationTokenSource(endOfDataTimeout ?? DefaultEndOfDataTimeout);
        await Expect(reader, "end of data", 2, answer.Token).ConfigureAwait(false);
        try
        {
            await CommandAsync(stream, reader, "QUIT", 2, answer.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NextHopException or IOException or SocketException or OperationCanceledException)
        {
            // The message is the next hop's: a refused QUIT or a connection gone after it is no reason to send it again.
        }
    }

    /// <summary>
    /// The message as SMTP carries it: every line ended by CRLF (a bare LF, as a milter's replacement body may have, becomes
    /// CRLF, as Postfix stores lines), a line that starts with a dot doubled, a final CRLF if the message lacks one, and
    /// the end-of-data line.
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
            if (line.StartsWith((byte)'.'))
            {
                output.Write("."u8);
            }

            output.Write(line);
            // The line's own CR stays; a bare LF gets one; a last line without LF (even one ending in CR) gets CRLF.
            output.Write(lf >= 0 && line.EndsWith((byte)'\r') ? "\n"u8 : "\r\n"u8);
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

    private static async Task<IReadOnlyList<string>> CommandAsync(NetworkStream stream, ReplyReader reader, string command, int expectedClass, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), cancellationToken).ConfigureAwait(false);
        return await Expect(reader, command, expectedClass, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<string>> Expect(ReplyReader reader, string step, int expectedClass, CancellationToken cancellationToken)
    {
        var (code, lines) = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (code / 100 != expectedClass)
        {
            throw new NextHopException(step, code, lines);
        }

        return lines;
    }

    /// <summary>Reads SMTP replies: a code and the text of each line.</summary>
    private sealed class ReplyReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[4096];
        private int _start;
        private int _end;

        public async Task<(int Code, IReadOnlyList<string> Lines)> ReadAsync(CancellationToken cancellationToken)
        {
            var lines = new List<string>();
            while (true)
            {
                var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var code))
                {
                    throw new NextHopException("reply", 0, [line]);
                }

                lines.Add(line.Length > 4 ? line[4..] : string.Empty);
                if (line.Length < 4 || line[3] != '-')
                {
                    return (code, lines);
                }
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (lf >= 0)
                {
                    var line = Encoding.UTF8.GetString(_buffer, _start, lf - _start).TrimEnd('\r');
                    _start = lf + 1;
                    return line;
                }

                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    throw new NextHopException("reply", 0, ["a reply line longer than 4096 bytes"]);
                }

                var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new NextHopException("reply", 0, ["the next hop closed the connection"]);
                }

                _end += read;
            }
        }
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
