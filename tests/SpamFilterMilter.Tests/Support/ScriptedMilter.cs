using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Support;

/// <summary>A packet the plug-in sent, as the milter side read it.</summary>
internal sealed record ReceivedPacket(char Code, byte[] Payload)
{
    public MilterCommand Command => (MilterCommand)(byte)Code;

    public string[] Strings => Wire.Strings(Payload);
}

/// <summary>
/// The milter end of a loopback connection, driven by the test: read what the session sent, answer
/// with raw bytes. Its frame reader is its own (four length bytes, then the rest), so tests do not
/// check the plug-in's framing with the plug-in's framing. The session end reads through a
/// <see cref="ChunkingStream"/>, so every test can be run with one-byte delivery.
/// </summary>
internal sealed class ScriptedMilter : IAsyncDisposable
{
    private readonly Socket _milterSide;
    private readonly NetworkStream _milterStream;

    private Socket? _sessionSocket;

    private ScriptedMilter(Socket milterSide, ChunkingStream? sessionStream)
    {
        _milterSide = milterSide;
        _milterStream = new NetworkStream(milterSide, ownsSocket: true);
        _sessionStream = sessionStream;
    }

    private readonly ChunkingStream? _sessionStream;

    /// <summary>The stream the session under test uses (for a pair made by <see cref="StartAsync"/>).</summary>
    public ChunkingStream SessionStream => _sessionStream ?? throw new InvalidOperationException("This milter was accepted from a listener; the plug-in owns the other end.");

    /// <summary>Wraps a connection the plug-in made to a <see cref="ScriptedMilterListener"/>.</summary>
    internal static ScriptedMilter Accepted(Socket socket) => new(socket, null);

    public static async Task<ScriptedMilter> StartAsync(int maxReadSize = int.MaxValue)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var server = await accept;
        server.NoDelay = true;
        return new ScriptedMilter(server, new ChunkingStream(new NetworkStream(client, ownsSocket: true), maxReadSize)) { _sessionSocket = client };
    }

    /// <summary>A session on the plug-in end, with short timeouts so that a broken test fails fast.</summary>
    public MilterSession CreateSession(ILogger? logger = null, MilterSessionSettings? settings = null, MacroTable? macros = null, Action? acknowledgeNow = null)
    {
        settings ??= new MilterSessionSettings { Timeout = TimeSpan.FromSeconds(5), BlockingIo = BlockingIo };
        var control = new SocketControl(_sessionSocket, acknowledgeNow);
        return new(SessionStream, "scripted", settings, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, control, macros);
    }

    /// <summary>What the plug-in's MilterConnection does, on the session end of the pair.</summary>
    private sealed class SocketControl(Socket? socket, Action? acknowledgeNow) : IConnectionControl
    {
        public void AcknowledgeNow() => acknowledgeNow?.Invoke();

        public void SetBlockingTimeout(TimeSpan timeout)
        {
            if (socket is not null)
            {
                socket.ReceiveTimeout = socket.SendTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalMilliseconds));
            }
        }
    }

    /// <summary>Sessions made by <see cref="CreateSession"/> use blocking I/O (unless given settings say otherwise).</summary>
    public bool BlockingIo { get; set; }

    /// <summary>
    /// Starts a session call on another thread: with blocking I/O the call only returns once the
    /// milter answered, which the test does after the call started.
    /// </summary>
    public static Task<T> Run<T>(Func<ValueTask<T>> call) => Task.Run(async () => await call());

    /// <inheritdoc cref="Run{T}(Func{ValueTask{T}})"/>
    public static Task Run(Func<ValueTask> call) => Task.Run(async () => await call());

    /// <summary>Reads the next packet the session sent.</summary>
    public async Task<ReceivedPacket> ReadAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var header = new byte[5];
        await _milterStream.ReadExactlyAsync(header, timeout.Token);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        var payload = new byte[length - 1];
        await _milterStream.ReadExactlyAsync(payload, timeout.Token);
        return new ReceivedPacket((char)header[4], payload);
    }

    /// <summary>Reads packets until one that is not SMFIC_MACRO, and returns it with the macro packets before it.</summary>
    public async Task<(ReceivedPacket Packet, List<ReceivedPacket> Macros)> ReadSkippingMacrosAsync()
    {
        var macros = new List<ReceivedPacket>();
        while (true)
        {
            var packet = await ReadAsync();
            if (packet.Code != 'D')
            {
                return (packet, macros);
            }

            macros.Add(packet);
        }
    }

    /// <summary>Reads the next packet and checks its code.</summary>
    public async Task<ReceivedPacket> ExpectAsync(char code)
    {
        var (packet, _) = await ReadSkippingMacrosAsync();
        Assert.That(packet.Code, Is.EqualTo(code), $"expected '{code}', the session sent '{packet.Code}'");
        return packet;
    }

    public async Task SendAsync(params byte[][] packets)
    {
        await _milterStream.WriteAsync(Wire.Concat(packets));
        await _milterStream.FlushAsync();
    }

    /// <summary>Completes negotiation: reads OPTNEG, answers with <paramref name="reply"/>.</summary>
    public async Task<NegotiatedOptions> NegotiateAsync(MilterSession session, byte[] reply)
    {
        var negotiation = Run(() => session.NegotiateAsync());
        await ExpectAsync('O');
        await SendAsync(reply);
        return await negotiation;
    }

    /// <summary>Negotiates version 6 with everything offered taken, then CONNECT answered with CONTINUE.</summary>
    public async Task<NegotiatedOptions> OpenAsync(MilterSession session, uint actions = 0x1FF, uint protocol = 0)
    {
        var options = await NegotiateAsync(session, Wire.OptNeg(6, actions, protocol));
        var connect = Run(() => session.ConnectAsync(new Contract.ClientInfo { Address = IPAddress.Parse("192.0.2.1"), Port = 1234 }));
        if ((protocol & 0x1) == 0)
        {
            await ExpectAsync('C');
            if ((protocol & 0x1000) == 0)
            {
                await SendAsync(Wire.Packet('c'));
            }
        }

        await connect;
        return options;
    }

    /// <summary>True when the session closed its end (read returns 0 within the wait).</summary>
    public async Task<bool> SessionClosedAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await _milterStream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Closes the milter end.</summary>
    public void Close() => _milterSide.Shutdown(SocketShutdown.Both);

    public async ValueTask DisposeAsync()
    {
        await _milterStream.DisposeAsync();
        if (_sessionStream is not null)
        {
            await _sessionStream.DisposeAsync();
        }
    }
}

