using System.Buffers;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>The client's bytes as one buffer of many segments, as a pipe may give them: what a reader must take across segment ends.</summary>
public static class ByteSegments
{
    /// <summary><paramref name="bytes"/> as one sequence of one-byte segments.</summary>
    public static ReadOnlySequence<byte> OnePerSegment(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
