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
/// <item>Recipient and sender edits change the envelope; addresses compare without angle brackets, case-insensitively.
///       Of their ESMTP parameters only those Postfix honours take effect (a sender change: RET and ENVID, the client's
///       other parameters kept; an added recipient: NOTIFY and ORCPT); <see cref="EditedMessage.Notes"/> names the rest.</item>
/// </list>
/// Untouched header fields and the body keep their exact bytes; new fields use the message's own line
/// ending (CRLF, or LF for a message written with LF).
/// </summary>
public static class MessageEditor
{
    /// <summary>Applies <paramref name="edits"/> to <paramref name="message"/> and <paramref name="envelope"/>.</summary>
    public static EditedMessage Apply(ReadOnlySpan<byte> message, Envelope envelope, IEnumerable<MessageEdit> edits)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(edits);
        var draft = MessageDraft.Parse(message.ToArray(), envelope);
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
    public static IReadOnlyList<HeaderField> ReadFields(ReadOnlySpan<byte> message)
    {
        var layout = MessageLayout.Of(message);
        var fields = new List<HeaderField>(layout.Fields.Count);
        foreach (var (name, start, length) in layout.Fields)
        {
            fields.Add(MessageDraft.ToHeaderField(name, message.Slice(start, length)));
        }

        return fields;
    }

    /// <summary>Applies only the header and body edits.</summary>
    public static byte[] Apply(ReadOnlySpan<byte> message, IEnumerable<MessageEdit> edits) =>
        Apply(message, new Envelope(string.Empty, null, []), edits).Message;
}