/// <summary>A loopback port where the plug-in connects by itself; each accepted connection is a <see cref="ScriptedMilter"/>.</summary>
internal sealed class ScriptedMilterListener : IDisposable
{
    private readonly TcpListener _listener;

    public ScriptedMilterListener()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async Task<ScriptedMilter> AcceptAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var socket = await _listener.AcceptSocketAsync(timeout.Token);
        socket.NoDelay = true;
        return ScriptedMilter.Accepted(socket);
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Runs a scripted milter over a whole session: answers each command by a rule, records everything.</summary>
internal static class MilterScripts
{
    /// <summary>
    /// Accepts one connection, negotiates (<paramref name="optneg"/>), then answers every command that
    /// expects a reply with what <paramref name="answer"/> returns (null: SMFIR_CONTINUE) until QUIT or
    /// end of stream. Returns every packet received after OPTNEG.
    /// </summary>
    public static Task<List<ReceivedPacket>> RunAsync(ScriptedMilterListener listener, Func<ReceivedPacket, byte[][]?> answer, byte[]? optneg = null) =>
        Task.Run(async () =>
        {
            var received = new List<ReceivedPacket>();
            await using var milter = await listener.AcceptAsync();
            await milter.ExpectAsync('O');
            await milter.SendAsync(optneg ?? Wire.OptNeg(6, 0x1FF, 0));
            while (true)
            {
                ReceivedPacket packet;
                try
                {
                    packet = await milter.ReadAsync();
                }
                catch (EndOfStreamException)
                {
                    return received;
                }

                received.Add(packet);
                switch (packet.Code)
                {
                    case 'D' or 'A':
                        continue;
                    case 'Q' or 'K':
                        return received; // QUIT, or QUIT_NC: this scripted milter ends the connection either way
                    default:
                        await milter.SendAsync(answer(packet) ?? [Wire.Packet('c')]);
                        break;
                }
            }
        });
}
