using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// The in-process milter the benchmarks talk to: continue-all, add-header (one header added at end of
/// message), like tools/bench/bench-milter.c, or replace-body (a replacement body of a given size, in
/// SMFIR_REPLBODY packets of 65,535 bytes, as libmilter cuts them). It allocates nothing per packet (a
/// replacement body is one packet sent again and again), so the MemoryDiagnoser column is the client's
/// own allocation. One blocking thread per connection, as libmilter runs. For benchmarks only: the proof
/// against real milters is in tests/ and tools/bench.
/// </summary>
public sealed class InProcessMilter : IDisposable
{
    private const int MaxPacket = 1024 * 1024;

    /// <summary>libmilter's SMFIR_REPLBODY packets carry at most this many body bytes.</summary>
    private const int BodyPacketBytes = 65_535;

    // SMFIC_OPTNEG answer: version 6, SMFIF_ADDHDRS (and SMFIF_CHGBODY to replace bodies), no protocol flags (every event answered).
    private static readonly byte[] Negotiated = Packet('O', [0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0]);
    private static readonly byte[] NegotiatedChangingBody = Packet('O', [0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, 0]);
    private static readonly byte[] Continue = Packet('c', []);
    private static readonly byte[] AddHeaderThenContinue = [.. Packet('h', Encoding.ASCII.GetBytes("X-Bench\0added\0")), .. Continue];

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly bool _addHeader;
    private readonly long _replacementBodyBytes;
    private readonly byte[]? _bodyPacket;

    public InProcessMilter(bool addHeader)
        : this(addHeader, 0)
    {
    }

    private InProcessMilter(bool addHeader, long replacementBodyBytes)
    {
        _addHeader = addHeader;
        _replacementBodyBytes = replacementBodyBytes;
        if (replacementBodyBytes > 0)
        {
            // One full SMFIR_REPLBODY packet of CRLF text lines, sent as often as the body needs.
            _bodyPacket = Packet('b', new byte[BodyPacketBytes]);
            var line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"u8;
            for (var at = 5; at < _bodyPacket.Length; at += line.Length)
            {
                line[..Math.Min(line.Length, _bodyPacket.Length - at)].CopyTo(_bodyPacket.AsSpan(at));
            }
        }

        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        new Thread(Accept) { IsBackground = true, Name = "in-process milter" }.Start();
    }

    /// <summary>
    /// What the milter answers to <paramref name="command"/> (continue-all, or add-header when
    /// <paramref name="addHeader"/>): nothing to macros, abort, QUIT and QUIT_NC.
    /// </summary>
    public static ReadOnlySpan<byte> AnswerTo(char command, bool addHeader) => command switch
    {
        'O' => Negotiated,
        'E' => addHeader ? AddHeaderThenContinue : Continue,
        'D' or 'A' or 'K' or 'Q' => [],
        _ => Continue,
    };

    /// <summary>A milter that replaces every body with <paramref name="bytes"/> bytes of text at the end of the message.</summary>
    public static InProcessMilter ReplacingBody(long bytes) => new(addHeader: false, bytes);

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public void Dispose() => _listener.Dispose();

    private void Accept()
    {
        try
        {
            while (true)
            {
                var socket = _listener.Accept();
                socket.NoDelay = true;
                new Thread(() => Serve(socket)) { IsBackground = true, Name = "in-process milter connection" }.Start();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Disposed: the benchmark is over.
        }
    }

    private void Serve(Socket socket)
    {
        var buffer = new byte[MaxPacket + 5];
        using (socket)
        {
            try
            {
                while (ReadExactly(socket, buffer.AsSpan(0, 5)))
                {
                    var length = (int)BinaryPrimitives.ReadUInt32BigEndian(buffer) - 1;
                    if (length < 0 || length > MaxPacket || !ReadExactly(socket, buffer.AsSpan(5, length)))
                    {
                        return;
                    }

                    switch ((char)buffer[4])
                    {
                        case 'O' when _bodyPacket is not null:
                            socket.Send(NegotiatedChangingBody);
                            break;
                        case 'E' when _bodyPacket is not null:
                            SendReplacementBody(socket, _bodyPacket, _replacementBodyBytes);
                            socket.Send(Continue);
                            break;
                        case 'Q':
                            return;
                        case var command when AnswerTo(command, _addHeader) is { IsEmpty: false } answer:
                            socket.Send(answer);
                            break;
                    }
                }
            }
            catch (SocketException)
            {
                // The client went away.
            }
        }
    }

    private static void SendReplacementBody(Socket socket, byte[] fullPacket, long bytes)
    {
        Span<byte> header = stackalloc byte[5];
        for (var left = bytes; left > 0; left -= BodyPacketBytes)
        {
            var length = (int)Math.Min(left, BodyPacketBytes);
            if (length == BodyPacketBytes)
            {
                socket.Send(fullPacket);
                continue;
            }

            BinaryPrimitives.WriteUInt32BigEndian(header, (uint)(1 + length));
            header[4] = (byte)'b';
            socket.Send(header);
            socket.Send(fullPacket.AsSpan(5, length));
        }
    }

    private static bool ReadExactly(Socket socket, Span<byte> into)
    {
        while (!into.IsEmpty)
        {
            var read = socket.Receive(into);
            if (read == 0)
            {
                return false;
            }

            into = into[read..];
        }

        return true;
    }

    private static byte[] Packet(char code, byte[] payload)
    {
        var packet = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(packet, (uint)(1 + payload.Length));
        packet[4] = (byte)code;
        payload.CopyTo(packet, 5);
        return packet;
    }
}
