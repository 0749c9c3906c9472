using System.Globalization;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// Our side: the same dialogue through the plug-in (loaded by path, one filter session per SMTP session) and the host
/// library's <see cref="SmtpFilterSession"/>, each accepted message handed to our own smtp-sink by
/// <see cref="NextHopClient"/>. It answers each command the way <see cref="SmtpScriptClient"/> records Postfix's
/// answers, so that the two runs compare line by line.
/// </summary>
internal static class OurMta
{
    private static int s_queueIds;

    public static async Task<MtaRun> RunAsync(ISpamFilterPlugin plugin, SmtpSink sink, SmtpDialogue dialogue)
    {
        var outcomes = new List<string>();
        var deliveries = new List<Delivery>();
        var seen = new HashSet<string>(SmtpSink.DumpsIn(sink.Folder));
        await using var session = new SmtpFilterSession(plugin.OpenSession(), PostfixInstance.HostName);

        bool Record(string command, SmtpAnswer answer, int proceedCode)
        {
            outcomes.Add(answer.Refusal is { } refusal
                ? MtaRun.Outcome(new SmtpExchange(command, refusal.Code, [.. refusal.ToString().Split("\r\n").Select(line => line.Length > 4 ? line[4..] : string.Empty)]))
                : MtaRun.Outcome(new SmtpExchange(command, proceedCode, [])));
            return answer.ClosesSession;
        }

        var greeting = await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000));
        if (Record("connect", greeting, 220) || Record("EHLO " + dialogue.Helo, await session.HeloAsync(dialogue.Helo), 250))
        {
            return new MtaRun(outcomes, deliveries);
        }

        foreach (var transaction in dialogue.Transactions)
        {
            var (sender, senderParameters) = Split(transaction.MailArguments);
            var mail = await session.MailAsync(sender, senderParameters);
            if (Record("MAIL FROM:" + transaction.MailArguments, mail, 250))
            {
                return new MtaRun(outcomes, deliveries);
            }

            if (!mail.IsRefused)
            {
                foreach (var rcpt in transaction.RcptArguments)
                {
                    var (recipient, parameters) = Split(rcpt);
                    if (Record("RCPT TO:" + rcpt, await session.RcptAsync(recipient, parameters), 250))
                    {
                        return new MtaRun(outcomes, deliveries);
                    }
                }

                var data = await session.DataAsync();
                if (Record("DATA", data, 354))
                {
                    return new MtaRun(outcomes, deliveries);
                }

                if (!data.IsRefused)
                {
                    var queueId = Interlocked.Increment(ref s_queueIds).ToString("X8", CultureInfo.InvariantCulture);
                    var result = await session.MessageAsync(new MemoryStream(transaction.Message), TraceField(dialogue.Helo, queueId));
                    if (Record("<message>", result.Answer, 250))
                    {
                        return new MtaRun(outcomes, deliveries);
                    }

                    if (!result.Answer.IsRefused)
                    {
                        deliveries.Add(await DeliverAsync(sink, seen, result, queueId));
                    }
                }
            }

            if (transaction.ResetAfter)
            {
                await session.ResetAsync();
                Record("RSET", SmtpAnswer.Proceed, 250);
            }
        }

        await session.CloseAsync();
        Record("QUIT", SmtpAnswer.Proceed, 221);
        return new MtaRun(outcomes, deliveries);
    }

    private static async Task<Delivery> DeliverAsync(SmtpSink sink, HashSet<string> seen, FilteredMessage result, string queueId)
    {
        switch (result.Disposition)
        {
            case Host.Running.Disposition.Quarantine:
                return new Delivery(Fate.Held);
            case Host.Running.Disposition.Deliver:
                using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
                {
                    await NextHopClient.DeliverAsync(new IPEndPoint(IPAddress.Loopback, sink.Port), PostfixInstance.HostName, result.Envelope, result.Message, timeout.Token);
                }

                var dump = await SmtpSink.WaitForNewDumpAsync(sink.Folder, seen, TimeSpan.FromSeconds(10));
                return new Delivery(Fate.Delivered, dump.MailArgs, dump.RcptArgs,
                    dump.MessageWithout(field => field.Contains($"(SpamFilterMilter) with ESMTP id {queueId}", StringComparison.Ordinal)));
            default:
                return new Delivery(Fate.Dropped);
        }
    }

    /// <summary>Our own Received field, as Postfix writes its own (the milter never sees it).</summary>
    private static byte[] TraceField(string helo, string queueId) => Encoding.ASCII.GetBytes(
        $"Received: from {helo} (unknown [127.0.0.1])\r\n\tby {PostfixInstance.HostName} (SpamFilterMilter) with ESMTP id {queueId};\r\n"
        + $"\t{DateTimeOffset.UtcNow.ToString("ddd, d MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)} (UTC)\r\n");

    /// <summary>"&lt;path&gt; P1 P2" → path and parameters.</summary>
    private static (string Path, IReadOnlyList<string> Parameters) Split(string arguments)
    {
        var close = arguments.IndexOf('>', StringComparison.Ordinal);
        var path = close < 0 ? arguments.Split(' ')[0] : arguments[..(close + 1)];
        return (path, arguments[path.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }
}
