using System.Diagnostics;

namespace SpamFilterMilter.Protocol.Session;

/// <summary>
/// The bound of each wait for the milter. A wait is bounded by the timeout of its kind, as Postfix's milter8 bounds
/// them: COMMAND_TIMEOUT for a command outside the message content (OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA, UNKNOWN,
/// ABORT), CONTENT_TIMEOUT for the content (headers, end of headers, body, end of message). Across a message
/// MESSAGE_TIMEOUT is a budget: the time the milter may take over one message, all its waits from MAIL to the verdict
/// added up (the host's own time between stages does not count; PROGRESS does not extend it). Outside a message each
/// event (OPTNEG, CONNECT, HELO, UNKNOWN) gets a budget of its own, so that endless PROGRESS cannot hold the session
/// there either. Each wait is bounded by its timeout or by what is left of the budget, whichever is less.
/// </summary>
internal sealed class MessageBudget(TimeSpan commandTimeout, TimeSpan contentTimeout, TimeSpan messageTimeout)
{
    private TimeSpan _left;
    private bool _running;
    private long _waitStarted;
    private bool _content; // the kind of the wait under way

    /// <summary>True when the budget, rather than the wait's timeout, bounds the wait under way.</summary>
    public bool BindsCurrentWait { get; private set; }

    /// <summary>Starts a full budget (a message, or one event outside a message).</summary>
    public void Start()
    {
        _left = messageTimeout;
        _running = true;
    }

    /// <summary>Stops counting (the message or the event ended).</summary>
    public void Stop() => _running = false;

    /// <summary>Starts one wait, for the content (<paramref name="content"/>) or a command; returns its bound (zero or less: the budget is used up).</summary>
    public TimeSpan BeginWait(bool content)
    {
        _content = content;
        var timeout = content ? contentTimeout : commandTimeout;
        BindsCurrentWait = _running && _left < timeout;
        _waitStarted = Stopwatch.GetTimestamp();
        return BindsCurrentWait ? _left : timeout;
    }

    /// <summary>Ends the wait begun last, charging its time to the budget.</summary>
    public void EndWait()
    {
        if (_running)
        {
            _left -= Stopwatch.GetElapsedTime(_waitStarted);
        }
    }

    /// <summary>Why a wait timed out, for the failure's cause: the option whose bound it was.</summary>
    public string DescribeTimeout() => BindsCurrentWait
        ? $"the milter used up the {Seconds(messageTimeout)} it may take over one message (MESSAGE_TIMEOUT)"
        : _content ? $"timed out after {Seconds(contentTimeout)} (CONTENT_TIMEOUT)" : $"timed out after {Seconds(commandTimeout)} (COMMAND_TIMEOUT)";

    private static string Seconds(TimeSpan span) =>
        span.TotalSeconds.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + " s";
}
