namespace SpamFilterMilter.Contract;

/// <summary>
/// One change a filter asked for at the end of a message. Header values are the exact bytes that follow the colon
/// (the leading space included: the plug-in has already added the one the MTA puts there unless the milter negotiated
/// SMFIP_HDR_LEADSPC), 8-bit bytes as the milter sent them; a value's lines are separated by LF (or CRLF). The MTA writes
/// the field as <c>name:</c> followed by the value, each line break its own line end, a line that does not start with a
/// blank given a tab in front, as Postfix does (<see cref="HeaderSyntax.WriteField"/>).
/// </summary>
public abstract record MessageEdit;

/// <summary>Append a header field at the end of the header section.</summary>
public sealed record AddHeader(string Name, RawText Value) : MessageEdit;

/// <summary>
/// Insert a header field before the field at <paramref name="Index"/> (0 = top) of the whole header list, a header
/// the filter was not shown (<see cref="MessageSubmission.HiddenTraceHeader"/>) counted too, as Postfix counts its own
/// Received: header; beyond the end appends.
/// </summary>
public sealed record InsertHeader(int Index, string Name, RawText Value) : MessageEdit;

/// <summary>
/// Replace the <paramref name="Index"/>-th field named <paramref name="Name"/> (1-based, case-insensitive, a header
/// the filter was not shown not counted). A null or empty value deletes it, as an empty SMFIR_CHGHEADER value does (a
/// string that is null converts to the empty value, so it deletes too); an index beyond the count adds the field.
/// </summary>
public sealed record ChangeHeader(int Index, string Name, RawText? Value) : MessageEdit;

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
/// Replace the whole body with these bytes, as the milter sent them (CRLF line ends; the last line may lack one: the
/// host's <c>MessageEditor</c> ends it when it writes the message, as Postfix does). A large body lives in a temporary file
/// (<see cref="MessageBody"/>); whoever receives the verdict disposes it (<see cref="FilterVerdict.DisposeBodies"/>).
/// <c>new ReplaceBody(bytes)</c> takes a <c>byte[]</c> or <see cref="ReadOnlyMemory{T}"/> as it is. Equal edits have equal bytes.
/// </summary>
public sealed record ReplaceBody(MessageBody Body) : MessageEdit;
