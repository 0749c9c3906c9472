using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// The filter session when the application gave none (<see cref="SmtpServerFilteringOptions.OpenFilter"/> null):
/// every stage continues and every message gets the default verdict, so each goes to the store as it came.
/// </summary>
internal sealed class PassThroughFilterSession : IFilterSession
{
    public void SetMacro(string name, string? value)
    {
    }

    public ValueTask<StageDecision> ConnectAsync(ClientInfo client, CancellationToken cancellationToken = default) => Continue(FilterStage.Connect);

    public ValueTask<StageDecision> HeloAsync(string heloName, CancellationToken cancellationToken = default) => Continue(FilterStage.Helo);

    public ValueTask<StageDecision> MailAsync(string reversePath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default) => Continue(FilterStage.Mail);

    public ValueTask<StageDecision> RcptAsync(string forwardPath, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default) => Continue(FilterStage.Rcpt);

    public ValueTask<StageDecision> RcptRejectedAsync(string forwardPath, SmtpReply hostReply, IReadOnlyList<string>? esmtpParameters = null, CancellationToken cancellationToken = default) => Continue(FilterStage.Rcpt);

    public ValueTask<StageDecision> UnknownAsync(string commandLine, CancellationToken cancellationToken = default) => Continue(FilterStage.Unknown);

    public ValueTask<StageDecision> DataAsync(CancellationToken cancellationToken = default) => Continue(FilterStage.Data);

    public ValueTask<StageDecision> HeaderAsync(string name, RawText value, CancellationToken cancellationToken = default) => Continue(FilterStage.Header);

    public ValueTask<StageDecision> EndOfHeadersAsync(CancellationToken cancellationToken = default) => Continue(FilterStage.EndOfHeaders);

    public ValueTask<StageDecision> BodyAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken = default) => Continue(FilterStage.Body);

    public ValueTask<FilterVerdict> EndOfMessageAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(FilterVerdict.Default);

    public ValueTask<FilterVerdict> MessageAsync(Stream message, HeaderField? hiddenTraceHeader = null, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(FilterVerdict.Default);

    public ValueTask AbortAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask CloseAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static ValueTask<StageDecision> Continue(FilterStage stage) => ValueTask.FromResult(StageDecision.ContinueAt(stage));
}
