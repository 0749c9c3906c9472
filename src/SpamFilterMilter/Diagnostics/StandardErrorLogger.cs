using System.Globalization;
using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Diagnostics;

/// <summary>
/// The log the plug-in writes itself when the host gives it no <see cref="ILoggerFactory"/>: one line per entry on
/// standard error (<c>2026-12-06 12:34:56.789 +00:00 warn: SpamFilterMilter[4001] milter …</c>), from the level the option file's DEBUG
/// selects. Written here rather than taken from Microsoft.Extensions.Logging.Console so that the plug-in's folder
/// carries no logging assemblies of its own: a plug-in loaded by path should bring as few as it can.
/// </summary>
internal sealed class StandardErrorLoggerFactory(LogLevel minimum, TextWriter? output = null) : ILoggerFactory
{
    private readonly TextWriter _output = output ?? Console.Error;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, minimum, _output);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("The plug-in's own standard-error log takes no providers.");

    public void Dispose()
    {
    }

    private sealed class Logger(string category, LogLevel minimum, TextWriter output) : ILogger
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

            var line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTime.Now.ToString(LogText.TimestampFormat, CultureInfo.InvariantCulture)} {Level(logLevel)}: {category}[{eventId.Id}] {formatter(state, exception)}");
            if (exception is not null)
            {
                line += " " + exception.Message;
            }

            lock (output)
            {
                output.WriteLine(line);
            }
        }

        private static string Level(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
