using System.Globalization;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>Queue ids for the <c>i</c> macro when the host gives none: unique per message in this process and unlikely to repeat across processes.</summary>
internal static class QueueIds
{
    private static readonly uint Prefix = (uint)Random.Shared.Next() ^ (uint)Environment.ProcessId;
    private static long s_counter;

    public static string Next()
    {
        var n = Interlocked.Increment(ref s_counter);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix:X8}{n:X6}");
    }
}
