using System.Text;
using System.Text.RegularExpressions;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>What the live comparisons with a private Postfix share: a session per case, and how replies and lines compare and show.</summary>
public static class LiveComparison
{
    /// <summary>
    /// A reply as it compares: Postfix's 250 says <c>2.1.0 Ok</c>, SmtpServer's <c>Ok</c>, so an acceptance compares by its
    /// code; a refusal, Postfix's words or ours, to the byte.
    /// </summary>
    public static string Comparable(string reply) => reply.StartsWith("250", StringComparison.Ordinal) ? "250" : reply;

    /// <summary>A line as a failure message shows it: a byte outside printable ASCII as <c>\x..</c>, a run of ten or more of one character as the character and its count.</summary>
    public static string Shown(string line) =>
        Regex.Replace(Regex.Replace(line, @"[^\x20-\x7e]", m => $"\\x{(int)m.Value[0]:x2}"), @"(.)\1{9,}", m => $"{m.Groups[1].Value}×{m.Length}");

    /// <summary>
    /// Null when Postfix gave <paramref name="line"/> the reply code it is expected to (<paramref name="code"/>: a case never
    /// passes by comparing two sides that took everything) and ours compares alike; else the two, shown for a failure message.
    /// </summary>
    public static string? Difference(string line, int code, string fromPostfix, string ours) =>
        fromPostfix.StartsWith(code.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal) && Comparable(ours) == Comparable(fromPostfix)
            ? null
            : $"{Shown(line)} ({line.Length} bytes)\n  postfix: {Shown(fromPostfix)} (expected {code})\n  ours:    {Shown(ours)}";

    /// <summary>One session of its own: EHLO, each of <paramref name="lines"/> (UTF-8), then QUIT: the replies to the lines.</summary>
    public static Task<string[]> RepliesAsync(int port, params string[] lines) => RepliesAsync(port, lines.Select(Encoding.UTF8.GetBytes));

    /// <summary>One session of its own: EHLO, each of <paramref name="lines"/> as its bytes, then QUIT: the replies to the lines.</summary>
    public static async Task<string[]> RepliesAsync(int port, IEnumerable<byte[]> lines)
    {
        await using var client = await SmtpLineClient.ConnectAsync(port);
        await client.SendAsync("EHLO client.example");
        var replies = new List<string>();
        foreach (var line in lines)
        {
            replies.Add((await client.SendAsync(line)).Text);
        }

        await client.SendAsync("QUIT");
        return [.. replies];
    }

    /// <summary>
    /// Each case's bytes (Latin-1, a character per byte) in a session of its own at Postfix and at ours, after an EHLO unless
    /// <paramref name="greeted"/> is false: the replies that differ, or that Postfix did not give with the code the case
    /// expects, shown for a failure message.
    /// </summary>
    public static async Task<List<string>> RawDifferencesAsync(int postfixPort, int ourPort, IEnumerable<(string Bytes, int[] Codes)> cases, bool greeted = true)
    {
        var differences = new List<string>();
        foreach (var (bytes, codes) in cases)
        {
            var fromPostfix = await RawRepliesAsync(postfixPort, Encoding.Latin1.GetBytes(bytes), codes.Length, greeted);
            var ours = await RawRepliesAsync(ourPort, Encoding.Latin1.GetBytes(bytes), codes.Length, greeted);
            for (var i = 0; i < codes.Length; i++)
            {
                if (Difference(bytes, codes[i], fromPostfix[i] ?? "(no reply)", ours[i] ?? "(no reply)") is { } difference)
                {
                    differences.Add($"reply {i + 1} of {codes.Length} to {difference}");
                }
            }
        }

        return differences;
    }

    /// <summary>
    /// One session of its own: EHLO (unless not <paramref name="greeted"/>), <paramref name="bytes"/> in one write as they
    /// are (several lines, pipelined), then the <paramref name="count"/> replies to them (null for one that never came
    /// within a second: a line not taken as ended).
    /// </summary>
    public static async Task<string?[]> RawRepliesAsync(int port, byte[] bytes, int count, bool greeted = true)
    {
        await using var client = await SmtpLineClient.ConnectAsync(port);
        if (greeted)
        {
            await client.SendAsync("EHLO client.example");
        }

        await client.SendWithoutReadingAsync(bytes);
        var replies = new string?[count];
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            for (var i = 0; i < count; i++)
            {
                replies[i] = (await client.ReadReplyAsync(bound.Token))?.Text;
            }
        }
        catch (OperationCanceledException)
        {
            // The replies that came are the answer.
        }

        return replies;
    }
}
