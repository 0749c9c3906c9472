using System.Text;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// SmtpServer 11.1.0's own replies in Postfix's words: a client, a log reader or a test suite written against Postfix
/// reads the same reply for the same mistake. SmtpServer answers a command out of order with its state machine's
/// <c>501 expected NOOP/RSET/QUIT/RCPT</c> (501 is a syntax error; a wrong order is 503), a line its parser cannot read with
/// <c>502 Unrecognized command</c>, each with <c>, 19 retry(ies) remaining.</c> after it, and its 354 and QUIT's 221 with
/// its own words.
/// What SmtpServer's state machine expects tells where the session is (before HELO, between messages, inside a
/// transaction), and the line's command (<see cref="CommandLine.Verb"/>) which of Postfix's replies it gets.
/// </summary>
internal static class PostfixWords
{
    /// <summary>What the state machine writes before the commands it would take now.</summary>
    private const string Expected = "501 expected ";

    /// <summary>What the parser writes for a line it cannot read (SmtpServer's <c>CommandNotImplemented</c>).</summary>
    private const string Unrecognized = "502 Unrecognized command";

    /// <summary>What SmtpServer writes after each error reply of its own (<c>SmtpSession.CreateErrorResponse</c>).</summary>
    private const string RetriesSuffix = " retry(ies) remaining.";

    /// <summary>
    /// The reply to send for <paramref name="written"/>, a reply SmtpServer wrote on its own to <paramref name="line"/>:
    /// Postfix's for the same case, or SmtpServer's without its count of retries; <paramref name="written"/> itself when
    /// there is nothing to change. <paramref name="secure"/> and <paramref name="authenticated"/>: the session's TLS and
    /// AUTH, which tell Postfix's replies to a STARTTLS or AUTH SmtpServer would not take apart.
    /// </summary>
    public static ReadOnlyMemory<byte> ForOwnReply(ReadOnlyMemory<byte> written, CommandLine line, bool secure, bool authenticated)
    {
        var text = Encoding.ASCII.GetString(written.Span).TrimEnd('\r', '\n');
        if (text.Contains('\n', StringComparison.Ordinal))
        {
            return written; // several lines (EHLO's): none of the replies changed here
        }

        var reply = text.StartsWith("354 ", StringComparison.Ordinal) ? "354 End data with <CR><LF>.<CR><LF>"
            : text == "221 bye" ? "221 2.0.0 Bye" // QUIT's
            : text.StartsWith(Expected, StringComparison.Ordinal) ? OutOfOrder(line.Verb, ExpectedCommands(text), secure, authenticated)
            : text.StartsWith(Unrecognized, StringComparison.Ordinal) ? BadSyntax(line.Verb)
            : text.StartsWith("501 ", StringComparison.Ordinal) && line.Verb is "MAIL" or "RCPT" ? BadSyntax(line.Verb) // "missing the FROM:"
            : WithoutRetries(text);
        return reply == text ? written : Encoding.ASCII.GetBytes(reply + "\r\n");
    }

    /// <summary>The commands SmtpServer's state machine would take, from its reply (<c>NOOP/RSET/QUIT/RCPT</c>).</summary>
    private static string[] ExpectedCommands(string text)
    {
        var list = text[Expected.Length..];
        var comma = list.IndexOf(',', StringComparison.Ordinal);
        return (comma < 0 ? list : list[..comma]).Split('/');
    }

    /// <summary>
    /// Postfix's reply to <paramref name="verb"/> where SmtpServer's state machine took only <paramref name="expected"/>:
    /// before HELO (it would take HELO and not MAIL), between messages (MAIL) or inside a transaction (RCPT).
    /// </summary>
    private static string OutOfOrder(string? verb, string[] expected, bool secure, bool authenticated)
    {
        var inTransaction = expected.Contains("RCPT");
        var beforeHelo = !inTransaction && !expected.Contains("MAIL");
        return verb switch
        {
            "MAIL" => inTransaction ? SmtpFilterSession.NestedMail.ToString() : "503 5.5.1 Error: send HELO/EHLO first",
            "RCPT" => SmtpFilterSession.NeedMail.ToString(),
            "DATA" => (inTransaction ? SmtpFilterSession.NoValidRecipients : SmtpFilterSession.NeedRcpt).ToString(),
            // Postfix takes a HELO or EHLO inside a transaction and ends the transaction; SmtpServer's state machine does not.
            "HELO" or "EHLO" or "STARTTLS" or "AUTH" when inTransaction => "503 5.5.1 Error: MAIL transaction in progress",
            "AUTH" when beforeHelo => "503 5.5.1 Error: send HELO/EHLO first",
            "AUTH" => authenticated ? "503 5.5.1 Error: already authenticated" : "503 5.5.1 Error: authentication not enabled",
            "STARTTLS" when secure => "554 5.5.1 Error: TLS already active",
            "STARTTLS" when beforeHelo => "503 5.5.1 Error: send HELO/EHLO first",
            "STARTTLS" => "502 5.5.1 Error: command not implemented",
            _ => "503 5.5.1 Error: bad sequence of commands",
        };
    }

    /// <summary>Postfix's reply to a line of <paramref name="verb"/> SmtpServer's parser could not read.</summary>
    private static string BadSyntax(string? verb) => verb switch
    {
        "MAIL" => "501 5.5.4 Syntax: MAIL FROM:<address>",
        "RCPT" => "501 5.5.4 Syntax: RCPT TO:<address>",
        "HELO" => "501 Syntax: HELO hostname",
        "EHLO" => "501 Syntax: EHLO hostname",
        "RSET" or "DATA" or "STARTTLS" => $"501 5.5.4 Syntax: {verb}",
        "AUTH" => "501 5.5.4 Syntax: AUTH mechanism",
        _ => SmtpFilterSession.CommandNotRecognized.ToString(),
    };

    /// <summary><paramref name="text"/> without SmtpServer's count of the retries left, which Postfix never gives.</summary>
    private static string WithoutRetries(string text)
    {
        if (!text.EndsWith(RetriesSuffix, StringComparison.Ordinal))
        {
            return text;
        }

        var comma = text.LastIndexOf(", ", StringComparison.Ordinal);
        return comma < 0 ? text : text[..comma];
    }
}
