using System.Globalization;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// The macro values of one milter session: those the host supplied and those the session derives
/// from the stage calls. Names are kept in canonical form (<see cref="MacroNames.Canonical"/>).
/// </summary>
internal sealed class MacroTable
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _setByHost = new(StringComparer.Ordinal);

    /// <summary>Sets a value the host supplied; it wins over anything the session derives.</summary>
    public void SetFromHost(string name, string? value)
    {
        var canonical = MacroNames.Canonical(name);
        if (!MacroNames.IsWellFormed(canonical))
        {
            throw new ArgumentException($"\"{name}\" is not a macro name: use one character or {{name}} without spaces or braces inside.", nameof(name));
        }

        if (value is null)
        {
            _values.Remove(canonical);
            _setByHost.Remove(canonical);
            return;
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The value of macro {canonical} contains a NUL character.", nameof(value));
        }

        _values[canonical] = value;
        _setByHost.Add(canonical);
    }

    /// <summary>Sets a value the session derived (client address, sender, …) unless the host set one.</summary>
    public void SetDerived(string canonicalName, string? value)
    {
        if (_setByHost.Contains(canonicalName))
        {
            return;
        }

        if (value is null)
        {
            _values.Remove(canonicalName);
        }
        else
        {
            _values[canonicalName] = value;
        }
    }

    public bool IsSetByHost(string canonicalName) => _setByHost.Contains(canonicalName);

    public bool TryGet(string canonicalName, out string value) => _values.TryGetValue(canonicalName, out value!);

    /// <summary>Host macros that appear in no default list (sent with CONNECT unless the milter asked for lists).</summary>
    public IEnumerable<KeyValuePair<string, string>> Extras =>
        _values.Where(pair => _setByHost.Contains(pair.Key) && !MacroNames.HasDefaultStage(pair.Key));

    /// <summary>The macros sendmail and Postfix derive from the connecting client: <c>{client_addr}</c> (IPv6 tagged), <c>{client_port}</c>, <c>{client_name}</c>.</summary>
    public void DeriveClient(ClientInfo? client)
    {
        if (client?.Address is { } address)
        {
            SetDerived(MacroNames.ClientAddress, CommandEncoder.ClientAddressMacro(address));
            SetDerived(MacroNames.ClientPort, client.Port.ToString(CultureInfo.InvariantCulture));
        }

        if (client?.HostName is { } name)
        {
            SetDerived(MacroNames.ClientName, name);
        }
    }

    /// <summary>A new message from <paramref name="reversePath"/> (in brackets): <c>{mail_addr}</c>, <c>{mail_host}</c>, a queue id unless the host set <c>i</c>; no recipient yet.</summary>
    public void DeriveSender(string reversePath)
    {
        SetDerived(MacroNames.MailAddress, MailPath.Bare(reversePath));
        SetDerived(MacroNames.MailHost, MailPath.Domain(MailPath.Bare(reversePath)) ?? string.Empty);
        if (!IsSetByHost(MacroNames.QueueId))
        {
            SetDerived(MacroNames.QueueId, QueueIds.Next());
        }

        SetDerived(MacroNames.RcptAddress, null);
        SetDerived(MacroNames.RcptHost, null);
    }

    /// <summary>A recipient (in brackets): <c>{rcpt_addr}</c>, <c>{rcpt_host}</c>.</summary>
    public void DeriveRecipient(string forwardPath)
    {
        SetDerived(MacroNames.RcptAddress, MailPath.Bare(forwardPath));
        SetDerived(MacroNames.RcptHost, MailPath.Domain(MailPath.Bare(forwardPath)) ?? string.Empty);
    }

    /// <summary>
    /// A recipient the host refused, as libmilter's convention shows it to a milter that asked for them (RCPT_REJ):
    /// <c>{rcpt_mailer}</c>=error, <c>{rcpt_host}</c>=the enhanced code, <c>{rcpt_addr}</c>=the reply text. Null
    /// <paramref name="hostReply"/> ends it: the next accepted recipient is not an error.
    /// </summary>
    public void DeriveRefusedRecipient(SmtpReply? hostReply)
    {
        SetDerived(MacroNames.RcptMailer, hostReply is null ? null : "error");
        if (hostReply is not null)
        {
            SetDerived(MacroNames.RcptHost, hostReply.EnhancedCode ?? hostReply.Code.ToString(CultureInfo.InvariantCulture));
            SetDerived(MacroNames.RcptAddress, string.Join(' ', hostReply.Lines));
        }
    }
}
