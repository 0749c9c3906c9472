using System.Text.RegularExpressions;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// How a run is compared, for every Postfix differential (the handcrafted cases and the randomized messages): the
/// differences kept are listed in docs/postfix-differential.md with their reasons; <see cref="Comparable"/> applies
/// exactly those, and no other.
/// </summary>
internal static partial class DifferentialComparison
{
    /// <summary>
    /// A run as the comparison sees it: each command's outcome, then each message's fate with its envelope and bytes.
    /// Kept differences (docs/postfix-differential.md): Postfix's queue manager sorts the recipients it relays (by
    /// domain, then address) and merges duplicates, so recipients compare as a set; in a DKIM-Signature field t= (the
    /// second it was made) and b= (which signs t=) are masked, each delivered signature being verified instead. Where
    /// the milter's replacement body has stray CRs (<paramref name="strayCrs"/>), Postfix passes them on (smtp-sink drops
    /// them) and our next-hop client sends spaces (SMTP smuggling): there the messages compare with their spaces left out.
    /// </summary>
    public static string Comparable(MtaRun run, bool strayCrs) =>
        string.Join('\n', run.Outcomes) + "\n" + string.Join('\n', run.Deliveries.Select(d => d with
        {
            RcptArgs = d.RcptArgs is null ? null : [.. d.RcptArgs.Distinct().Order(StringComparer.Ordinal)],
            Message = d.Message is null ? null : Encoding.Latin1.GetBytes(DkimSignature().Replace(
                strayCrs ? Encoding.Latin1.GetString(d.Message).Replace(" ", string.Empty, StringComparison.Ordinal) : Encoding.Latin1.GetString(d.Message),
                field => DkimTimes().Replace(field.Value, "$1<masked>"))),
        }));

    /// <summary>
    /// What the milter received, added to the run's outcomes: the lines of <paramref name="events"/> (a long one as its
    /// length and hash) and the values of the macros <paramref name="macros"/> at each event (the queue id masked; not at
    /// the close, which our side's milter logs only once the plug-in is disposed, after this is read).
    /// </summary>
    public static MtaRun WithTranscript(MtaRun run, IEnumerable<TranscriptLine> transcript, string[] macros, string[] events) =>
        run with
        {
            Outcomes = [.. run.Outcomes, .. transcript.Select(line => line switch
            {
                { Event: "macro", Fields: [var at, var name, var value, ..] } when at != "close" && macros.Contains(name) => $"macro at {at}: {name}={(name == "i" ? "<queue id>" : value)}",
                _ when events.Contains(line.Event) => $"{line.Event}: {Shown(string.Join(" | ", line.Fields))}",
                _ => null,
            }).OfType<string>()],
        };

    private static string Shown(string text) => text.Length <= 300 ? text
        : $"{text[..100]}… ({text.Length} characters, SHA-256 {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16]})";

    [GeneratedRegex(@"^DKIM-Signature:.*(\n[ \t].*)*", RegexOptions.Multiline)]
    private static partial Regex DkimSignature();

    [GeneratedRegex(@"(\b[tb]=)[^;]*")]
    private static partial Regex DkimTimes();
}
