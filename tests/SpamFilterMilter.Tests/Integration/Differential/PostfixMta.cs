using SpamFilterMilter.Testing.Postfix;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>Plays a dialogue to the private Postfix instance and reads what its smtp-sink received.</summary>
internal static class PostfixMta
{
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(30);

    public static async Task<MtaRun> RunAsync(PostfixInstance postfix, SmtpDialogue dialogue)
    {
        var exchanges = await SmtpScriptClient.RunAsync(postfix.SmtpPort, dialogue);
        var deliveries = new List<Delivery>();
        foreach (var exchange in exchanges.Where(e => e.Command == "<message>" && e.Code == 250))
        {
            var queueId = PostfixInstance.QueueIdOf(string.Join(' ', exchange.Lines))
                ?? throw new InvalidOperationException($"no queue id in {exchange}");
            if (await postfix.WaitUntilSettledAsync(queueId, SettleTimeout))
            {
                deliveries.Add(new Delivery(Fate.Held));
                continue;
            }

            var dump = SmtpSink.DumpsIn(postfix.SinkFolder).Select(SinkDump.Read)
                .FirstOrDefault(d => OwnTraceField(d.Message, queueId));
            deliveries.Add(dump is null
                ? new Delivery(Fate.Dropped)
                : new Delivery(Fate.Delivered, dump.MailArgs, dump.RcptArgs, dump.MessageWithout(field => IsOwn(field, queueId))));
        }

        return new MtaRun([.. exchanges.Select(MtaRun.Outcome)], deliveries);
    }

    /// <summary>True for Postfix's own Received field of the message it queued as <paramref name="queueId"/>.</summary>
    private static bool IsOwn(string field, string queueId) =>
        field.Contains($"by {PostfixInstance.HostName} (Postfix)", StringComparison.Ordinal) && field.Contains($"id {queueId}", StringComparison.Ordinal);

    private static bool OwnTraceField(byte[] message, string queueId) =>
        System.Text.Encoding.Latin1.GetString(message).Contains($"(Postfix) with ESMTP id {queueId}", StringComparison.Ordinal);
}
