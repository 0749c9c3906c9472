using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Running;

/// <summary>A message as the MTA hands it to the host: bytes, envelope, and the channels it comes from and goes to.</summary>
public sealed class HostMessage
{
    /// <summary>The raw RFC 5322 message (CRLF or LF line ends).</summary>
    public required ReadOnlyMemory<byte> Message { get; init; }

    /// <summary>
    /// The MTA's own trace header (its <c>Received:</c>), when it put it into <see cref="Message"/> before filtering and
    /// the milters are not to see it, as Postfix and sendmail do not show a milter theirs: exactly as it stands in the
    /// message (<c>MessageEditor.ReadFields(message)[0]</c> when it is on top). Each slot's plug-in leaves the first field
    /// equal to it out (<see cref="MessageSubmission.HiddenTraceHeader"/>), and the slot's action counts it as Postfix
    /// does: an inserted field at index 0 goes above it, at index 1 right below it; replaced and deleted fields are
    /// counted without it. Null: every field is shown and counted.
    /// </summary>
    public HeaderField? HiddenTraceHeader { get; init; }

    /// <summary>The envelope: sender and recipients with their ESMTP parameters.</summary>
    public required Envelope Envelope { get; init; }

    /// <summary>The channel the message came in on (selects with <c>sourcespamfilterXoptin</c>), or null.</summary>
    public string? SourceChannel { get; init; }

    /// <summary>
    /// The channel each recipient is routed to (selects with <c>destinationspamfilterXoptin</c>), by address
    /// (compared without angle brackets, case-insensitively). A recipient not listed has no channel.
    /// </summary>
    public IReadOnlyDictionary<string, string>? DestinationChannels { get; init; }

    /// <summary>The SMTP client, passed to the plug-ins; null for a message that did not come over SMTP.</summary>
    public ClientInfo? Client { get; init; }

    /// <summary>The HELO/EHLO name, passed to the plug-ins.</summary>
    public string? HeloName { get; init; }

    /// <summary>Macros for the plug-ins (<c>j</c>, <c>{daemon_name}</c>, ...).</summary>
    public IReadOnlyDictionary<string, string>? Macros { get; init; }

    /// <summary>The destination channel of <paramref name="address"/>, or null.</summary>
    internal string? DestinationChannel(string address)
    {
        if (DestinationChannels is null)
        {
            return null;
        }

        foreach (var (recipient, channel) in DestinationChannels)
        {
            if (MailPath.Same(recipient, address))
            {
                return channel;
            }
        }

        return null;
    }
}
