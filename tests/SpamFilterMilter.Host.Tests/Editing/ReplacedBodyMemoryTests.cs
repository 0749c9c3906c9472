using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// Issue 11 item 6, the host's half: applying a verdict whose body (32 MiB, in its file) replaces the message's costs
/// the edited message (the one copy the host hands on) and a small constant, for a CRLF message and for one written
/// with LF alike. Allocation, not time: all threads' bytes around the call (<see cref="GC.GetTotalAllocatedBytes"/>).
/// </summary>
[NonParallelizable]
public class ReplacedBodyMemoryTests : TempFolderTest
{
    private const long BodyBytes = 32L * 1024 * 1024;

    /// <summary>What the edit may cost beyond the message it writes: the parse, the draft, a 64 KiB copy buffer.</summary>
    private const long SmallConstant = 1024 * 1024;

    [TestCase("\r\n")]
    [TestCase("\n")]
    public void Applying_a_32_MiB_replacement_body_costs_the_edited_message_and_a_small_constant(string lineEnd)
    {
        var message = System.Text.Encoding.ASCII.GetBytes($"From: alice@example.org{lineEnd}Subject: big{lineEnd}{lineEnd}old{lineEnd}");
        using var body = BodyInFile();
        MessageEditor.Apply(message, [new ReplaceBody(body)]); // warm up (JIT, pools), outside the measurement
        GC.Collect();

        var peak = PeakResidentMemory.Start();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var edited = MessageEditor.Apply(message, [new ReplaceBody(body)]);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var growth = peak?.Growth;

        TestContext.Out.WriteLine($"allocated {allocated:N0} bytes, peak resident memory +{growth:N0} bytes, for an edited message of {edited.Length:N0} bytes");
        var header = message.Length - $"old{lineEnd}".Length;
        Assert.That(edited.Length, Is.EqualTo(header + (lineEnd == "\n" ? BodyBytes / 2 : BodyBytes)), "every CRLF of the body made LF for the LF message");
        Assert.That(allocated, Is.LessThan(edited.Length + SmallConstant));
        if (growth is { } rise)
        {
            Assert.That(rise, Is.LessThan(edited.Length + (16L * 1024 * 1024)), "peak resident memory: the edited message, and room for the runtime");
        }
    }

    /// <summary>32 MiB of empty CRLF lines: the most line ends a body can have, and an LF length of exactly half.</summary>
    private MessageBody BodyInFile()
    {
        var piece = new byte[64 * 1024];
        for (var i = 0; i < piece.Length; i += 2)
        {
            (piece[i], piece[i + 1]) = ((byte)'\r', (byte)'\n');
        }

        using var builder = new MessageBodyBuilder(spillDirectory: Folder.Path);
        for (long written = 0; written < BodyBytes; written += piece.Length)
        {
            builder.Write(piece);
        }

        return builder.Build();
    }
}
