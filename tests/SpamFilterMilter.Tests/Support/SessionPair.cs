using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Support;

/// <summary>
/// A loopback connection with a <see cref="MilterSession"/> to be made on one end and a <see cref="ScriptedMilter"/>
/// on the other. The session end reads through a <see cref="ChunkingStream"/>, so every test can be run with
/// one-byte delivery, and counts its writes, so tests can see how packets were grouped.
/// </summary>
internal sealed class SessionPair : IAsyncDisposable
{
    private readonly Socket _sessionSocket;

    private SessionPair(ScriptedMilter milter, Socket sessionSocket, int maxReadSize, bool blockingIo)
    {
        Milter = milter;
        _sessionSocket = sessionSocket;
        SessionStream = new ChunkingStream(new NetworkStream(sessionSocket, ownsSocket: true), maxReadSize);
        Settings = new MilterSessionSettings { CommandTimeout = TimeSpan.FromSeconds(5), ContentTimeout = TimeSpan.FromSeconds(5), BlockingIo = blockingIo };
    }

    /// <summary>The milter end.</summary>
    public ScriptedMilter Milter { get; }

    /// <summary>The stream sessions made by <see cref="CreateSession"/> use.</summary>
    public ChunkingStream SessionStream { get; }

    /// <summary>The settings of sessions made by <see cref="CreateSession"/>: the pair's I/O mode, short timeouts so that a broken test fails fast.</summary>
    public MilterSessionSettings Settings { get; }

    /// <summary>Connects the two ends on loopback; the session reads at most <paramref name="maxReadSize"/> bytes at a time.</summary>
    public static async Task<SessionPair> StartAsync(int maxReadSize = int.MaxValue, bool blockingIo = false)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var server = await accept;
        server.NoDelay = true;
        return new SessionPair(new ScriptedMilter(server), client, maxReadSize, blockingIo);
    }

    /// <summary>A session on the session end (<see cref="Settings"/> unless others are given).</summary>
    public MilterSession CreateSession(ILogger? logger = null, MilterSessionSettings? settings = null, MacroTable? macros = null, Action? acknowledgeNow = null) =>
        new(SessionStream, "scripted", settings ?? Settings, logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            new SocketControl(_sessionSocket, acknowledgeNow), macros);

    /// <summary>
    /// Starts a session call on another thread: with blocking I/O the call only returns once the
    /// milter answered, which the test does after the call started.
    /// </summary>
    public static Task<T> Run<T>(Func<ValueTask<T>> call) => Task.Run(async () => await call());

    /// <inheritdoc cref="Run{T}(Func{ValueTask{T}})"/>
    public static Task Run(Func<ValueTask> call) => Task.Run(async () => await call());

    /// <summary>Completes negotiation: reads OPTNEG, answers with <paramref name="reply"/>.</summary>
    public async Task<NegotiatedOptions> NegotiateAsync(MilterSession session, byte[] reply)
    {
        var negotiation = Run(() => session.NegotiateAsync());
        await Milter.ExpectAsync('O');
        await Milter.SendAsync(reply);
        return await negotiation;
    }

    /// <summary>Negotiates version 6 with <paramref name="actions"/> and <paramref name="protocol"/>, then CONNECT answered with CONTINUE (unless the steps say it is not sent or not answered).</summary>
    public async Task<NegotiatedOptions> OpenAsync(MilterSession session, uint actions = 0x1FF, uint protocol = 0)
    {
        var options = await NegotiateAsync(session, Raw.OptNeg(6, actions, protocol));
        var connect = Run(() => session.ConnectAsync(new ClientInfo { Address = IPAddress.Parse("192.0.2.1"), Port = 1234 }));
        if ((protocol & 0x1) == 0)
        {
            await Milter.ExpectAsync('C');
            if ((protocol & 0x1000) == 0)
            {
                await Milter.SendAsync(Raw.Packet('c'));
            }
        }

        await connect;
        return options;
    }

    public async ValueTask DisposeAsync()
    {
        await Milter.DisposeAsync();
        await SessionStream.DisposeAsync();
    }

    /// <summary>What the plug-in's MilterConnection does, on the session end of the pair.</summary>
    private sealed class SocketControl(Socket socket, Action? acknowledgeNow) : IConnectionControl
    {
        public void AcknowledgeNow() => acknowledgeNow?.Invoke();

        public void SetBlockingTimeout(TimeSpan timeout) =>
            socket.ReceiveTimeout = socket.SendTimeout = Math.Max(1, (int)Math.Ceiling(timeout.TotalMilliseconds));
    }
}
