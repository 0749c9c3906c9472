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

/// <summary>
/// Add an envelope recipient with the ESMTP parameters the filter gave (<see cref="EsmtpParameters"/>: one per entry,
/// empty for none), as the filter sent them: the host decides which it honours (Postfix: NOTIFY and ORCPT).
/// Equal edits have equal addresses and equal parameter lists.
/// </summary>
public sealed record AddRecipient(string Address, IReadOnlyList<string> Parameters) : MessageEdit
{
    /// <summary>Add <paramref name="address"/> without ESMTP parameters.</summary>
    public AddRecipient(string address)
        : this(address, [])
    {
    }

    /// <summary>The ESMTP parameters, one per entry; empty (never null) for none.</summary>
    public IReadOnlyList<string> Parameters { get; init; } = Parameters ?? [];

    /// <inheritdoc/>
    public bool Equals(AddRecipient? other) =>
        base.Equals(other) && Address == other.Address && EsmtpParameters.Equal(Parameters, other.Parameters);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Address, EsmtpParameters.HashOf(Parameters));

    /// <inheritdoc/>
    protected override bool PrintMembers(System.Text.StringBuilder builder) =>
        EsmtpParameters.PrintRecord(builder, Address, Parameters);
}

/// <summary>Remove an envelope recipient (the address as given at RCPT).</summary>
public sealed record DeleteRecipient(string Address) : MessageEdit;

/// <summary>
/// Change the envelope sender, with the ESMTP parameters the filter gave (<see cref="EsmtpParameters"/>: one per entry,
/// empty for none), as the filter sent them: the host decides which it honours (Postfix: RET and ENVID replace the
/// client's; with none, all of the client's stay). Equal edits have equal addresses and equal parameter lists.
/// </summary>
public sealed record ChangeSender(string Address, IReadOnlyList<string> Parameters) : MessageEdit
{
    /// <summary>Change the sender to <paramref name="address"/> without ESMTP parameters.</summary>
    public ChangeSender(string address)
        : this(address, [])
    {
    }

    /// <summary>The ESMTP parameters, one per entry; empty (never null) for none.</summary>
    public IReadOnlyList<string> Parameters { get; init; } = Parameters ?? [];

    /// <inheritdoc/>
    public bool Equals(ChangeSender? other) =>
        base.Equals(other) && Address == other.Address && EsmtpParameters.Equal(Parameters, other.Parameters);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Address, EsmtpParameters.HashOf(Parameters));

    /// <inheritdoc/>
    protected override bool PrintMembers(System.Text.StringBuilder builder) =>
        EsmtpParameters.PrintRecord(builder, Address, Parameters);
}

/// <summary>
/// Replace the whole body with these bytes (CRLF line ends). A large body lives in a temporary file
/// (<see cref="MessageBody"/>); whoever receives the verdict disposes it (<see cref="FilterVerdict.DisposeBodies"/>).
/// <c>new ReplaceBody(bytes)</c> takes a <c>byte[]</c> or <see cref="ReadOnlyMemory{T}"/> as it is. Equal edits have equal bytes.
/// </summary>
public sealed record ReplaceBody(MessageBody Body) : MessageEdit;
