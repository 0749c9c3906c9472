using System.Text.RegularExpressions;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>Plays dialogues to the private Postfix instance and reads what its smtp-sink received.</summary>
internal static class PostfixMta
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);

    public static async Task<MtaRun> RunAsync(PostfixInstance postfix, SmtpDialogue dialogue) => (await RunAllAsync(postfix, [dialogue]))[0];

    /// <summary>
    /// Plays each dialogue in turn (one SMTP session each), waits until Postfix has finished with every message, then
    /// reads each message's fate: held (in the hold queue), delivered (the sink dump that holds Postfix's own Received
    /// field with its queue id) or dropped (neither).
    /// </summary>
    public static async Task<IReadOnlyList<MtaRun>> RunAllAsync(PostfixInstance postfix, IReadOnlyList<SmtpDialogue> dialogues)
    {
        var sessions = new List<IReadOnlyList<SmtpExchange>>();
        foreach (var dialogue in dialogues)
        {
            sessions.Add(await SmtpScriptClient.RunAsync(postfix.SmtpPort, dialogue));
        }

        await postfix.WaitUntilQueueEmptyAsync(SettleTimeout);
        var dumps = SmtpSink.DumpsIn(postfix.SinkFolder).Select(SinkDump.Read).Select(dump => (Dump: dump, Text: Encoding.Latin1.GetString(dump.Message))).ToList();
        await Task.Delay(50); // the last lines postlogd writes (a bounce's) may come a moment after the queue is empty
        var log = postfix.Log;
        return [.. sessions.Select(exchanges => new MtaRun([.. exchanges.Select(MtaRun.Outcome)],
            [.. exchanges.Where(e => e.Command == "<message>" && e.Code == 250).Select(exchange =>
            {
                var queueId = PostfixInstance.QueueIdOf(string.Join(' ', exchange.Lines))
                    ?? throw new InvalidOperationException($"no queue id in {exchange}");
                if (postfix.IsHeld(queueId))
                {
                    return new Delivery(Fate.Held);
                }

                // Postfix's own trace field in the dump's header section (a bounce holds it further down).
                var own = OwnTraceField(queueId);
                var dump = dumps.Select(d => d.Dump).FirstOrDefault(d => d.MessageWithout(own.IsMatch).Length != d.Message.Length);
                return dump is not null ? new Delivery(Fate.Delivered, dump.MailArgs, dump.RcptArgs, dump.MessageWithout(own.IsMatch))
                    : log.Contains($"{queueId}: to=", StringComparison.Ordinal) && Bounced(queueId).IsMatch(log) ? new Delivery(Fate.Bounced)
                    : new Delivery(Fate.Dropped);
            })]))];
    }

    /// <summary>The log line of a delivery to the message's next hop that failed for good.</summary>
    private static Regex Bounced(string queueId) => new($@"\b{Regex.Escape(queueId)}: to=.*status=bounced", RegexOptions.CultureInvariant);

    /// <summary>Postfix's own Received field of the message it queued as <paramref name="queueId"/> (with ESMTP, or UTF8SMTP after SMTPUTF8).</summary>
    private static Regex OwnTraceField(string queueId) =>
        new($@"by {Regex.Escape(PostfixInstance.HostName)} \(Postfix\) with [A-Z0-9]+ id {Regex.Escape(queueId)}\b", RegexOptions.CultureInvariant);
}
