namespace SpamFilterMilter.Host.Running;

/// <summary>What becomes of a message (or of one group of its recipients).</summary>
public enum Disposition
{
    /// <summary>Deliver the edited message: to the inbox when <see cref="DeliveryResult.Keep"/>, to the folders and the redirect addresses.</summary>
    Deliver,

    /// <summary>Hold the edited message (<see cref="DeliveryResult.QuarantineReason"/> says why).</summary>
    Quarantine,

    /// <summary>Accept and drop silently.</summary>
    Discard,

    /// <summary>Refuse with the 5xx <see cref="DeliveryResult.Reply"/>.</summary>
    Reject,

    /// <summary>Refuse with the 4xx <see cref="DeliveryResult.Reply"/>: the sender retries.</summary>
    TempFail,
}
