using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// What one message leaves behind: the <c>milter message</c> activity from MAIL to the verdict, the stage decisions
/// for the DEBUG=1 line, the message counter and duration. <see cref="Finish"/> records it once, whoever calls it
/// first (a decision before the end of the message, a failure, or the end of the message).
/// </summary>
internal sealed class MessageTrace(string endpoint, ILogger logger, bool traceStages)
{
    private readonly List<(string Stage, string Action, int Count)>? _stages = traceStages ? [] : null;
    private Activity? _activity;
    private long _started;
    private bool _open;

    /// <summary>True between <see cref="Start"/> and <see cref="Finish"/> or <see cref="Abort"/>.</summary>
    public bool IsOpen => _open;

    /// <summary>
    /// A message starts (MAIL). The activity is started without becoming the host's Activity.Current: the host's own
    /// trace context stays as it was between stage calls.
    /// </summary>
    public void Start()
    {
        _started = Stopwatch.GetTimestamp();
        _open = true;
        _stages?.Clear();
        _activity?.Dispose();
        var previous = Activity.Current;
        _activity = MilterTelemetry.ActivitySource.StartActivity("milter message", ActivityKind.Client);
        Activity.Current = previous;
        _activity?.SetTag("milter", endpoint);
    }

    /// <summary>One stage's decision (null: the milter failed there), run-length compressed in the DEBUG=1 line ("header×5=continue").</summary>
    public void Stage(FilterStage stage, FilterAction? action)
    {
        if (_stages is null)
        {
            return;
        }

        var (name, what) = (stage.ToName(), action is { } a ? ActionName(a) : "failed");
        if (_stages.Count > 0 && _stages[^1].Stage == name && _stages[^1].Action == what)
        {
            _stages[^1] = (name, what, _stages[^1].Count + 1);
        }
        else
        {
            _stages.Add((name, what, 1));
        }
    }

    /// <summary>The message was abandoned (RSET) before a verdict: no message to count.</summary>
    public void Abort()
    {
        if (_activity is { } activity)
        {
            activity.SetTag("aborted", true).Dispose();
            _activity = null;
        }

        _open = false;
    }

    /// <summary>Everything that happens once per verdict: metrics, the activity, the DEBUG=1 line. Later calls do nothing.</summary>
    public void Finish(string? queueId, FilterVerdict verdict)
    {
        if (!_open)
        {
            return; // finished already, or no message was started
        }

        _open = false;
        var kind = verdict.Kind switch
        {
            VerdictKind.Default => "default",
            VerdictKind.Null => "null",
            VerdictKind.String => "string",
            _ => "failure",
        };
        var action = ActionName(verdict.Action);
        MilterTelemetry.RecordMessage(endpoint, kind, action, _started);
        if (_activity is { } activity)
        {
            activity.SetTag("queue_id", queueId).SetTag("verdict", kind).SetTag("action", action)
                .SetTag("decided_at", verdict.DecidedAt?.ToName());
            if (verdict.Failure is { } failure)
            {
                activity.SetStatus(ActivityStatusCode.Error, failure.ToString());
            }

            activity.Dispose();
            _activity = null;
        }

        if (_stages is not null && logger.IsEnabled(LogLevel.Information))
        {
            var described = verdict.Kind switch
            {
                VerdictKind.Default => "default",
                VerdictKind.Failure => $"failure ({action})",
                _ => $"{action}, {verdict.Edits.Count} edit(s)",
            };
            Log.MessageSummary(logger, endpoint, queueId ?? "-", Describe(_stages), described, Stopwatch.GetElapsedTime(_started).TotalMilliseconds);
        }

        _stages?.Clear();
    }

    /// <summary>The action in lower case, without allocating per message (Enum.ToString does).</summary>
    public static string ActionName(FilterAction action) => action switch
    {
        FilterAction.Continue => "continue",
        FilterAction.Accept => "accept",
        FilterAction.Reject => "reject",
        FilterAction.TempFail => "tempfail",
        _ => "discard",
    };

    private static string Describe(List<(string Stage, string Action, int Count)> stages)
    {
        var text = new StringBuilder();
        foreach (var (stage, action, count) in stages)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(stage);
            if (count > 1)
            {
                text.Append('×').Append(count);
            }

            text.Append('=').Append(action);
        }

        return text.ToString();
    }
}
