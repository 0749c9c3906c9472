using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// TIMEOUT bounds each whole packet, however the milter cuts it: a milter that sends its reply one byte at a time,
/// each byte well within TIMEOUT, must not stretch the wait (in blocking mode the socket's read timeout restarts
/// with every read).
/// </summary>
[Category("Integration")]
public class DribblingMilterTests : TempFolderTest
{
    private const int TimeoutHundredths = 50;
    private static readonly TimeSpan ByteInterval = TimeSpan.FromMilliseconds(100);

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task A_reply_sent_a_byte_at_a_time_times_out_within_TIMEOUT_for_the_whole_packet(string io)
    {
        var reply = Raw.Packet('y', Raw.CString("550 5.7.1 this reply trickles in a byte at a time"));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var milter = DribbleAtMailAsync(listener, reply);
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var plugin = TestPlugins.Create(Folder,
            $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT={TimeoutHundredths}\nIO_MODE={io}\n");

        var started = Stopwatch.StartNew();
        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("bob@example.com")],
            Message = new MemoryStream("Subject: x\r\n\r\nbody\r\n"u8.ToArray()),
        });
        var elapsed = started.Elapsed;

        Assert.That(reply.Length * ByteInterval, Is.GreaterThan(TimeSpan.FromSeconds(4)), "the whole reply would take this long");
        Assert.That(verdict.Failure, Is.Not.Null, "the reply never arrived whole in time");
        Assert.That((verdict.Failure!.Stage, verdict.Failure.Cause), Is.EqualTo(((FilterStage?)FilterStage.Mail, "SMFIC_MAIL reply: can't read packet: timed out after 0.5 s (COMMAND_TIMEOUT)")));
        Assert.That(elapsed, Is.LessThan(TimeSpan.FromMilliseconds(TimeoutHundredths * 10) + TimeSpan.FromSeconds(0.5)), "TIMEOUT bounds the whole packet");
        await milter;
    }

    /// <summary>Negotiates, answers CONTINUE to CONNECT and HELO, then sends its answer to MAIL one byte at a time until the plug-in hangs up.</summary>
    private static Task DribbleAtMailAsync(TcpListener listener, byte[] reply) => Task.Run(async () =>
    {
        using var socket = await listener.AcceptSocketAsync();
        socket.NoDelay = true;
        await using var stream = new NetworkStream(socket);
        var header = new byte[5];
        while (true)
        {
            if (!await ReadExactlyAsync(stream, header))
            {
                return;
            }

            var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header) - 1];
            if (!await ReadExactlyAsync(stream, payload))
            {
                return;
            }

            switch ((char)header[4])
            {
                case 'O':
                    await stream.WriteAsync(Raw.OptNeg(6, 0x1FF, 0));
                    break;
                case 'M':
                    try
                    {
                        foreach (var b in reply)
                        {
                            await stream.WriteAsync(new[] { b });
                            await Task.Delay(ByteInterval);
                        }
                    }
                    catch (IOException)
                    {
                        return; // the plug-in gave up and closed the connection: what the test wants
                    }

                    break;
                case 'D' or 'A':
                    break;
                case 'Q':
                    return;
                default:
                    await stream.WriteAsync(Raw.Packet('c'));
                    break;
            }
        }
    });

    private static async Task<bool> ReadExactlyAsync(Stream stream, byte[] buffer)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer);
            return true;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return false;
        }
    }
}
