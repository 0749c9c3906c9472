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
        return [.. sessions.Select(exchanges => new MtaRun([.. exchanges.Select(MtaRun.Outcome)],
            [.. exchanges.Where(e => e.Command == "<message>" && e.Code == 250).Select(exchange =>
            {
                var queueId = PostfixInstance.QueueIdOf(string.Join(' ', exchange.Lines))
                    ?? throw new InvalidOperationException($"no queue id in {exchange}");
                if (postfix.IsHeld(queueId))
                {
                    return new Delivery(Fate.Held);
                }

                var own = OwnTraceField(queueId);
                var dump = dumps.FirstOrDefault(d => own.IsMatch(d.Text)).Dump;
                return dump is null
                    ? new Delivery(Fate.Dropped)
                    : new Delivery(Fate.Delivered, dump.MailArgs, dump.RcptArgs, dump.MessageWithout(own.IsMatch));
            })]))];
    }

    /// <summary>Postfix's own Received field of the message it queued as <paramref name="queueId"/> (with ESMTP, or UTF8SMTP after SMTPUTF8).</summary>
    private static Regex OwnTraceField(string queueId) =>
        new($@"by {Regex.Escape(PostfixInstance.HostName)} \(Postfix\) with [A-Z0-9]+ id {Regex.Escape(queueId)}\b", RegexOptions.CultureInvariant);
}
