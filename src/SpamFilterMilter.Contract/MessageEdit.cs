namespace SpamFilterMilter.Contract;

/// <summary>
/// One change a filter asked for at the end of a message. Header values are the raw text that follows
/// the colon (leading space included, folded lines joined by CRLF), so <c>name + ":" + value</c> is the
/// header field as it should appear in the message.
/// </summary>
public abstract record MessageEdit;

/// <summary>Append a header field at the end of the header section.</summary>
public sealed record AddHeader(string Name, string Value) : MessageEdit;

/// <summary>Insert a header field before the field at <paramref name="Index"/> (0 = top) of the whole header list; beyond the end appends.</summary>
public sealed record InsertHeader(int Index, string Name, string Value) : MessageEdit;

/// <summary>
/// Replace the <paramref name="Index"/>-th field named <paramref name="Name"/> (1-based, case-insensitive).
/// A null value deletes it; an index beyond the count adds the field.
/// </summary>
public sealed record ChangeHeader(int Index, string Name, string? Value) : MessageEdit;

/// <summary>Add an envelope recipient, optionally with ESMTP parameters (one string, space separated).</summary>
public sealed record AddRecipient(string Address, string? Parameters) : MessageEdit;

/// <summary>Remove an envelope recipient (the address as given at RCPT).</summary>
public sealed record DeleteRecipient(string Address) : MessageEdit;

/// <summary>Change the envelope sender, optionally with ESMTP parameters (one string, space separated).</summary>
public sealed record ChangeSender(string Address, string? Parameters) : MessageEdit;

/// <summary>
/// Replace the whole body with these bytes, as the milter sent them (CRLF line ends; the last line may lack one: the
/// host's <c>MessageEditor</c> ends it when it writes the message, as Postfix does). A large body lives in a temporary file
/// (<see cref="MessageBody"/>); whoever receives the verdict disposes it (<see cref="FilterVerdict.DisposeBodies"/>).
/// <c>new ReplaceBody(bytes)</c> takes a <c>byte[]</c> or <see cref="ReadOnlyMemory{T}"/> as it is. Equal edits have equal bytes.
/// </summary>
public sealed record ReplaceBody(MessageBody Body) : MessageEdit;
