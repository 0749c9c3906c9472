using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpamFilterMilter.SampleMilter;

/// <summary>
/// The sample milter bundled as the embedded default: a small content filter that speaks the milter
/// side of protocol 6 on loopback, so the plug-in can be tried with no setup. Its rules, in the order
/// they are checked:
/// <list type="number">
/// <item>MAIL from a sender in <c>spammer.example</c>: reject the sender (550 5.7.1).</item>
/// <item>RCPT to a local part <c>nobody</c>: reject that recipient (550 5.1.1).</item>
/// <item>A header <c>X-Sample-Action: tempfail</c> or <c>discard</c>: tempfail (451 4.7.1) or discard the message.</item>
/// <item>The EICAR anti-virus test string in the body: reject the message (554 5.7.1).</item>
/// <item>A Subject with "lottery" or "winner": add <c>X-Spam-Flag: YES</c> and <c>X-Spam-Score</c>,
///       tag the Subject with <c>[SPAM]</c> and quarantine the message.</item>
/// <item>A Subject with "free": add <c>X-Spam-Score: 3.0</c> only.</item>
/// <item>Anything else: continue, nothing changed (the plug-in's default verdict).</item>
/// </list>
/// It is a demonstration, not a test oracle: the tests prove the plug-in against libmilter, pymilter
/// and opendkim milters.
/// </summary>
public sealed class SampleMilterServer : IAsyncDisposable
{
    /// <summary>The EICAR test string (https://www.eicar.org), split so this source file is not flagged itself.</summary>
    private static readonly byte[] Eicar = Encoding.ASCII.GetBytes(@"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly List<Task> _connections = [];

    private SampleMilterServer(TcpListener listener)
    {
        _listener = listener;
        _acceptLoop = AcceptAsync();
    }

    /// <summary>Where the milter listens.</summary>
    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Starts listening on <paramref name="endPoint"/> (port 0 picks a free port).</summary>
    public static SampleMilterServer Start(IPEndPoint endPoint)
    {
        var listener = new TcpListener(endPoint);
        listener.Start();
        return new SampleMilterServer(listener);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _acceptLoop.ConfigureAwait(false);
        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            socket.NoDelay = true;
            var task = ServeAsync(socket);
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(task);
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        using var milter = new MilterPackets(stream);
        var message = new MessageState();
        try
        {
            while (!_stop.IsCancellationRequested && await milter.ReadAsync(_stop.Token).ConfigureAwait(false) is var (command, payload))
            {
                switch (command)
                {
                    case 'O': // SMFIC_OPTNEG
                        milter.Negotiate(AddHeaders | ChangeHeaders | Quarantine);
                        break;
                    case 'D': // SMFIC_MACRO: no reply
                        continue;
                    case 'A': // SMFIC_ABORT: no reply
                        Reset(message);
                        continue;
                    case 'Q': // SMFIC_QUIT
                    case 'K': // SMFIC_QUIT_NC
                        return;
                    case 'M': // SMFIC_MAIL
                        Reset(message);
                        if (MilterPackets.FirstString(payload).EndsWith("@spammer.example>", StringComparison.OrdinalIgnoreCase))
                        {
                            milter.Reply('y', "550 5.7.1 Sender domain spammer.example is blocked by the sample milter");
                        }
                        else
                        {
                            milter.Reply('c');
                        }

                        break;
                    case 'R': // SMFIC_RCPT
                        if (MilterPackets.FirstString(payload).StartsWith("<nobody@", StringComparison.OrdinalIgnoreCase))
                        {
                            milter.Reply('y', "550 5.1.1 No such user here");
                        }
                        else
                        {
                            milter.Reply('c');
                        }

                        break;
                    case 'L': // SMFIC_HEADER
                        var parts = Encoding.UTF8.GetString(payload).Split('\0');
                        message.Headers.Add((parts[0], parts.Length > 1 ? parts[1] : string.Empty));
                        milter.Reply('c');
                        break;
                    case 'B': // SMFIC_BODY
                        message.Scan(payload);
                        milter.Reply('c');
                        break;
                    case 'E': // SMFIC_BODYEOB
                        EndOfMessage(milter, message);
                        Reset(message);
                        break;
                    default:
                        // CONNECT, HELO, DATA, EOH, UNKNOWN
                        milter.Reply('c');
                        break;
                }

                await milter.FlushAsync(_stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or OperationCanceledException or SocketException)
        {
            // The MTA went away, stopped us or broke the framing: nothing to clean up beyond the socket.
        }
    }

    // SMFIF_* actions the sample asks for.
    private const uint AddHeaders = 0x01;
    private const uint ChangeHeaders = 0x10;
    private const uint Quarantine = 0x20;

    private static void EndOfMessage(MilterPackets milter, MessageState message)
    {
        var action = message.Header("X-Sample-Action")?.Trim().ToLowerInvariant();
        var subject = message.Header("Subject") ?? string.Empty;
        if (action == "tempfail")
        {
            milter.Reply('y', "451 4.7.1 The sample milter asks you to try again later");
        }
        else if (action == "discard")
        {
            milter.Reply('d');
        }
        else if (message.SawEicar)
        {
            milter.Reply('y', "554 5.7.1 Virus found: EICAR-Test-File (sample milter)");
        }
        else if (subject.Contains("lottery", StringComparison.OrdinalIgnoreCase) || subject.Contains("winner", StringComparison.OrdinalIgnoreCase))
        {
            milter.Header('h', null, "X-Spam-Flag", "YES");
            milter.Header('h', null, "X-Spam-Score", "9.5");
            milter.Header('m', 1, "Subject", "[SPAM] " + subject.TrimStart());
            milter.Reply('q', "sample milter: looks like a lottery scam");
            milter.Reply('c');
        }
        else if (subject.Contains("free", StringComparison.OrdinalIgnoreCase))
        {
            milter.Header('h', null, "X-Spam-Score", "3.0");
            milter.Reply('c');
        }
        else
        {
            milter.Reply('c');
        }
    }

    private static void Reset(MessageState message)
    {
        message.Headers.Clear();
        message.SawEicar = false;
        message.Tail.Clear();
    }

    private sealed class MessageState
    {
        public List<(string Name, string Value)> Headers { get; } = [];

        public bool SawEicar { get; set; }

        /// <summary>The end of the previous chunk, so the test string is found across chunk boundaries.</summary>
        public List<byte> Tail { get; } = [];

        public string? Header(string name) =>
            Headers.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Value;

        public void Scan(byte[] chunk)
        {
            var window = Tail.Concat(chunk).ToArray();
            SawEicar |= window.AsSpan().IndexOf(Eicar) >= 0;
            Tail.Clear();
            Tail.AddRange(window.Skip(Math.Max(0, window.Length - Eicar.Length + 1)));
        }
    }
}
