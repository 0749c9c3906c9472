using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SpamFilterMilter.Host.Smtp;

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
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new StreamReader(stream, Encoding.Latin1);

        async Task<SmtpExchange> Say(string command, byte[]? raw = null)
        {
            if (raw is not null)
            {
                await stream.WriteAsync(raw, cancellationToken);
            }
            else if (command != "connect")
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), cancellationToken);
            }

            var lines = new List<string>();
            int code;
            while (true)
            {
                var line = await reader.ReadLineAsync(cancellationToken) ?? throw new IOException($"the server closed the connection after {command}");
                code = int.Parse(line.AsSpan(0, 3), CultureInfo.InvariantCulture);
                lines.Add(line.Length > 4 ? line[4..] : string.Empty);
                if (line.Length < 4 || line[3] != '-')
                {
                    break;
                }
            }

            var exchange = new SmtpExchange(command, code, lines);
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

                    if (data.Code == 354 && (await Say("<message>", NextHopClient.DotStuffed(message))).Code == 421)
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
