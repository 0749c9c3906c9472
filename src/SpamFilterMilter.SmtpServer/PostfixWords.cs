using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer;

/// <summary>Where a session is, as Postfix's replies to a command out of order or malformed depend on it.</summary>
/// <param name="InTransaction">A MAIL was taken and its message has not ended (by its final dot, RSET or HELO).</param>
/// <param name="Recipients">The recipients taken in that transaction.</param>
/// <param name="Secure">TLS is up.</param>
/// <param name="TlsOffered">The server can start TLS (it has a certificate).</param>
/// <param name="Authenticated">The client authenticated.</param>
internal readonly record struct SessionPlace(bool InTransaction, int Recipients, bool Secure, bool TlsOffered, bool Authenticated);

/// <summary>
/// The replies the integration writes in Postfix's words, and SmtpServer 11.1.0's own replies made Postfix's: a client, a
/// log reader or a test suite written against Postfix reads the same reply for the same mistake. SmtpServer answers a
/// command out of order with its state machine's <c>501 expected NOOP/RSET/QUIT/RCPT, 19 retry(ies) remaining.</c> (501 is
/// a syntax error; a wrong order is 503), a line of a command it cannot read with <c>502 Unrecognized command</c> (its
/// parser runs before its state machine, where Postfix looks at the order first), and its 354, QUIT's 221 and STARTTLS's
/// 220 with its own words. Which of Postfix's replies a line gets follows from its command (<see cref="CommandLine.Verb"/>)
/// and where the session is (<see cref="SessionPlace"/>), in the order Postfix's smtpd checks them.
/// </summary>
internal static class PostfixWords
{
    /// <summary>Postfix's reply to a command line that is not UTF-8 (<see cref="CommandLineKind.NotUtf8"/>), whatever its command.</summary>
    public static readonly SmtpReply NotUtf8 = new(500, "5.5.2", "Error: bad UTF-8 syntax");

    /// <summary>The reply to an AUTH line too long (<see cref="CommandLineKind.AuthTooLong"/>): Postfix's words for its SASL limit.</summary>
    public static readonly SmtpReply AuthTooLong = new(500, "5.5.6", "SASL response limit exceeded");

    /// <summary>Postfix's reply to a command line without a word on it (<see cref="CommandLineKind.Blank"/>).</summary>
    public static readonly SmtpReply BadSyntax = new(500, "5.5.2", "Error: bad syntax");

    /// <summary>Postfix's reply to a command it was built without, here one SmtpServer does not serve (<see cref="CommandLineKind.NotImplemented"/>).</summary>
    public static readonly SmtpReply NotImplemented = new(502, "5.5.1", "Error: command not implemented");

    /// <summary>Postfix's last words to a BDAT it does not serve (<see cref="CommandLineKind.Bdat"/>); the session ends.</summary>
    public static readonly SmtpReply BdatNotImplemented = new(521, "5.5.1", "Error: command not implemented");

    /// <summary>Postfix's last words to a client that speaks no SMTP (<see cref="CommandLineKind.NotSmtp"/>); the session ends.</summary>
    public static readonly SmtpReply NotSmtp = new(221, "2.7.0", "Error: I can break rules, too. Goodbye.");

    /// <summary>
    /// Postfix's reply when its <c>extract_addr</c> fails on a MAIL's path, before it looks at the parameters: an address
    /// SmtpServer's parser cannot read, or text right after the path (<c>&lt;a@example.com&gt;x</c>,
    /// <see cref="CommandLineKind.MailTextAfterPath"/>), which that parser takes for a parameter.
    /// </summary>
    public static readonly SmtpReply BadSenderSyntax = new(501, "5.1.7", "Bad sender address syntax");

    /// <summary>
    /// The same for a RCPT's path, before its parameters and recipient limits are looked at (text right after the path:
    /// <see cref="CommandLineKind.RcptTextAfterPath"/>, which SmtpServer's parser drops).
    /// </summary>
    public static readonly SmtpReply BadRecipientSyntax = new(501, "5.1.3", "Bad recipient address syntax");

    /// <summary>Postfix's reply to an AUTH where it offers none (<see cref="CommandLineKind.AuthNotEnabled"/>).</summary>
    public static readonly SmtpReply AuthNotEnabled = new(503, "5.5.1", "Error: authentication not enabled");

