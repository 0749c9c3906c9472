using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.SmtpServer.Tests.Support;

/// <summary>The application's store in a test: keeps every message it is given and answers what the test says.</summary>
public sealed class MemoryStore(Func<ReceivedMessage, SmtpReply?>? answer = null) : IFilteredMessageStore
{
    private readonly List<ReceivedMessage> _messages = [];

    public IReadOnlyList<ReceivedMessage> Messages
    {
        get
        {
            lock (_messages)
            {
                return [.. _messages];
            }
        }
    }

    public Task<SmtpReply?> SaveAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        lock (_messages)
        {
            _messages.Add(message);
        }

        return Task.FromResult(answer?.Invoke(message));
    }
}
