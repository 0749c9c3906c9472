using System.Globalization;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// The ESMTP parameters a client may give MAIL and RCPT, checked as Postfix 3.7's smtpd checks them (smtpd.c
/// <c>mail_cmd</c>, <c>rcpt_cmd</c>), after the command's order and before the filter hears of it, with Postfix's replies
/// (each proved by the Postfix differential). A keyword is read in any case. MAIL takes <c>BODY=7BIT|8BITMIME</c>,
/// <c>SIZE=</c>digits of a number that fits in 63 bits, <c>SMTPUTF8</c> (no value), one <c>AUTH=</c> (any number of
/// <c>AUTH=&lt;&gt;</c> before it), and one each of <c>RET=FULL|HDRS</c> and <c>ENVID=</c>xtext of printable text; RCPT one
/// each of <c>NOTIFY=</c> (NEVER, or SUCCESS, FAILURE, DELAY) and <c>ORCPT=</c>type;xtext. Anything else, a known keyword
/// without its value too, is an unsupported option. The value rules are the ones a milter's envelope edits are held to
/// (<see cref="EnvelopeParameters"/>), so only what a next hop can take is ever passed on (<see cref="NextHopEnvelope"/>).
/// Each command is checked on its own: Postfix also keeps the <c>AUTH=</c> of a MAIL it refused for a later parameter,
/// and refuses the next MAIL's <c>AUTH=</c> as a second, until RSET or HELO (docs/smtp.md); that is not followed.
/// <para>
/// <see cref="SmtpFilterSession"/> checks them itself; a host that refuses recipients for reasons of its own (a recipient
/// limit, a relay restriction) checks them first, as Postfix does, to give the same reply where both apply.
/// </para>
/// </summary>
public static class ClientParameters
{
    private static readonly SmtpReply BadSize = new(501, "5.5.4", "Bad message size syntax");

    // smtpd.c mail_cmd: a SIZE= that off_cvt_string cannot hold in an off_t (64 bits, signed, on Linux).
    private static readonly SmtpReply SizeOverflow = new(552, "5.3.4", "Message size exceeds file system imposed limit");

    // smtpd_sasl_proto.c smtpd_sasl_mail_opt: an AUTH= after one whose value was not <> (which it does not keep).
    private static readonly SmtpReply SecondAuth = new(503, "5.5.4", "Error: multiple AUTH= options");

    // smtpd.c mail_cmd: a SIZE= over message_size_limit, after every parameter was read.
    private static readonly SmtpReply SizeOverLimit = new(552, "5.3.4", "Message size exceeds fixed limit");

    private static readonly SmtpReply BadRet = new(501, "5.5.4", "Bad RET parameter syntax");
    private static readonly SmtpReply BadEnvid = new(501, "5.5.4", "Bad ENVID parameter syntax");
    private static readonly SmtpReply BadNotify = new(501, "5.5.4", "Error: Bad NOTIFY parameter syntax");
    private static readonly SmtpReply BadOrcpt = new(501, "5.5.4", "Error: Bad ORCPT parameter syntax");

    /// <summary>
    /// Postfix's refusal of MAIL's <paramref name="parameters"/> (the first one it finds wrong, in order), then of a
    /// <c>SIZE=</c> over <paramref name="sizeLimit"/> (the last SIZE= given, as Postfix keeps the last; 0 for no limit:
    /// <c>552 5.3.4 Message size exceeds fixed limit</c>); null when it takes them.
    /// </summary>
    public static SmtpReply? MailRefusal(IReadOnlyList<string> parameters, long sizeLimit = 0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        bool ret = false, envid = false, auth = false;
        var size = 0L;
        foreach (var parameter in parameters)
        {
            if (HoldsLineEnd(parameter))
            {
                return Unsupported(parameter);
            }

            var (keyword, value) = EsmtpParameters.KeywordAndValue(parameter);
            switch (keyword.ToUpperInvariant())
            {
                case "BODY" when value is not null && (Is(value, "7BIT") || Is(value, "8BITMIME")):
                case "SMTPUTF8" when value is null:
                    break;
                case "AUTH" when value is not null:
                    if (auth)
                    {
                        return SecondAuth;
                    }

                    auth = value != "<>";
                    break;
                case "SIZE" when value is not null:
                    if (value.Length == 0 || !value.All(char.IsAsciiDigit))
                    {
                        return BadSize;
                    }

                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out size))
                    {
                        return SizeOverflow;
                    }

                    break;
                case "RET" when value is not null:
                    if (ret || !EnvelopeParameters.IsRet(value))
                    {
                        return BadRet;
                    }

                    ret = true;
                    break;
                case "ENVID" when value is not null:
                    // smtpd.c mail_cmd refuses an empty value before it unquotes one (xtext, which may be empty).
                    if (envid || value.Length == 0 || !EnvelopeParameters.IsEnvid(value))
                    {
                        return BadEnvid;
                    }

                    envid = true;
                    break;
                default:
                    return Unsupported(parameter);
            }
        }

        return sizeLimit > 0 && size > sizeLimit ? SizeOverLimit : null;
    }

    /// <summary>Postfix's refusal of RCPT's <paramref name="parameters"/> (the first one it finds wrong, in order); null when it takes them.</summary>
    public static SmtpReply? RcptRefusal(IReadOnlyList<string> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        bool notify = false, orcpt = false;
        foreach (var parameter in parameters)
        {
            if (HoldsLineEnd(parameter))
            {
                return Unsupported(parameter);
            }

            var (keyword, value) = EsmtpParameters.KeywordAndValue(parameter);
            switch (keyword.ToUpperInvariant())
            {
                case "NOTIFY" when value is not null:
                    if (notify || !EnvelopeParameters.IsNotify(value))
                    {
                        return BadNotify;
                    }

                    notify = true;
                    break;
                case "ORCPT" when value is not null:
                    if (orcpt || !EnvelopeParameters.IsOrcpt(value))
                    {
                        return BadOrcpt;
                    }

                    orcpt = true;
                    break;
                default:
                    return Unsupported(parameter);
            }
        }

        return null;
    }

    /// <summary>
    /// A CR, an LF or a NUL in a parameter, which no parameter Postfix reads can hold (its command line ends at them): a
    /// host's caller may hand in any text, and none of it may reach a milter's or a next hop's command.
    /// </summary>
    private static bool HoldsLineEnd(string parameter) => parameter.AsSpan().ContainsAny('\r', '\n', '\0');

    private static bool Is(string value, string word) => value.Equals(word, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Postfix's reply, which names the parameter as the client sent it, its control bytes too: Postfix 3.7.11 answers
    /// <c>X</c>, 0x01, <c>Y=1</c> with those three bytes (seen on the wire; a terminal shows <c>XY=1</c>). A CR, an LF or
    /// a NUL, which no parameter Postfix reads can hold (its command line ends at them, and its words at CR), is left out:
    /// a host's caller may hand in any text, and the reply must stay one line. Logs quote it (LogText).
    /// </summary>
    private static SmtpReply Unsupported(string parameter) =>
        new(555, "5.5.4", "Unsupported option: " + string.Concat(parameter.Where(c => c is not ('\r' or '\n' or '\0'))));
}
