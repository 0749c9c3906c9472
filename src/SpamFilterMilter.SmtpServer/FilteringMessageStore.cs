using System.Buffers;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace SpamFilterMilter.SmtpServer;

/// <summary>SmtpServer's message store: the message goes to the session's filter, then to the application's store.</summary>
internal sealed class FilteringMessageStore : IMessageStore, IMessageStoreFactory
{
    public IMessageStore CreateInstance(ISessionContext context) => this;

    public Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken) =>
        FilteredSession.Of(context).MessageAsync(buffer, cancellationToken);
}
