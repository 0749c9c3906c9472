using SmtpServer;
using SmtpServer.Mail;
using SmtpServer.Storage;

namespace SpamFilterMilter.SmtpServer;

/// <summary>SmtpServer's mailbox filter: MAIL FROM and RCPT TO go to the session's filter.</summary>
internal sealed class FilteringMailboxFilter : IMailboxFilter, IMailboxFilterFactory
{
    public IMailboxFilter CreateInstance(ISessionContext context) => this;

    public Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken) =>
        FilteredSession.Of(context).MailAsync(from);

    public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken) =>
        FilteredSession.Of(context).RcptAsync(to);
}
