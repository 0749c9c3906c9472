using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// Applies a verdict's edits to a message and its envelope, in the order the filter sent them, with
/// Postfix's semantics (the MTA the milter ecosystem is tested against):
/// <list type="bullet">
/// <item>AddHeader appends at the end of the header section.</item>
/// <item>InsertHeader puts the field before the field at that index of the whole header list (0 = top); beyond the end appends.</item>
/// <item>ChangeHeader finds the index-th field of that name (1-based, case-insensitive); a null value deletes it, a
///       value replaces it in place; an index beyond the count adds the field (a deletion then does nothing).</item>
/// <item>Each edit sees the result of the previous ones, so a deletion renumbers what follows at once.</item>
/// <item>ReplaceBody replaces everything after the blank line.</item>
/// <item>Recipient and sender edits change the envelope; a deleted recipient is every one whose address is the same without
///       angle brackets and quotes, compared exactly (case-sensitively), as Postfix compares them; the null address is
///       not added (a note says so, as Postfix warns).
///       Of their ESMTP parameters only those Postfix honours take effect (a sender change: RET and ENVID, the client's
///       other parameters kept; an added recipient: NOTIFY and ORCPT); <see cref="EditedMessage.Notes"/> names the rest.</item>
/// </list>
/// Untouched header fields and the body keep their exact bytes; a header section ended by a line that is not a header
/// field gets the empty line Postfix writes before that line, the body's first (with or without edits), and blanks
/// between a field name and its colon are taken out, as Postfix writes every field. A new or changed field is written as Postfix
/// writes a milter's header (<see cref="HeaderSyntax.WriteField"/>): <c>name:</c> and the value's exact bytes (its
/// leading space is part of it), each of its lines in the message's own line end (CRLF, or LF for a message written
/// with LF), a line that does not start with a blank given a tab in front.
/// <para>
/// A host that put its own trace header (<c>Received:</c>) into the message before filtering and did not show it to
/// the filter (<see cref="MessageSubmission.HiddenTraceHeader"/>) names it here too: InsertHeader indexes then count
/// it (0 puts a field above it, 1 right below it) and ChangeHeader indexes skip it, as Postfix does with its own.
/// </para>
/// </summary>
public static class MessageEditor
{
    /// <summary>
    /// Applies <paramref name="edits"/> to <paramref name="message"/> and <paramref name="envelope"/>. The first field equal
    /// to <paramref name="hiddenTraceHeader"/> (the one the filter was not shown) is counted by InsertHeader and not by
    /// ChangeHeader indexes; null: every field is counted by both.
    /// </summary>
    public static EditedMessage Apply(ReadOnlySpan<byte> message, Envelope envelope, IEnumerable<MessageEdit> edits, HeaderField? hiddenTraceHeader = null) =>
        Apply(message.ToArray().AsMemory(), envelope, edits, hiddenTraceHeader);

    /// <summary>
    /// As the public form, reading <paramref name="message"/> where it is instead of copying it first: the caller
    /// owns it and must not change it until this returns.
    /// </summary>
    internal static EditedMessage Apply(ReadOnlyMemory<byte> message, Envelope envelope, IEnumerable<MessageEdit> edits, HeaderField? hiddenTraceHeader = null)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(edits);
        var draft = MessageDraft.Parse(message, envelope, hiddenTraceHeader);
        foreach (var edit in edits)
        {
            draft.Apply(edit);
        }

        return new EditedMessage(draft.ToBytes(), draft.Envelope) { Notes = draft.Notes };
    }

    /// <summary>
    /// The header fields of <paramref name="message"/>, in order, split by the same rule the edits use, so
    /// that "the second X-Spam field" means the same field to a reader and to <see cref="ChangeHeader"/>.
    /// </summary>
    public static IReadOnlyList<HeaderField> ReadFields(ReadOnlySpan<byte> message) =>
        MessageLayout.Of(message.ToArray()).Fields.Select(f => f.Field).ToArray();

    /// <summary>Applies only the header and body edits (<paramref name="hiddenTraceHeader"/> as for the envelope form).</summary>
    public static byte[] Apply(ReadOnlySpan<byte> message, IEnumerable<MessageEdit> edits, HeaderField? hiddenTraceHeader = null) =>
        Apply(message, new Envelope(string.Empty, null, []), edits, hiddenTraceHeader).Message;
}
