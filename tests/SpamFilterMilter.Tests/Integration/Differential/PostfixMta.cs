using System.Text.RegularExpressions;
using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>Plays dialogues to the private Postfix instance and reads what its smtp-sink received.</summary>
internal static partial class PostfixMta
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);

    public static async Task<MtaRun> RunAsync(PostfixInstance postfix, SmtpDialogue dialogue) => (await RunAllAsync(postfix, [dialogue]))[0];

    /// <summary>
    /// Plays each dialogue in turn (one SMTP session each), waits until Postfix has finished with every message, then
    /// reads each message's fate: held (in the hold queue), delivered (the sink dump whose header holds Postfix's own
    /// Received field with its queue id; a bounce holds it further down), bounced (its log says so), or dropped.
    /// </summary>
    public static async Task<IReadOnlyList<MtaRun>> RunAllAsync(PostfixInstance postfix, IReadOnlyList<SmtpDialogue> dialogues)
    {
        var sessions = new List<IReadOnlyList<SmtpExchange>>();
        foreach (var dialogue in dialogues)
        {
            sessions.Add(await SmtpScriptClient.RunAsync(postfix.SmtpPort, dialogue));
        }

        await postfix.WaitUntilQueueEmptyAsync(SettleTimeout);
        var dumps = new Dictionary<string, SinkDump>(StringComparer.Ordinal);
        foreach (var dump in SmtpSink.DumpsIn(postfix.SinkFolder).Select(SinkDump.Read))
        {
            var text = Encoding.Latin1.GetString(dump.Message);
            var end = text.IndexOf("\n\n", StringComparison.Ordinal);
            var header = end < 0 ? text : text[..end];
            foreach (var id in OwnTraceFields().Matches(header).Select(match => match.Groups[1].Value))
            {
                dumps.TryAdd(id, dump);
            }
        }

        var runs = new List<MtaRun>();
        foreach (var exchanges in sessions)
        {
            var deliveries = new List<Delivery>();
            foreach (var exchange in exchanges.Where(e => e.Command == "<message>" && e.Code == 250))
            {
                var queueId = PostfixInstance.QueueIdOf(string.Join(' ', exchange.Lines))
                    ?? throw new InvalidOperationException($"no queue id in {exchange}");
                deliveries.Add(postfix.IsHeld(queueId) ? new Delivery(Fate.Held)
                    : dumps.TryGetValue(queueId, out var dump) ? new Delivery(Fate.Delivered, dump.MailArgs, dump.RcptArgs, dump.MessageWithout(field => IsOwn(field, queueId)))
                    : await BouncedAsync(postfix, queueId) ? new Delivery(Fate.Bounced)
                    : new Delivery(Fate.Dropped));
            }

            runs.Add(new MtaRun([.. exchanges.Select(MtaRun.Outcome)], deliveries));
        }

        return runs;
    }

    /// <summary>
    /// True when the log says a delivery of the message failed for good; a line postlogd has not written yet when the
    /// queue is empty is waited for a moment (a message never relayed, discarded or without recipients, has none).
    /// </summary>
    private static async Task<bool> BouncedAsync(PostfixInstance postfix, string queueId)
    {
        for (var attempt = 0; attempt < 15 && !postfix.Log.Contains($"{queueId}: to=", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(20);
        }

        return Regex.IsMatch(postfix.Log, $@"\b{Regex.Escape(queueId)}: to=.*status=bounced");
    }

    /// <summary>True for Postfix's own Received field of the message it queued as <paramref name="queueId"/>.</summary>
    private static bool IsOwn(string field, string queueId) => OwnTraceFields().Match(field) is { Success: true } match && match.Groups[1].Value == queueId;

    /// <summary>Postfix's own Received fields (with ESMTP, or UTF8SMTP after SMTPUTF8), each with its queue id.</summary>
    [GeneratedRegex(@"by mta\.example \(Postfix\) with [A-Z0-9]+ id ([0-9A-Za-z]+)\b")]
    private static partial Regex OwnTraceFields();
}
