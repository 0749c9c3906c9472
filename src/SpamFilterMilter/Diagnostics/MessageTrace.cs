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
internal sealed class MessageTrace(string endpoint, MilterTelemetry telemetry, ILogger logger, bool traceStages)
{
    private readonly List<(string Stage, string Action, int Count)>? _stages = traceStages ? [] : null;
    private string _endpoint = endpoint;
    private MilterTelemetry _telemetry = telemetry;
    private Activity? _activity;
    private long _started;
    private bool _open;

    /// <summary>True between <see cref="Start"/> and <see cref="Finish"/> or <see cref="Abort"/>.</summary>
    public bool IsOpen => _open;

    /// <summary>The open message's activity, as the parent of what happens inside it (the connect of a whole message); empty when none.</summary>
    public ActivityContext Context => _activity?.Context ?? default;

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
        _activity = MilterTelemetry.ActivitySource.StartActivity(MilterTelemetry.MessageSpan, ActivityKind.Client);
        Activity.Current = previous;
        _telemetry.AddEndpoint(_activity);
    }

    /// <summary>
    /// The server the message goes to, once one is chosen among several (HOST with a list): its log name and telemetry
    /// from now on, and on the open activity.
    /// </summary>
    public void UseEndpoint(string endpoint, MilterTelemetry telemetry)
    {
        _endpoint = endpoint;
        _telemetry = telemetry;
        telemetry.AddEndpoint(_activity);
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

    /// <summary>The message was abandoned (RSET) before a verdict: no message to count. Nothing when no message is open.</summary>
    public void Abort()
    {
        if (!_open)
        {
            return; // finished already, or no message was started
        }

        if (_activity is { } activity)
        {
            activity.SetTag(MilterTelemetry.Aborted, true).Dispose();
            _activity = null;
        }

        _open = false;
    }

    /// <summary>
    /// Everything that happens once per verdict: metrics, the activity, the DEBUG=1 line. Later calls do nothing.
    /// <paramref name="errorType"/> names a failure verdict's failure (<c>error.type</c>).
    /// </summary>
    public void Finish(string? queueId, FilterVerdict verdict, string? errorType = null)
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
        errorType = verdict.Kind == VerdictKind.Failure ? errorType ?? "_OTHER" : null;
        _telemetry.RecordMessage(kind, action, errorType, _started);
        if (_activity is { } activity)
        {
            activity.SetTag(MilterTelemetry.QueueId, queueId).SetTag(MilterTelemetry.Verdict, kind).SetTag(MilterTelemetry.Action, action)
                .SetTag(MilterTelemetry.DecidedAt, verdict.DecidedAt?.ToName());
            if (verdict.Failure is { } failure)
            {
                activity.SetTag(MilterTelemetry.ErrorType, errorType).SetStatus(ActivityStatusCode.Error, failure.ToString());
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
            Log.MessageSummary(logger, _endpoint, queueId ?? "-", Describe(_stages), described, Stopwatch.GetElapsedTime(_started).TotalMilliseconds);
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
