using System.Globalization;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// The macro values of one milter session: those the host supplied and those the session derives
/// from the stage calls. Names are kept in canonical form (<see cref="MacroNames.Canonical"/>).
/// The queue id <c>i</c> has a value from MAIL on but is sent only from the moment the MTA would have
/// one: at MAIL (sendmail) or once a recipient was accepted (Postfix), see <see cref="DeriveSender"/>.
/// </summary>
internal sealed class MacroTable
{
    /// <summary>The transport <c>{mail_mailer}</c> and <c>{rcpt_mailer}</c> name: Postfix's for mail it relays.</summary>
    public const string Transport = "smtp";

    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _setByHost = new(StringComparer.Ordinal);
    private bool _queueIdShown;
    private string? _recipient; // the recipient of the RCPT being played (in brackets)
    private string? _firstAccepted; // the transaction's first recipient not refused (in brackets)

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

    /// <summary>The value to send now: none for the queue id before its time.</summary>
    public bool TryGet(string canonicalName, out string value) =>
        _values.TryGetValue(canonicalName, out value!) && (_queueIdShown || canonicalName != MacroNames.QueueId);

    /// <summary>The queue id of the current (or last) message, whether or not it is sent yet: for log lines.</summary>
    public string? QueueId => _values.GetValueOrDefault(MacroNames.QueueId);

    /// <summary>Host macros that appear in none of <paramref name="lists"/> (sent with CONNECT unless the milter asked for a list).</summary>
    public IEnumerable<KeyValuePair<string, string>> ExtrasOutside(MacroLists lists) =>
        _values.Where(pair => _setByHost.Contains(pair.Key) && !lists.Contains(pair.Key) && TryGet(pair.Key, out _));

    /// <summary>The macros derived from the connection (<see cref="ConnectionMacros"/>): the client, the server, the MTA.</summary>
    public void DeriveClient(ClientInfo? client)
    {
        foreach (var (name, value) in ConnectionMacros.Of(client))
        {
            SetDerived(name, value);
        }
    }

    /// <summary>
    /// A new message from <paramref name="reversePath"/> (in brackets): <c>{mail_addr}</c>, <c>{mail_host}</c>,
    /// <c>{mail_mailer}</c>, a queue id unless the host set <c>i</c>, sent from now on when
    /// <paramref name="queueIdAtMail"/> (sendmail), else from the first accepted recipient on (Postfix); no recipient yet.
    /// </summary>
    public void DeriveSender(string reversePath, bool queueIdAtMail)
    {
        SetDerived(MacroNames.MailAddress, MailPath.Bare(reversePath));
        SetDerived(MacroNames.MailHost, MailPath.Domain(MailPath.Bare(reversePath)) ?? string.Empty);
        SetDerived(MacroNames.MailMailer, Transport);
        if (!IsSetByHost(MacroNames.QueueId))
        {
            SetDerived(MacroNames.QueueId, QueueIds.Next());
        }

        _queueIdShown = queueIdAtMail;
        _recipient = _firstAccepted = null;
        SetDerived(MacroNames.RcptAddress, null);
        SetDerived(MacroNames.RcptHost, null);
        SetDerived(MacroNames.RcptMailer, null);
    }

    /// <summary>A recipient (in brackets): <c>{rcpt_addr}</c>, <c>{rcpt_host}</c>, <c>{rcpt_mailer}</c>.</summary>
    public void DeriveRecipient(string forwardPath)
    {
        _recipient = forwardPath;
        SetRecipient(forwardPath);
    }

    /// <summary>The recipient of the last <see cref="DeriveRecipient"/> was not refused: the first such one is the message's.</summary>
    public void RecipientAccepted() => _firstAccepted ??= _recipient;

    /// <summary>
    /// DATA: from now on (DATA, each header, end of headers, each body packet, end of message) <c>{rcpt_addr}</c>,
    /// <c>{rcpt_host}</c> and <c>{rcpt_mailer}</c> are the first accepted recipient's, not the last one's. Postfix:
    /// smtpd.c <c>rcpt_cmd</c> keeps the first recipient it accepted in <c>state-&gt;recipient</c> (a recipient it or
    /// the milter refused is pushed there only while the milter sees its RCPT, then popped), and smtpd_milter.c
    /// <c>smtpd_milter_eval</c> derives the three macros from it.
    /// </summary>
    public void ShowFirstRecipient()
    {
        if (_firstAccepted is { } first)
        {
            SetRecipient(first);
        }
    }

    private void SetRecipient(string forwardPath)
    {
        SetDerived(MacroNames.RcptAddress, MailPath.Bare(forwardPath));
        SetDerived(MacroNames.RcptHost, MailPath.Domain(MailPath.Bare(forwardPath)) ?? string.Empty);
        SetDerived(MacroNames.RcptMailer, Transport);
    }

    /// <summary>
    /// A recipient was accepted, or the message reached DATA: the MTA has its queue file, and the queue id goes with
    /// every later stage (Postfix opens the queue file after the first accepted RCPT).
    /// </summary>
    public void ShowQueueId() => _queueIdShown = true;

    /// <summary>
    /// A recipient the host refused, as libmilter's convention shows it to a milter that asked for them (RCPT_REJ):
    /// <c>{rcpt_mailer}</c>=error, <c>{rcpt_host}</c>=the enhanced code, <c>{rcpt_addr}</c>=the reply text. Null
    /// <paramref name="hostReply"/> ends it: the next accepted recipient is not an error.
    /// </summary>
    public void DeriveRefusedRecipient(SmtpReply? hostReply)
    {
        SetDerived(MacroNames.RcptMailer, hostReply is null ? Transport : "error");
        if (hostReply is not null)
        {
            SetDerived(MacroNames.RcptHost, hostReply.EnhancedCode ?? hostReply.Code.ToString(CultureInfo.InvariantCulture));
            SetDerived(MacroNames.RcptAddress, string.Join(' ', hostReply.Lines));
        }
    }
}
