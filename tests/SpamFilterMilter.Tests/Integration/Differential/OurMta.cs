using System.Globalization;
using SpamFilterMilter.Host.Editing;
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
        var run = new Run(sink);
        await using var session = new SmtpFilterSession(plugin.OpenSession(), PostfixInstance.HostName);
        if (run.Closes("connect", await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 40000)), 220)
            || run.Closes("EHLO " + dialogue.Helo, await session.HeloAsync(dialogue.Helo), 250))
        {
            return run.Result;
        }

        foreach (var transaction in dialogue.Transactions)
        {
            if (await run.ClosesInAsync(session, dialogue.Helo, transaction))
            {
                return run.Result;
            }
        }

        await session.CloseAsync();
        run.Closes("QUIT", SmtpAnswer.Proceed, 221);
        return run.Result;
    }

    /// <summary>The outcomes and deliveries of one dialogue so far.</summary>
    private sealed class Run(SmtpSink sink)
    {
        private readonly List<string> _outcomes = [];
        private readonly List<Delivery> _deliveries = [];
        private readonly HashSet<string> _seen = new(SmtpSink.DumpsIn(sink.Folder));

        public MtaRun Result => new(_outcomes, _deliveries);

        /// <summary>Records the answer to <paramref name="command"/> as the client would see it; true when it closes the session.</summary>
        public bool Closes(string command, SmtpAnswer answer, int proceedCode)
        {
            _outcomes.Add(answer.Refusal is { } refusal
                ? MtaRun.Outcome(new SmtpExchange(command, refusal.Code, [.. refusal.ToString().Split("\r\n").Select(line => line.Length > 4 ? line[4..] : string.Empty)]))
                : MtaRun.Outcome(new SmtpExchange(command, proceedCode, [])));
            return answer.ClosesSession;
        }

        /// <summary>One transaction as <see cref="SmtpScriptClient"/> plays it; true when the session was closed in it.</summary>
        public async Task<bool> ClosesInAsync(SmtpFilterSession session, string helo, SmtpTransaction transaction)
        {
            if (transaction.EhloBefore is { } ehlo && Closes("EHLO " + ehlo, await session.HeloAsync(ehlo), 250))
            {
                return true;
            }

            var (sender, senderParameters) = EnvelopeArgument.Parse(transaction.MailArguments);
            var mail = await session.MailAsync(sender, senderParameters);
            if (Closes("MAIL FROM:" + transaction.MailArguments, mail, 250))
            {
                return true;
            }

            if (!mail.IsRefused && await ClosesInEnvelopeAsync(session, helo, transaction))
            {
                return true;
            }

            if (transaction.ResetAfter)
            {
                await session.ResetAsync();
                Closes("RSET", SmtpAnswer.Proceed, 250);
            }

            return false;
        }

        private async Task<bool> ClosesInEnvelopeAsync(SmtpFilterSession session, string helo, SmtpTransaction transaction)
        {
            foreach (var rcpt in transaction.RcptArguments)
            {
                var (recipient, parameters) = EnvelopeArgument.Parse(rcpt);
                if (Closes("RCPT TO:" + rcpt, await session.RcptAsync(recipient, parameters), 250))
                {
                    return true;
                }
            }

            if (transaction.Message is null)
            {
                return false; // the client gives up before DATA
            }

            var data = await session.DataAsync();
            if (Closes("DATA", data, 354) || data.IsRefused)
            {
                return data.ClosesSession;
            }

            var queueId = Interlocked.Increment(ref s_queueIds).ToString("X8", CultureInfo.InvariantCulture);
            var result = await session.MessageAsync(new MemoryStream(transaction.Message), TraceField(helo, queueId));
            if (Closes("<message>", result.Answer, 250))
            {
                return true;
            }

            if (!result.Answer.IsRefused)
            {
                _deliveries.Add(await DeliverAsync(sink, _seen, result, queueId));
            }

            return false;
        }
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
                    try
                    {
                        await NextHopClient.DeliverAsync(new IPEndPoint(IPAddress.Loopback, sink.Port), PostfixInstance.HostName, result.Envelope, result.Message, cancellationToken: timeout.Token);
                    }
                    catch (NextHopException)
                    {
                        return new Delivery(Fate.Bounced); // where Postfix would return it to its sender
                    }
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
}
