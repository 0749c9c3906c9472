using System.Text;
using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Testing;

/// <summary>One log entry as a logger received it, the message formatted.</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    /// <summary>Everything a log sink could write: the message and the whole exception (type, message, inner ones, stack).</summary>
    public string AllText => Message + "\n" + Exception;

    /// <summary>
    /// True when <paramref name="secret"/> shows anywhere in <see cref="AllText"/>: as text, or as the hex a traffic
    /// dump writes (either case, with or without a space between bytes).
    /// </summary>
    public bool Reveals(string secret)
    {
        var text = AllText;
        var hex = Convert.ToHexString(Encoding.UTF8.GetBytes(secret));
        var spacedHex = string.Join(' ', hex.Chunk(2).Select(pair => new string(pair)));
        return text.Contains(secret, StringComparison.Ordinal)
            || text.Contains(hex, StringComparison.OrdinalIgnoreCase)
            || text.Contains(spacedHex, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>
/// A logger factory that keeps every entry from <paramref name="minimum"/> up (every level unless told), for tests
/// that look at the logs (and at what they must never hold). Safe to log to from several threads.
/// </summary>
/// <param name="minimum">The lowest level enabled, as a host's logging configuration would set it.</param>
public sealed class CapturedLogs(LogLevel minimum = LogLevel.Trace) : ILoggerFactory
{
    private readonly List<LogEntry> _entries = [];

    /// <summary>Every entry so far, in the order logged.</summary>
    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName, minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs logs, string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            lock (logs._entries)
            {
                logs._entries.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
            }
        }
    }
}
