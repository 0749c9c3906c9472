using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace SpamFilterMilter.Benchmarks;

/// <summary>
/// The in-process milter the transaction benchmarks talk to: continue-all, or add-header (one header
/// added at end of message), like tools/bench/bench-milter.c. It allocates nothing per packet, so the
/// MemoryDiagnoser column is the client's own allocation. One blocking thread per connection, as
/// libmilter runs. For benchmarks only: the proof against real milters is in tests/ and tools/bench.
/// </summary>
public sealed class InProcessMilter : IDisposable
{
    private const int MaxPacket = 1024 * 1024;

    // SMFIC_OPTNEG answer: version 6, SMFIF_ADDHDRS, no protocol flags (every event answered).
    private static readonly byte[] Negotiated = Packet('O', [0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0]);
    private static readonly byte[] Continue = Packet('c', []);
    private static readonly byte[] AddHeaderThenContinue = [.. Packet('h', Encoding.ASCII.GetBytes("X-Bench\0added\0")), .. Continue];

    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly bool _addHeader;

    public InProcessMilter(bool addHeader)
    {
        _addHeader = addHeader;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        new Thread(Accept) { IsBackground = true, Name = "in-process milter" }.Start();
    }

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
                        case 'O':
                            socket.Send(Negotiated);
                            break;
                        case 'E':
                            socket.Send(_addHeader ? AddHeaderThenContinue : Continue);
                            break;
                        case 'D' or 'A' or 'K': // macros, abort, QUIT_NC: no reply
                            break;
                        case 'Q':
                            return;
                        default:
                            socket.Send(Continue);
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
