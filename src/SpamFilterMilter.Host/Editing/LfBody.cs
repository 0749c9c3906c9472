using System.Buffers;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// A replacement body (CRLF line ends, as milters send it) written into a message that uses LF: every CRLF becomes LF
/// while the body is copied, piece by piece from memory or its file, so the body is never turned into one string
/// or array of its own. A CR not followed by LF is kept, as <c>Replace("\r\n", "\n")</c> would.
/// </summary>
internal static class LfBody
{
    private const int PieceBytes = 64 * 1024;

    /// <summary>The size of <paramref name="body"/> once its CRLFs are LFs (one pass over it).</summary>
    public static long Length(MessageBody body)
    {
        long pairs = 0;
        var endsWithCr = false;
        foreach (var memory in Pieces(body))
        {
            var piece = memory.Span;
            pairs += piece.Count("\r\n"u8) + (endsWithCr && piece[0] == (byte)'\n' ? 1 : 0);
            endsWithCr = piece[^1] == (byte)'\r';
        }

        return body.Length - pairs;
    }

    /// <summary>Writes <paramref name="body"/> with LF line ends at the start of <paramref name="destination"/> (which has room for <see cref="Length"/> bytes).</summary>
    public static void CopyTo(MessageBody body, Span<byte> destination)
    {
        var written = 0;
        var pendingCr = false; // a CR that ended the last piece: dropped if an LF starts the next
        foreach (var memory in Pieces(body))
        {
            var piece = memory.Span;
            if (pendingCr && piece[0] != (byte)'\n')
            {
                destination[written++] = (byte)'\r';
            }

            pendingCr = false;
            while (!piece.IsEmpty)
            {
                var cr = piece.IndexOf((byte)'\r');
                var run = cr < 0 ? piece : piece[..cr];
                run.CopyTo(destination[written..]);
                written += run.Length;
                if (cr < 0)
                {
                    break;
                }

                if (cr + 1 == piece.Length)
                {
                    pendingCr = true;
                    break;
                }

                if (piece[cr + 1] != (byte)'\n')
                {
                    destination[written++] = (byte)'\r';
                }

                piece = piece[(cr + 1)..];
            }
        }

        if (pendingCr)
        {
            destination[written] = (byte)'\r';
        }
    }

    /// <summary>The body's non-empty pieces in order: all of it when in memory, else 64 KiB at a time through one buffer (each piece valid until the next).</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Pieces(MessageBody body)
    {
        if (body.TryGetMemory(out var memory))
        {
            if (!memory.IsEmpty)
            {
                yield return memory;
            }

            yield break;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(PieceBytes);
        try
        {
            using var stream = body.OpenRead();
            int read;
            while ((read = stream.Read(buffer, 0, PieceBytes)) > 0)
            {
                yield return buffer.AsMemory(0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
