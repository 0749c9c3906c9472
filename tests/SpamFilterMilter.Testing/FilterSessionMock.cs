using Moq;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Testing;

/// <summary>
/// A mocked <see cref="IFilterSession"/> that lets every command through and accepts the message, for tests of what an
/// SMTP server makes of a filter's decisions (<c>SmtpFilterSession</c>, the SmtpServer integration); a test sets up
/// only the stage it is about.
/// </summary>
public static class FilterSessionMock
{
    /// <summary>Continue at every stage; the message's verdict is <paramref name="verdict"/> (accept at the end by default).</summary>
    public static Mock<IFilterSession> ContinuingEverywhere(FilterVerdict? verdict = null)
    {
        var filter = new Mock<IFilterSession>();
        filter.Setup(f => f.ConnectAsync(It.IsAny<ClientInfo>(), It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Connect));
        filter.Setup(f => f.HeloAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Helo));
        filter.Setup(f => f.MailAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Mail));
        filter.Setup(f => f.RcptAsync(It.IsAny<string>(), It.IsAny<IReadOnlyList<string>>(), It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Rcpt));
        filter.Setup(f => f.DataAsync(It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Data));
        filter.Setup(f => f.UnknownAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ReturnsAsync(StageDecision.ContinueAt(FilterStage.Unknown));
        filter.Setup(f => f.MessageAsync(It.IsAny<Stream>(), It.IsAny<HeaderField?>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(verdict ?? new FilterVerdict { Action = FilterAction.Accept, DecidedAt = FilterStage.EndOfMessage });
        return filter;
    }
}
