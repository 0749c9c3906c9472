using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Relay;

/// <summary>
/// What the relay answers the client's final dot once the slots have run, and what it then hands on. SMTP gives the
/// message one reply, while the host library gives one result per group of recipients:
/// <list type="bullet">
/// <item>a group refused for now (tempfail, the directory down): that reply, and nothing is handed on, so the client
/// retries every recipient later and none gets the message twice;</item>
/// <item>every group refused: the first refusal;</item>
/// <item>otherwise the message is accepted: the groups delivered or held are handed on, a discarded one dropped, and a
/// group refused (a recipient a slot refused, <c>rejectrecipient</c>) is lost: the relay keeps no queue and writes no
/// bounce, so it is logged (docs/relay.md).</item>
/// </list>
/// </summary>
internal sealed record RelayOutcome(SmtpReply? Refusal, IReadOnlyList<DeliveryResult> Accepted, IReadOnlyList<DeliveryResult> Lost)
{
    public static RelayOutcome Of(HostResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var refused = result.Deliveries.Where(d => d.Disposition is Disposition.Reject or Disposition.TempFail).ToList();
        var accepted = result.Deliveries.Where(d => d.Disposition is Disposition.Deliver or Disposition.Quarantine or Disposition.Discard).ToList();
        if (refused.FirstOrDefault(d => d.Disposition == Disposition.TempFail) is { } later)
        {
            return new RelayOutcome(later.Reply ?? SmtpReply.DefaultTempFail, [], []);
        }

        if (accepted.Count == 0 && refused.Count > 0)
        {
            return new RelayOutcome(refused[0].Reply ?? SmtpReply.DefaultReject, [], []);
        }

        return new RelayOutcome(null, accepted, refused);
    }
}
