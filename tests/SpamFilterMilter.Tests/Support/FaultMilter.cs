using System.Buffers.Binary;
using System.Net.Sockets;

namespace SpamFilterMilter.Tests.Support;

/// <summary>
/// The fault-injection milter: behaves (answers SMFIR_CONTINUE to everything) until the command of
/// <see cref="Stage"/> arrives, then misbehaves as <see cref="Fault"/> says. A test double for failure
/// handling only: the plug-in's correct behaviour is proven against real milters.
/// </summary>
internal sealed class FaultMilter : IAsyncDisposable
{
    /// <summary>The stages, in protocol order, with the command that starts each.</summary>
    public static readonly (string Stage, char Command)[] Stages =
    [
        ("optneg", 'O'), ("connect", 'C'), ("helo", 'H'), ("mail", 'M'), ("rcpt", 'R'),
        ("data", 'T'), ("header", 'L'), ("eoh", 'N'), ("body", 'B'), ("eom", 'E'),
    ];

    /// <summary>The no-reply step for each stage that has one (SMFIP_NR_*).</summary>
    private static readonly Dictionary<string, uint> NoReplyFlags = new()
    {
        ["connect"] = 0x1000, ["helo"] = 0x2000, ["mail"] = 0x4000, ["rcpt"] = 0x8000,
        ["data"] = 0x10000, ["header"] = 0x80, ["eoh"] = 0x40000, ["body"] = 0x80000,
    };

    /// <summary>A message that reaches every stage above: one header, a body.</summary>
    public static MessageSubmission Message() => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25, "client.example.net"),
        HeloName = "client.example.net",
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream("Subject: fault\r\n\r\nbody\r\n"u8.ToArray()),
    };

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();

    public FaultMilter(string stage, string fault)
    {
        Stage = stage;
        Fault = fault;
        _listener.Start();
        Served = Task.Run(ServeAsync);
    }

    public string Stage { get; }

    public string Fault { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Completes when the connection has ended; true when the plug-in closed it (we read end of stream).</summary>
    public Task<bool> Served { get; }

    /// <summary>Stages that can answer a no-reply command anyway.</summary>
    public static bool HasNoReplyStep(string stage) => NoReplyFlags.ContainsKey(stage);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await Served.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or TimeoutException or IOException)
        {
        }

        _stop.Dispose();
    }

    private async Task<bool> ServeAsync()
    {
        using var socket = await _listener.AcceptSocketAsync(_stop.Token);
        socket.NoDelay = true;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var pendingSecondAnswer = false;
        while (true)
        {
            var (command, _) = await ReadAsync(stream);
            if (command is null)
            {
                return true; // the plug-in closed the connection
            }

            if (command is 'D' or 'A')
            {
                continue; // no reply
            }

            if (command is 'Q' or 'K') // QUIT, or QUIT_NC from a plug-in with a pool: the session ends here either way
            {
                return await DrainAsync(stream);
            }

            var stage = Stages.Single(s => s.Command == command).Stage;
            if (stage == Stage)
            {
                var close = await InjectAsync(stream, socket);
                if (close)
                {
                    socket.Close();
                    return false;
                }

                if (Fault == "reply-to-no-reply")
                {
                    pendingSecondAnswer = true; // the answer it should not give goes out with the next one
                    continue;
                }

                return await DrainAsync(stream);
            }

            byte[] answer = command == 'O' ? Raw.OptNeg(6, 0x1FF, Fault == "reply-to-no-reply" ? NoReplyFlags[Stage] : 0) : Raw.Packet('c');
            await stream.WriteAsync(pendingSecondAnswer ? Raw.Concat(Raw.Packet('c'), answer) : answer);
            pendingSecondAnswer = false;
        }
    }

    /// <summary>Misbehaves; returns true when the milter then closes its end at once.</summary>
    private async Task<bool> InjectAsync(NetworkStream stream, Socket socket)
    {
        switch (Fault)
        {
            case "accept-then-close":
                return true;
            case "never-answers":
            case "reply-to-no-reply":
                return false;
            case "closes-mid-reply":
                await stream.WriteAsync(new byte[] { 0, 0, 0, 20, (byte)'y', (byte)'5', (byte)'5', (byte)'0' });
                await Task.Delay(20);
                return true;
            case "zero-length":
                await stream.WriteAsync(new byte[] { 0, 0, 0, 0, (byte)'c' });
                return false;
            case "absurd-length":
                await stream.WriteAsync(new byte[] { 0x7F, 0xFF, 0xFF, 0xFF, (byte)'c' });
                return false;
            case "unknown-reply-code":
                await stream.WriteAsync(Raw.Packet('Z'));
                return false;
            case "reply-illegal-here":
                await stream.WriteAsync(Stage switch
                {
                    "optneg" => Raw.Packet('c'),
                    "eom" => Raw.OptNeg(6, 0, 0),
                    _ => Raw.Packet('h', Raw.CString("X-Early"), Raw.CString("edit")),
                });
                return false;
            case "endless-progress":
                _ = Task.Run(async () =>
                {
                    try
                    {
                        while (!_stop.IsCancellationRequested && socket.Connected)
                        {
                            await stream.WriteAsync(Raw.Packet('p'), _stop.Token);
                            await Task.Delay(20, _stop.Token);
                        }
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
                    {
                    }
                });
                return false;
            case "garbage-after-reply":
                await stream.WriteAsync(Raw.Concat(Stage == "optneg" ? Raw.OptNeg(6, 0x1FF, 0) : Raw.Packet('c'), "GARBAGE!"u8.ToArray()));
                return false;
            case "version-1":
                await stream.WriteAsync(Raw.OptNeg(1, 0x1FF, 0));
                return false;
            case "version-7":
                await stream.WriteAsync(Raw.OptNeg(7, 0x1FF, 0));
                return false;
            default:
                throw new ArgumentException($"unknown fault {Fault}");
        }
    }

    /// <summary>Reads until the plug-in closes; true when it did (rather than our stop).</summary>
    private async Task<bool> DrainAsync(NetworkStream stream)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, _stop.Token) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true; // reset by the plug-in
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<(char? Command, byte[] Payload)> ReadAsync(NetworkStream stream)
    {
        var header = new byte[5];
        try
        {
            await stream.ReadExactlyAsync(header, _stop.Token);
            var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header) - 1];
            await stream.ReadExactlyAsync(payload, _stop.Token);
            return ((char)header[4], payload);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return (null, []);
        }
    }
}
