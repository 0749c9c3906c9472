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
/// (an unknown extension's parameter) stops here, as it does at Postfix. Each is written as Postfix writes what it kept
/// of it, not as the client wrote it: the keyword and the values of BODY, RET and NOTIFY in upper case (NOTIFY's words
/// in Postfix's order, once each: <c>notify=delay,success</c> goes on as <c>NOTIFY=SUCCESS,DELAY</c>), the xtext of
/// ENVID and of ORCPT's address decoded and encoded again (<c>envid=a+2bb</c> as <c>ENVID=a+2Bb</c>), ORCPT's address
/// type as xtext, and a <c>utf-8</c> one's address as RFC 6533 writes it; the last BODY= given. No value goes out with a
/// space or a control character in it (<see cref="Checked"/>).
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

        if (extensions.HasFlag(NextHopExtensions.EightBitMime) && ValueOf(parameters, "BODY") is { } body)
        {
            text.Append(" BODY=").Append(Checked("BODY", body.ToUpperInvariant()));
        }

        if (extensions.HasFlag(NextHopExtensions.Dsn))
        {
            if (ValueOf(parameters, "ENVID") is { } envid)
            {
                text.Append(" ENVID=").Append(Checked("ENVID", Xtext.Canonical(envid)));
            }

            if (ValueOf(parameters, "RET") is { } ret)
            {
                text.Append(" RET=").Append(Checked("RET", ret.ToUpperInvariant()));
            }
        }

        if (extensions.HasFlag(NextHopExtensions.SmtpUtf8) && Find(parameters, "SMTPUTF8") is not null)
        {
            text.Append(" SMTPUTF8");
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
            text.Append(" ORCPT=").Append(Checked("ORCPT", ValueOf(parameters, "ORCPT") is { } orcpt ? Orcpt(orcpt) : "rfc822;" + Xtext.Encode(MailPath.Bare(recipient.Address))));
            if (ValueOf(parameters, "NOTIFY") is { } notify)
            {
                text.Append(" NOTIFY=").Append(Checked("NOTIFY", EnvelopeParameters.CanonicalNotify(notify)));
            }
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

    /// <summary>
    /// The last parameter named <paramref name="keyword"/> (Postfix keeps the last BODY=; of the others a second is refused
    /// before); null when there is none.
    /// </summary>
    private static string? Find(IReadOnlyList<string> parameters, string keyword) =>
        parameters.LastOrDefault(p => EsmtpParameters.Keyword(p).Equals(keyword, StringComparison.OrdinalIgnoreCase));

    /// <summary>The value of <see cref="Find"/>'s parameter; null when there is none, or it has no value (<c>RET</c>, <c>RET=</c>).</summary>
    private static string? ValueOf(IReadOnlyList<string> parameters, string keyword) =>
        Find(parameters, keyword) is { } parameter && EsmtpParameters.KeywordAndValue(parameter).Value is { Length: > 0 } value ? value : null;

    /// <summary>
    /// ORCPT's value as Postfix writes it: its address type as xtext (Postfix 3.7 passed a type with a control byte,
    /// <c>x</c> 0x01 <c>y</c>, on as <c>x+01y</c>), then its address's xtext decoded and encoded again, or a <c>utf-8</c>
    /// one's as RFC 6533 writes it (<see cref="Xtext.CanonicalUtf8"/>).
    /// </summary>
    private static string Orcpt(string value)
    {
        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        if (semicolon < 0)
        {
            return value; // not one (EnvelopeParameters.IsOrcpt): Checked refuses what could harm
        }

        var (type, address) = (value[..semicolon], value[(semicolon + 1)..]);
        return Xtext.Encode(type) + ";" + (type.Equals("utf-8", StringComparison.OrdinalIgnoreCase) ? Xtext.CanonicalUtf8(address) : Xtext.Canonical(address));
    }

    /// <summary>
    /// A parameter's value as it goes on the wire: whatever made the envelope checked it, and every form above encodes what
    /// is not text; this is the last place before the wire, so a value with a space, a control character or DEL, which
    /// would start another parameter or end the command (SMTP command injection), is refused here too.
    /// </summary>
    private static string Checked(string keyword, string value) =>
        value.AsSpan().IndexOfAnyInRange('\0', ' ') >= 0 || value.Contains('\u007f', StringComparison.Ordinal)
            ? throw new FormatException($"the {keyword}= value {LogText.Quote(value)} would carry a space or a control character into an SMTP command")
            : value;
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
