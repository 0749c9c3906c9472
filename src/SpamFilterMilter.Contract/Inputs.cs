using System.Net;

namespace SpamFilterMilter.Contract;

/// <summary>
/// The SMTP client as the host's SMTP server saw it, and the server it connected to. The filter derives its
/// connection macros from these facts (<c>_</c>, <c>{client_name}</c>, <c>{client_ptr}</c>, <c>{daemon_addr}</c>, <c>j</c>
/// …, with Postfix's values); every fact but the address is optional.
/// </summary>
public sealed record ClientInfo
{
    /// <summary>
    /// The client's verified host name (its address's PTR name, confirmed by a forward lookup), or null when it has
    /// none (the filter then sees the address in brackets, <c>[192.0.2.1]</c>, as sendmail and Postfix send it, and
    /// <c>{client_name}</c> is <c>unknown</c>).
    /// </summary>
    public string? HostName { get; init; }

    /// <summary>
    /// The name the client's address maps to in DNS (its PTR record), confirmed or not; null when it is
    /// <see cref="HostName"/> (or there is none). A PTR name without a <see cref="HostName"/> is one that did not
    /// confirm: macro <c>_</c> then says <c>ptr.example [192.0.2.1] (may be forged)</c>.
    /// </summary>
    public string? PtrName { get; init; }

    /// <summary>
    /// The client's names could not be found out just now: a DNS server that did not answer in time, for the PTR lookup
    /// or the forward lookup that confirms it. <c>{client_resolve}</c> is then <c>TEMP</c>, as Postfix says, rather than
    /// <c>FAIL</c> or <c>FORGED</c>, so that a milter which refuses clients without a name can defer them (4xx) instead of
    /// refusing them for good while DNS is down.
    /// </summary>
    public bool NameLookupFailedTemporarily { get; init; }

    /// <summary>The client's IP address; null for a connection that is not TCP (family unknown).</summary>
    public IPAddress? Address { get; init; }

    /// <summary>The client's TCP port (0 when unknown).</summary>
    public int Port { get; init; }

    /// <summary>For a connection over a local (UNIX-domain) socket: its path. Takes precedence over <see cref="Address"/>.</summary>
    public string? LocalSocketPath { get; init; }

    /// <summary>The server's own address the client connected to (macro <c>{daemon_addr}</c>); null when unknown.</summary>
    public IPAddress? ServerAddress { get; init; }

    /// <summary>The server's TCP port the client connected to (macro <c>{daemon_port}</c>); 0 when unknown.</summary>
    public int ServerPort { get; init; }

    /// <summary>
    /// The server's host name (macros <c>j</c> and <c>{daemon_name}</c>, as Postfix's <c>$myhostname</c>); null: this
    /// machine's host name.
    /// </summary>
    public string? ServerName { get; init; }

    /// <summary>A TCP client.</summary>
    public static ClientInfo Tcp(IPAddress address, int port, string? hostName = null) =>
        new() { Address = address, Port = port, HostName = hostName };
}

/// <summary>
/// One envelope recipient with its ESMTP parameters (<see cref="EsmtpParameters"/>: one per entry, never null). Equal
/// recipients have equal addresses and equal parameter lists.
/// </summary>
/// <param name="Address">The forward-path, with or without angle brackets.</param>
/// <param name="Parameters">The ESMTP parameters of its RCPT TO (<c>NOTIFY=SUCCESS</c>, <c>ORCPT=rfc822;a@b</c>); null or omitted for none.</param>
public sealed record EnvelopeRecipient(string Address, IReadOnlyList<string>? Parameters = null)
{
    /// <summary>The ESMTP parameters of its RCPT TO, one per entry; empty (never null) for none.</summary>
    public IReadOnlyList<string> Parameters { get; init; } = Parameters ?? [];

    /// <inheritdoc/>
    public bool Equals(EnvelopeRecipient? other) =>
        other is not null && Address == other.Address && EsmtpParameters.Equal(Parameters, other.Parameters);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Address, EsmtpParameters.HashOf(Parameters));

    private bool PrintMembers(System.Text.StringBuilder builder) => EsmtpParameters.PrintRecord(builder, Address, Parameters);
}

/// <summary>
/// A whole message as Messaging Server hands it to a spam-filter plug-in: who sent it from where,
/// to whom, the message itself and the opt-in values that selected this filter.
/// </summary>
public sealed class MessageSubmission
{
    /// <summary>The SMTP client; null for a message that did not arrive over SMTP.</summary>
    public ClientInfo? Client { get; init; }

    /// <summary>The HELO/EHLO name; null when there was none.</summary>
    public string? HeloName { get; init; }

    /// <summary>The envelope sender (reverse-path), with or without angle brackets; empty for the null sender.</summary>
    public required string MailFrom { get; init; }

    /// <summary>ESMTP parameters of MAIL FROM, one per entry (<c>SIZE=1234</c>, <c>BODY=8BITMIME</c>); empty (never null) for none.</summary>
    public IReadOnlyList<string> MailParameters { get; init => field = value ?? []; } = [];

    /// <summary>The envelope recipients, at least one.</summary>
    public required IReadOnlyList<EnvelopeRecipient> Recipients { get; init; }

    /// <summary>
    /// The raw RFC 5322 message (header section, blank line, body), CRLF or LF line ends. Read once,
    /// forward only; the caller keeps ownership.
    /// </summary>
    public required Stream Message { get; init; }

    /// <summary>
    /// The host's own trace header (its <c>Received:</c>), when the host put it into <see cref="Message"/> before
    /// filtering and the filter is not to see it, as Postfix and sendmail do not show a milter theirs. The first field of
    /// the message equal to it (name and value byte for byte, as <see cref="MessageHeaderReader"/> reads it) is not
    /// sent. It still counts for the filter's <see cref="InsertHeader"/> indexes (0 puts a field above it, 1 right
    /// below it) and not for its <see cref="ChangeHeader"/> indexes, as in Postfix: apply the verdict's edits with the
    /// same field (the host library's <c>MessageEditor.Apply(…, hiddenTraceHeader)</c>). Null: every field is sent.
    /// </summary>
    public HeaderField? HiddenTraceHeader { get; init; }

    /// <summary>The opt-in values (union of user, domain and channel opt-ins) that selected this filter.</summary>
    public IReadOnlyList<string>? OptIn { get; init; }

    /// <summary>
    /// Further macros for the filter, as <see cref="IFilterSession.SetMacro"/> takes them
    /// (<c>i</c>, <c>{auth_authen}</c>, <c>{tls_version}</c>, …). A value given here wins over the one the filter
    /// derives from <see cref="Client"/> (<c>j</c>, <c>_</c>, <c>{daemon_name}</c>, …).
    /// </summary>
    public IReadOnlyDictionary<string, string>? Macros { get; init; }
}
