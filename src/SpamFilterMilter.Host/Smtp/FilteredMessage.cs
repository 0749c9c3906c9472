using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Smtp;

/// <summary>
/// A message at the end of DATA, once the filter has decided: what the server answers the client, what becomes of the
/// message, and the message and envelope with the filter's edits applied.
/// </summary>
/// <param name="Answer">What to answer the final dot: proceed ("250 queued") or the refusal.</param>
/// <param name="Disposition">Deliver, quarantine (hold), discard, reject or tempfail.</param>
/// <param name="Envelope">The envelope after the filter's edits (sender and recipients with their ESMTP parameters).</param>
/// <param name="Message">The message after the filter's edits, the server's own trace field included.</param>
/// <param name="Verdict">The filter's verdict as it came.</param>
public sealed record FilteredMessage(SmtpAnswer Answer, Disposition Disposition, Envelope Envelope, byte[] Message, FilterVerdict Verdict);
