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
    public SieveOutcome Run(ReadOnlyMemory<byte> message, Envelope envelope) => Run(message, envelope, verdictBody: null);

    /// <summary>
    /// Runs the script as <see cref="Run(ReadOnlyMemory{byte}, Envelope)"/> does, for a verdict whose replacement body
    /// is <paramref name="verdictBody"/> (<see cref="FilterVerdict.ReplacementBody"/>): what <c>replacebody :verdict</c>
    /// puts in the message, written once into <see cref="SieveOutcome.Message"/>. The outcome's <see cref="ReplaceBody"/>
    /// edit is that body itself: it lives as long as the caller keeps it (the host disposes it once the slot has run).
    /// Without one, <c>replacebody :verdict</c> is a <see cref="SieveException"/>.
    /// </summary>
    public SieveOutcome Run(ReadOnlyMemory<byte> message, Envelope envelope, MessageBody? verdictBody) =>
        Run(message, envelope, verdictBody, hiddenTraceHeader: null);

    /// <summary>
    /// Runs the script as <see cref="Run(ReadOnlyMemory{byte}, Envelope, MessageBody?)"/> does, on a message whose first
    /// field equal to <paramref name="hiddenTraceHeader"/> is the host's own trace header, which the filter was not shown
    /// (<see cref="MessageSubmission.HiddenTraceHeader"/>): <c>insertheader</c> indexes count it, <c>replaceheader</c> and
    /// <c>deleteheader</c> do not, as in <see cref="MessageEditor.Apply(ReadOnlySpan{byte}, Envelope, IEnumerable{MessageEdit}, HeaderField?)"/>.
    /// </summary>
    public SieveOutcome Run(ReadOnlyMemory<byte> message, Envelope envelope, MessageBody? verdictBody, HeaderField? hiddenTraceHeader)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var run = new SieveInterpreter(message, envelope, verdictBody, hiddenTraceHeader);
        run.Execute(_commands);
        return run.Outcome();
    }

    /// <inheritdoc />
    public override string ToString() => Text;

}