    /// <summary>
    /// Postfix's reply to a VRFY (<see cref="CommandLineKind.Vrfy"/>): <c>252 2.0.0</c> and the address as the client wrote
    /// it (Postfix 3.7 checks nothing before it with <c>smtpd_delay_reject</c>, its default), or its syntax error without one.
    /// </summary>
    public static SmtpReply Vrfy(string address) =>
        address.Length == 0 ? new SmtpReply(501, "5.5.4", "Syntax: VRFY address [SMTPUTF8]") : new SmtpReply(252, "2.0.0", address);

    /// <summary>
    /// The reply to send for <paramref name="written"/>, a reply SmtpServer wrote on its own to <paramref name="line"/>
    /// at <paramref name="place"/>: Postfix's for the same case, or <paramref name="written"/> itself when there is nothing
    /// to change.
    /// </summary>
    public static ReadOnlyMemory<byte> ForOwnReply(ReadOnlyMemory<byte> written, CommandLine line, SessionPlace place)
    {
        var text = Encoding.ASCII.GetString(written.Span).TrimEnd('\r', '\n');
        if (text.Contains('\n', StringComparison.Ordinal))
        {
            return written; // several lines (EHLO's): none of the replies changed here
        }

        var reply = text.StartsWith("354 ", StringComparison.Ordinal) ? "354 End data with <CR><LF>.<CR><LF>"
            : text == "221 bye" && line.Verb == "QUIT" ? "221 2.0.0 Bye"
            : text.StartsWith("220 ", StringComparison.Ordinal) && line.Verb == "STARTTLS" ? "220 2.0.0 Ready to start TLS"
            : text.StartsWith("501 expected ", StringComparison.Ordinal) ? Refused(line, place, malformed: false)
            : text.StartsWith("502 Unrecognized command", StringComparison.Ordinal) ? Refused(line, place, malformed: true)
            : text;
        return reply == text ? written : Encoding.ASCII.GetBytes(reply + "\r\n");
    }

    /// <summary>
    /// Postfix's reply to <paramref name="line"/>, which SmtpServer refused at <paramref name="place"/>: out of order, or
    /// <paramref name="malformed"/> (its parser could not read it); the order first, as Postfix checks it.
    /// </summary>
    private static string Refused(CommandLine line, SessionPlace place, bool malformed) => line.Verb switch
    {
        // A MAIL, STARTTLS or AUTH before HELO and a HELO, EHLO or STARTTLS inside a transaction, which Postfix takes (without
        // smtpd_helo_required, its default) and SmtpServer's state machine does not, never come here: SmtpServer is given a
        // HELO or an RSET before them (FilteredSession.CommandBefore), and takes them as Postfix does.
        "MAIL" when place.InTransaction => SmtpFilterSession.NestedMail.ToString(),
        "MAIL" => line.PathGiven ? BadSenderSyntax.ToString() : "501 5.5.4 Syntax: MAIL FROM:<address>",
        "RCPT" when !place.InTransaction => SmtpFilterSession.NeedMail.ToString(),
        "RCPT" => line.PathGiven ? BadRecipientSyntax.ToString() : "501 5.5.4 Syntax: RCPT TO:<address>",
        "DATA" when !place.InTransaction => SmtpFilterSession.NeedRcpt.ToString(),
        "DATA" when place.Recipients == 0 => SmtpFilterSession.NoValidRecipients.ToString(),
        "STARTTLS" when malformed => "501 5.5.4 Syntax: STARTTLS",
        "STARTTLS" when place.Secure => "554 5.5.1 Error: TLS already active",
        "STARTTLS" when !place.TlsOffered => NotImplemented.ToString(),
        "AUTH" when place.Authenticated => "503 5.5.1 Error: already authenticated",
        "AUTH" when place.InTransaction => "503 5.5.1 Error: MAIL transaction in progress",
        "AUTH" when malformed => "501 5.5.4 Syntax: AUTH mechanism",
        "HELO" or "EHLO" when malformed => $"501 Syntax: {line.Verb} hostname",
        "RSET" or "DATA" when malformed => $"501 5.5.4 Syntax: {line.Verb}",
        null => SmtpFilterSession.CommandNotRecognized.ToString(),
        _ => "503 5.5.1 Error: bad sequence of commands",
    };
}
