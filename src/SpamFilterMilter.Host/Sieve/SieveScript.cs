using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// A parsed and checked Sieve script in the subset the host runs: the commands of RFC 5228 (<c>require</c>,
/// <c>if</c>/<c>elsif</c>/<c>else</c>, <c>keep</c>, <c>discard</c>, <c>stop</c>, <c>redirect</c>), <c>fileinto</c>,
/// RFC 5429 <c>reject</c>/<c>ereject</c>, RFC 5293 <c>addheader</c>/<c>deleteheader</c> (and Messaging Server's
/// one-argument <c>addheader "Name: value"</c>), Messaging Server's <c>addtag</c>, the tests <c>header</c>,
/// <c>address</c>, <c>envelope</c>, <c>exists</c>, <c>size</c>, <c>true</c>, <c>false</c>, <c>not</c>, <c>allof</c>,
/// <c>anyof</c>, and the <c>vnd.spamfiltermilter</c> commands the milter plug-in's action strings use. Anything
/// else is a <see cref="SieveException"/> with its line and column, raised by <see cref="Parse"/>.
/// </summary>
public sealed class SieveScript
{
    private readonly List<Call> _commands;

    private SieveScript(string text, List<Call> commands)
    {
        Text = text;
        _commands = commands;
    }

    /// <summary>The script text.</summary>
    public string Text { get; }

    /// <summary>Parses and checks <paramref name="text"/>; throws <see cref="SieveException"/> for anything wrong or unsupported.</summary>
    public static SieveScript Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new SieveScript(text, SieveParser.Parse(text));
    }

    /// <summary>
    /// Runs the script on <paramref name="message"/> and <paramref name="envelope"/>. The message is parsed
    /// once and edited in place (a later test sees an earlier edit), and written once at the end, with
    /// <see cref="MessageEditor"/>'s semantics for every edit. A refusal (<c>reject</c>, <c>ereject</c>,
    /// <c>tempfail</c>) ends the script. Throws <see cref="SieveException"/> for a run-time error (e.g. a
    /// header name that is not one, invalid base64). <paramref name="message"/> must not change during the run.
    /// </summary>
    /// <param name="message">The message, header and body.</param>
    /// <param name="envelope">The envelope the envelope tests read and the envelope edits change.</param>
    /// <param name="verdictBody">
    /// The verdict's replacement body (<see cref="FilterVerdict.ReplacementBody"/>): what <c>replacebody :verdict</c>
    /// puts in the message, written once into <see cref="SieveOutcome.Message"/>. The outcome's <see cref="ReplaceBody"/>
    /// edit is that body itself: it lives as long as the caller keeps it (the host disposes it once the slot has run).
    /// Null: <c>replacebody :verdict</c> is a <see cref="SieveException"/>.
    /// </param>
    /// <param name="hiddenTraceHeader">
    /// The host's own trace header, which the filter was not shown (<see cref="MessageSubmission.HiddenTraceHeader"/>):
    /// the message's first field equal to it is counted by <c>insertheader</c> indexes and not by <c>replaceheader</c>
    /// and <c>deleteheader</c>, as in <see cref="MessageEditor.Apply(ReadOnlySpan{byte}, Envelope, IEnumerable{MessageEdit}, HeaderField?)"/>.
    /// Null: every field is counted by all of them.
    /// </param>
    public SieveOutcome Run(ReadOnlyMemory<byte> message, Envelope envelope, MessageBody? verdictBody = null, HeaderField? hiddenTraceHeader = null)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var run = new SieveInterpreter(message, envelope, verdictBody, hiddenTraceHeader);
        run.Execute(_commands);
        return run.Outcome();
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}
