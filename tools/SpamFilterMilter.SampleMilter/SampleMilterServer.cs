using System.Net;
using System.Net.Sockets;
using System.Text;
using SpamFilterMilter.Protocol;

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
        using var reader = new FrameReader(stream, MilterConstants.DefaultMaxPayload);
        using var writer = new PacketWriter(MilterConstants.DefaultMaxPayload);
        var message = new MessageState();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var frame = await reader.ReadAsync("command", blocking: false, _stop.Token).ConfigureAwait(false);
                var payload = frame.Payload.ToArray();
                switch (frame.Command)
                {
                    case MilterCommand.OptionNegotiation:
                        writer.Begin(MilterReply.OptionNegotiation);
                        writer.WriteUInt32(6);
                        writer.WriteUInt32((uint)(ActionFlags.AddHeaders | ActionFlags.ChangeHeaders | ActionFlags.Quarantine));
                        writer.WriteUInt32(0); // every step, every reply
                        writer.End();
                        break;
                    case MilterCommand.Macro:
                        continue; // no reply
                    case MilterCommand.Abort:
                        Reset(message);
                        continue; // no reply
                    case MilterCommand.Quit:
                    case MilterCommand.QuitNewConnection:
                        return;
                    case MilterCommand.Mail:
                        Reset(message);
                        var sender = FirstString(payload);
                        if (sender.EndsWith("@spammer.example>", StringComparison.OrdinalIgnoreCase))
                        {
                            Reply(writer, "550 5.7.1 Sender domain spammer.example is blocked by the sample milter");
                        }
                        else
                        {
                            Simple(writer, MilterReply.Continue);
                        }

                        break;
                    case MilterCommand.Rcpt:
                        var recipient = FirstString(payload);
                        if (recipient.StartsWith("<nobody@", StringComparison.OrdinalIgnoreCase))
                        {
                            Reply(writer, "550 5.1.1 No such user here");
                        }
                        else
                        {
                            Simple(writer, MilterReply.Continue);
                        }

                        break;
                    case MilterCommand.Header:
                        var parts = Encoding.UTF8.GetString(payload).Split('\0');
                        message.Headers.Add((parts[0], parts.Length > 1 ? parts[1] : string.Empty));
                        Simple(writer, MilterReply.Continue);
                        break;
                    case MilterCommand.Body:
                        message.Scan(payload);
                        Simple(writer, MilterReply.Continue);
                        break;
                    case MilterCommand.EndOfBody:
                        EndOfMessage(writer, message);
                        Reset(message);
                        break;
                    default:
                        // CONNECT, HELO, DATA, EOH, UNKNOWN
                        Simple(writer, MilterReply.Continue);
                        break;
                }

                await writer.FlushAsync(stream, blocking: false, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is MilterProtocolException or IOException or OperationCanceledException or SocketException)
        {
            // The MTA went away or stopped us: nothing to clean up beyond the socket.
        }
    }

    private static void EndOfMessage(PacketWriter writer, MessageState message)
    {
        var action = message.Header("X-Sample-Action")?.Trim().ToLowerInvariant();
        var subject = message.Header("Subject") ?? string.Empty;
        if (action == "tempfail")
        {
            Reply(writer, "451 4.7.1 The sample milter asks you to try again later");
        }
        else if (action == "discard")
        {
            Simple(writer, MilterReply.Discard);
        }
        else if (message.SawEicar)
        {
            Reply(writer, "554 5.7.1 Virus found: EICAR-Test-File (sample milter)");
        }
        else if (subject.Contains("lottery", StringComparison.OrdinalIgnoreCase) || subject.Contains("winner", StringComparison.OrdinalIgnoreCase))
        {
            Header(writer, MilterReply.AddHeader, null, "X-Spam-Flag", "YES");
            Header(writer, MilterReply.AddHeader, null, "X-Spam-Score", "9.5");
            Header(writer, MilterReply.ChangeHeader, 1, "Subject", "[SPAM] " + subject.TrimStart());
            writer.Begin(MilterReply.Quarantine);
            writer.WriteCString("sample milter: looks like a lottery scam");
            writer.End();
            Simple(writer, MilterReply.Continue);
        }
        else if (subject.Contains("free", StringComparison.OrdinalIgnoreCase))
        {
            Header(writer, MilterReply.AddHeader, null, "X-Spam-Score", "3.0");
            Simple(writer, MilterReply.Continue);
        }
        else
        {
            Simple(writer, MilterReply.Continue);
        }
    }

    private static void Reset(MessageState message)
    {
        message.Headers.Clear();
        message.SawEicar = false;
        message.Tail.Clear();
    }

    private static void Simple(PacketWriter writer, MilterReply reply)
    {
        writer.Begin(reply);
        writer.End();
    }

    private static void Reply(PacketWriter writer, string text)
    {
        writer.Begin(MilterReply.ReplyCode);
        writer.WriteCString(text);
        writer.End();
    }

    private static void Header(PacketWriter writer, MilterReply code, uint? index, string name, string value)
    {
        writer.Begin(code);
        if (index is { } i)
        {
            writer.WriteUInt32(i);
        }

        writer.WriteCString(name);
        writer.WriteCString(value);
        writer.End();
    }

    private static string FirstString(byte[] payload)
    {
        var nul = Array.IndexOf(payload, (byte)0);
        return Encoding.UTF8.GetString(payload, 0, nul < 0 ? payload.Length : nul);
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
