namespace SpamFilterMilter.Host.Sieve;

/// <summary>How a script left the message.</summary>
public enum SieveDisposition
{
    /// <summary>Delivered: to the inbox when <see cref="SieveOutcome.Keep"/>, to each folder and each redirect address.</summary>
    Deliver,

    /// <summary><c>discard</c> and nothing kept, filed or redirected: silently dropped.</summary>
    Discard,

    /// <summary><c>reject</c>, or <c>ereject</c> with a 5xx reply: refused permanently.</summary>
    Reject,

    /// <summary><c>tempfail</c>, or <c>ereject</c> with a 4xx reply: refused for now; the sender retries.</summary>
    TempFail,
}
