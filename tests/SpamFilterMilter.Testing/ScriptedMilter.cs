using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NUnit.Framework;

namespace SpamFilterMilter.Testing;

/// <summary>A packet the plug-in sent, as the milter side read it.</summary>
public sealed record ReceivedPacket(char Code, byte[] Payload)
{
    public string[] Strings => Raw.Strings(Payload);

    /// <summary>For an SMFIC_MACRO packet: the code of the command its macros go with.</summary>
    public char MacroCommand => (char)Payload[0];

    /// <summary>For an SMFIC_MACRO packet: its name/value pairs, in the order sent (none for a packet of the command code alone).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> MacroPairs
    {
        get
        {
            var strings = Payload.Length > 1 ? Raw.Strings(Payload[1..]) : [];
            return [.. Enumerable.Range(0, strings.Length / 2).Select(i => KeyValuePair.Create(strings[2 * i], strings[(2 * i) + 1]))];
        }
    }

    /// <summary>For an SMFIC_MACRO packet: its macros by name.</summary>
    public Dictionary<string, string> Macros => MacroPairs.ToDictionary(pair => pair.Key, pair => pair.Value);
}

/// <summary>
/// The milter end of a loopback connection, driven by the test: read what the plug-in sent, answer with raw bytes.
/// Its frame reader is its own (four length bytes, then the rest), so tests do not check the plug-in's framing with
/// the plug-in's framing. Every wait is bounded (5 s), so that a broken test fails rather than hangs.
/// </summary>
public sealed class ScriptedMilter(Socket socket) : IAsyncDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);

    /// <summary>Reads the next packet the plug-in sent.</summary>
    public async Task<ReceivedPacket> ReadAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var header = new byte[5];
        await _stream.ReadExactlyAsync(header, timeout.Token).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        var payload = new byte[length - 1];
        await _stream.ReadExactlyAsync(payload, timeout.Token).ConfigureAwait(false);
        return new ReceivedPacket((char)header[4], payload);
    }

    /// <summary>Reads packets until one that is not SMFIC_MACRO, and returns it with the macro packets before it.</summary>
    public async Task<(ReceivedPacket Packet, List<ReceivedPacket> Macros)> ReadSkippingMacrosAsync()
    {
        var macros = new List<ReceivedPacket>();
        while (true)
        {
            var packet = await ReadAsync().ConfigureAwait(false);
            if (packet.Code != 'D')
            {
                return (packet, macros);
            }

            macros.Add(packet);
        }
    }

    /// <summary>Reads the next packet but macros and checks its code.</summary>
    public async Task<ReceivedPacket> ExpectAsync(char code)
    {
        var (packet, _) = await ReadSkippingMacrosAsync().ConfigureAwait(false);
        Assert.That(packet.Code, Is.EqualTo(code), $"expected '{code}', the plug-in sent '{packet.Code}'");
        return packet;
    }

    /// <summary>Sends <paramref name="packets"/> in one write.</summary>
    public async Task SendAsync(params byte[][] packets)
    {
        await _stream.WriteAsync(Raw.Concat(packets)).ConfigureAwait(false);
        await _stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>True when the plug-in's session closed its end (end of stream, or a reset) within <paramref name="wait"/>.</summary>
    public async Task<bool> SessionClosedAsync(TimeSpan wait) => (await ReadUntilClosedAsync(wait).ConfigureAwait(false)).Closed;

    /// <summary>
    /// Reads until the plug-in's session closes its end (end of stream, or a reset) or <paramref name="wait"/> passes:
    /// whether it closed, and how many bytes came before.
    /// </summary>
    public async Task<(bool Closed, int BytesBefore)> ReadUntilClosedAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        var buffer = new byte[4096];
        var total = 0;
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return (true, total);
                }

                total += read;
            }
        }
        catch (OperationCanceledException)
        {
            return (false, total);
        }
        catch (IOException)
        {
            return (true, total);
        }
    }

    /// <summary>Closes the milter end, both ways.</summary>
    public void Close() => socket.Shutdown(SocketShutdown.Both);

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}

/// <summary>A loopback port where the plug-in connects by itself; each accepted connection is a <see cref="ScriptedMilter"/>.</summary>
public sealed class ScriptedMilterListener : IDisposable
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
        var socket = await _listener.AcceptSocketAsync(timeout.Token).ConfigureAwait(false);
        socket.NoDelay = true;
        return new ScriptedMilter(socket);
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Runs a scripted milter over a whole session: answers each command by a rule, records everything.</summary>
public static class MilterScripts
{
    /// <summary>
    /// Accepts one connection, negotiates (<paramref name="optneg"/>), then answers every command that
    /// expects a reply with what <paramref name="answer"/> returns (null: SMFIR_CONTINUE) until QUIT or
    /// the plug-in closes the connection (end of stream, or a reset or broken pipe while answering: a
    /// plug-in that breaks the session may close while the script still answers). Returns every packet
    /// received after OPTNEG.
    /// </summary>
    public static Task<List<ReceivedPacket>> RunAsync(ScriptedMilterListener listener, Func<ReceivedPacket, byte[][]?> answer, byte[]? optneg = null) =>
        Task.Run(async () =>
        {
            var received = new List<ReceivedPacket>();
            await using var milter = await listener.AcceptAsync().ConfigureAwait(false);
            await milter.ExpectAsync('O').ConfigureAwait(false);
            await milter.SendAsync(optneg ?? Raw.OptNeg(6, 0x1FF, 0)).ConfigureAwait(false);
            while (true)
            {
                ReceivedPacket packet;
                try
                {
                    packet = await milter.ReadAsync().ConfigureAwait(false);
                }
                catch (IOException) // EndOfStreamException too
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
                        try
                        {
                            await milter.SendAsync(answer(packet) ?? [Raw.Packet('c')]).ConfigureAwait(false);
                        }
                        catch (IOException)
                        {
                            return received;
                        }

                        break;
                }
            }
        });
}
