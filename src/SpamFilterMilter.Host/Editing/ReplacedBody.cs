using System.Buffers;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// The one rule for writing a replacement body into a message, Postfix's (milter8.c, cleanup_milter.c): CRLF and a bare
/// LF both end a line, and each line is written with the message's own line end (CRLF, or LF for a message that uses
/// LF); a CR not followed by LF is kept; a last line without a line end gets one, so the message ends with a whole
/// line; an empty body stays empty. The body is copied piece by piece from memory or its file, never made one string
/// or array of its own.
/// </summary>
internal static class ReplacedBody
{
    private const int PieceBytes = 64 * 1024;

    /// <summary>The size of <paramref name="body"/> as <see cref="CopyTo"/> writes it (one pass over it).</summary>
    public static long Length(MessageBody body, bool usesLf) => Write(body, usesLf, [], count: true);

    /// <summary>Writes <paramref name="body"/> at the start of <paramref name="destination"/> (which has room for <see cref="Length"/> bytes).</summary>
    public static void CopyTo(MessageBody body, bool usesLf, Span<byte> destination) => Write(body, usesLf, destination, count: false);

    /// <summary>The rule, once: counts the bytes it would write, or writes them.</summary>
    private static long Write(MessageBody body, bool usesLf, Span<byte> destination, bool count)
    {
        ReadOnlySpan<byte> lineEnd = usesLf ? "\n"u8 : "\r\n"u8;
        long written = 0;
        var pendingCr = false; // a CR whose next byte is not seen yet: part of a CRLF, or a CR kept as it is
        var lineOpen = false;  // bytes were written since the last line end
        foreach (var memory in Pieces(body))
        {
            var piece = memory.Span;
            while (!piece.IsEmpty)
            {
                if (pendingCr)
                {
                    pendingCr = false;
                    if (piece[0] == (byte)'\n')
                    {
                        Emit(lineEnd, destination, ref written, count);
                        lineOpen = false;
                        piece = piece[1..];
                        continue;
                    }

                    Emit("\r"u8, destination, ref written, count);
                    lineOpen = true;
                }

                var stop = piece.IndexOfAny((byte)'\r', (byte)'\n');
                var run = stop < 0 ? piece : piece[..stop];
                if (!run.IsEmpty)
                {
                    Emit(run, destination, ref written, count);
                    lineOpen = true;
                }

                if (stop < 0)
                {
                    break;
                }

                if (piece[stop] == (byte)'\r')
                {
                    pendingCr = true;
                }
                else
                {
                    Emit(lineEnd, destination, ref written, count);
                    lineOpen = false;
                }

                piece = piece[(stop + 1)..];
            }
        }

        if (pendingCr)
        {
            Emit("\r"u8, destination, ref written, count);
            lineOpen = true;
        }

        if (lineOpen)
        {
            Emit(lineEnd, destination, ref written, count); // Postfix flushes a last partial line as a whole one
        }

        return written;
    }

    private static void Emit(ReadOnlySpan<byte> bytes, Span<byte> destination, ref long written, bool count)
    {
        if (!count)
        {
            bytes.CopyTo(destination[(int)written..]);
        }

        written += bytes.Length;
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
