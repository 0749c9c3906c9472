namespace SpamFilterMilter.Testing.Smtp;

/// <summary>
/// What an SMTP client says in one session: EHLO, then transactions. Arguments are written as they go on the wire
/// after <c>MAIL FROM:</c> and <c>RCPT TO:</c> (path and ESMTP parameters); the message is the DATA content before
/// dot-stuffing, CRLF line ends.
/// </summary>
public sealed record SmtpDialogue(string Helo, IReadOnlyList<SmtpTransaction> Transactions);

/// <summary>
/// One transaction: EHLO again first when <see cref="EhloBefore"/> names a host, MAIL, each RCPT, then DATA (sent when
/// MAIL was accepted, even with no recipient accepted, to see the server refuse it; not when <see cref="Message"/> is
/// null: the client gives up before DATA) and the message when DATA is accepted. <see cref="ResetAfter"/> sends RSET
/// after it.
/// </summary>
public sealed record SmtpTransaction(string MailArguments, IReadOnlyList<string> RcptArguments, byte[]? Message, bool ResetAfter = false, string? EhloBefore = null);

/// <summary>One command and the server's reply: code and text lines (enhanced code included, as the server wrote them).</summary>
public sealed record SmtpExchange(string Command, int Code, IReadOnlyList<string> Lines)
{
    public override string ToString() => $"{Command} -> {Code} {string.Join(" / ", Lines)}";
}
