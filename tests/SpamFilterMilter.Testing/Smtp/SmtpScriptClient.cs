namespace SpamFilterMilter.Testing.Smtp;

/// <summary>
/// Plays an <see cref="SmtpDialogue"/> to an SMTP server with exact control of every byte (swaks cannot send RCPT
/// parameters), one command at a time, and returns each exchange. Stops after a 421.
/// </summary>
public static class SmtpScriptClient
{
    public static async Task<IReadOnlyList<SmtpExchange>> RunAsync(int port, SmtpDialogue dialogue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dialogue);
        var exchanges = new List<SmtpExchange>();
        await using var client = await SmtpLineClient.ConnectAsync(port, cancellationToken);

        async Task<SmtpExchange> Say(string command, byte[]? message = null)
        {
            var reply = command == "connect" ? client.Greeting
                : message is not null ? await client.SendMessageAsync(message, cancellationToken)
                : await client.SendAsync(command, cancellationToken);
            var exchange = new SmtpExchange(command, reply.Code, [.. reply.Lines.Select(line => line.Length > 4 ? line[4..] : string.Empty)]);
            exchanges.Add(exchange);
            return exchange;
        }

        if ((await Say("connect")).Code == 421 || (await Say("EHLO " + dialogue.Helo)).Code == 421)
        {
            return exchanges;
        }

        foreach (var transaction in dialogue.Transactions)
        {
            if (transaction.EhloBefore is { } ehlo && (await Say("EHLO " + ehlo)).Code == 421)
            {
                return exchanges;
            }

            var mail = await Say("MAIL FROM:" + transaction.MailArguments);
            if (mail.Code == 421)
            {
                return exchanges;
            }

            if (mail.Code / 100 == 2)
            {
                foreach (var rcpt in transaction.RcptArguments)
                {
                    if ((await Say("RCPT TO:" + rcpt)).Code == 421)
                    {
                        return exchanges;
                    }
                }

                if (transaction.Message is { } message)
                {
                    var data = await Say("DATA");
                    if (data.Code == 421)
                    {
                        return exchanges;
                    }

                    if (data.Code == 354 && (await Say("<message>", message)).Code == 421)
                    {
                        return exchanges;
                    }
                }
            }

            if (transaction.ResetAfter && (await Say("RSET")).Code == 421)
            {
                return exchanges;
            }
        }

        await Say("QUIT");
        return exchanges;
    }
}
