using System.Globalization;
using System.Net.Security;
using System.Text;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// One SMTP connection to the next hop: commands written, replies read. <see cref="Secure"/> moves it onto TLS after
/// STARTTLS; the replies read before are dropped with their reader (RFC 3207 §4.2: nothing the server sent in plain text
/// counts once TLS is on, and bytes it sent after its 220 could only be an attacker's).
/// </summary>
internal sealed class NextHopConnection(Stream plain) : IAsyncDisposable
{
    private SslStream? _secured;

    public Stream Stream { get; private set; } = plain;

    private NextHopReplyReader Reader { get; set; } = new(plain);

    /// <summary>From now on the connection is <paramref name="secured"/>: commands and replies go over TLS.</summary>
    public void Secure(SslStream secured)
    {
        _secured = secured;
        Stream = secured;
        Reader = new NextHopReplyReader(secured);
    }

    /// <summary>Sends <paramref name="command"/> and returns the reply, whatever its code.</summary>
    public async Task<(int Code, IReadOnlyList<string> Lines)> SendAsync(string command, CancellationToken cancellationToken)
    {
        await WriteLineAsync(command, cancellationToken).ConfigureAwait(false);
        return await Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="command"/>; throws <see cref="NextHopException"/> unless the reply is of <paramref name="expectedClass"/>.</summary>
    public async Task<IReadOnlyList<string>> CommandAsync(string command, int expectedClass, CancellationToken cancellationToken)
    {
        await WriteLineAsync(command, cancellationToken).ConfigureAwait(false);
        return await ExpectAsync(command, expectedClass, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask WriteLineAsync(string command, CancellationToken cancellationToken) =>
        Stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), cancellationToken);

    /// <summary>Reads a reply; throws <see cref="NextHopException"/> naming <paramref name="step"/> unless it is of <paramref name="expectedClass"/>.</summary>
    public async Task<IReadOnlyList<string>> ExpectAsync(string step, int expectedClass, CancellationToken cancellationToken)
    {
        var (code, lines) = await Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (code / 100 != expectedClass)
        {
            throw new NextHopException(step, code, lines);
        }

        return lines;
    }

    /// <summary>QUIT, its answer not waited for: the session is given up, and a next hop that is gone changes nothing.</summary>
    public async Task QuitQuietlyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Stream.WriteAsync("QUIT\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // already gone
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_secured is not null)
        {
            await _secured.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Reads SMTP replies: a code and the text of each line.</summary>
internal sealed class NextHopReplyReader(Stream stream)
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
