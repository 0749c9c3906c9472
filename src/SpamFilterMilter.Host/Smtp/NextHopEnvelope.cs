using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// The MAIL FROM and RCPT TO arguments a relay sends its next hop, written as Postfix's smtp client writes them
/// (smtp_proto.c): only the parameters a relay understands are passed on, each only when the next hop announced its
/// extension, in Postfix's order (MAIL: SIZE, BODY, ENVID, RET, SMTPUTF8; RCPT: ORCPT, NOTIFY); a recipient without
/// ORCPT gets <c>ORCPT=rfc822;</c> its address (RFC 3461 §4.2 allows a relay to add it). Anything else a client sent
/// (an unknown extension's parameter) stops here, as it does at Postfix.
/// </summary>
public static class NextHopEnvelope
{
    /// <summary>The arguments of MAIL FROM: (after the colon).</summary>
    public static string MailArguments(Envelope envelope, NextHopExtensions extensions, long messageSize)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var text = new StringBuilder(Path(envelope.MailFrom));
        var parameters = envelope.MailParameters;
        if (extensions.HasFlag(NextHopExtensions.Size))
        {
            text.Append(" SIZE=").Append(messageSize.ToString(CultureInfo.InvariantCulture));
        }

        if (extensions.HasFlag(NextHopExtensions.EightBitMime) && Find(parameters, "BODY") is { } body)
        {
            text.Append(' ').Append(body);
        }

        if (extensions.HasFlag(NextHopExtensions.Dsn))
        {
            AppendIfPresent(text, parameters, "ENVID");
            AppendIfPresent(text, parameters, "RET");
        }

        if (extensions.HasFlag(NextHopExtensions.SmtpUtf8))
        {
            AppendIfPresent(text, parameters, "SMTPUTF8");
        }

        return text.ToString();
    }

    /// <summary>The arguments of RCPT TO: (after the colon) for one recipient.</summary>
    public static string RcptArguments(EnvelopeRecipient recipient, NextHopExtensions extensions)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var text = new StringBuilder(Path(recipient.Address));
        if (extensions.HasFlag(NextHopExtensions.Dsn))
        {
            var parameters = recipient.Parameters;
            text.Append(' ').Append(Find(parameters, "ORCPT") ?? "ORCPT=rfc822;" + Xtext.Encode(MailPath.Bare(recipient.Address)));
            AppendIfPresent(text, parameters, "NOTIFY");
        }

        return text.ToString();
    }

    /// <summary>
    /// The address as MAIL or RCPT writes it. Whatever made the envelope checked it already; this is the last place
    /// before the wire, so an address that is not one path (a blank or bracket would start parameters) is refused here too.
    /// </summary>
    private static string Path(string address) => MailPath.PathProblem(address) is { } problem
        ? throw new FormatException($"{LogText.Quote(address)} is not one address: {problem}")
        : MailPath.Bracket(MailPath.Bare(address));

    private static string? Find(IReadOnlyList<string> parameters, string keyword) =>
        parameters.FirstOrDefault(p => EsmtpParameters.Keyword(p).Equals(keyword, StringComparison.OrdinalIgnoreCase));

    private static void AppendIfPresent(StringBuilder text, IReadOnlyList<string> parameters, string keyword)
    {
        if (Find(parameters, keyword) is { } parameter)
        {
            text.Append(' ').Append(parameter);
        }
    }
}

/// <summary>The ESMTP extensions a next hop announced that change what a relay sends it.</summary>
[Flags]
public enum NextHopExtensions
{
    /// <summary>None of them (or a server that does not speak ESMTP).</summary>
    None = 0,

    /// <summary>RFC 1870 SIZE.</summary>
    Size = 1,

    /// <summary>RFC 6152 8BITMIME.</summary>
    EightBitMime = 2,

    /// <summary>RFC 3461 DSN.</summary>
    Dsn = 4,

    /// <summary>RFC 6531 SMTPUTF8.</summary>
    SmtpUtf8 = 8,
}
