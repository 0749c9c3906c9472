using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Options;
using SpamFilterMilter.Tools;

namespace SpamFilterMilter.Cli;

/// <summary>Where a command reads and writes: the console, or in tests, strings.</summary>
/// <param name="Input">Standard input (check reads a message from it when the file is <c>-</c>).</param>
/// <param name="Output">Standard output: the report.</param>
/// <param name="Error">Standard error: errors, the plug-in's log and bench's progress.</param>
/// <param name="ErrorIsTerminal">Whether progress may redraw in place (a terminal) or should print plain lines (a file or pipe).</param>
/// <param name="Logging">The plug-in's log at a DEBUG level (0, 1, 2); on the console it goes to standard error.</param>
internal sealed record Terminal(Func<Stream> Input, TextWriter Output, TextWriter Error, bool ErrorIsTerminal, Func<int, ILoggerFactory> Logging)
{
    public static Terminal FromConsole() =>
        new(Console.OpenStandardInput, Console.Out, Console.Error, !Console.IsErrorRedirected, ConsoleLogging);

    /// <summary>The plug-in's log on standard error, one line per entry, from the level DEBUG asks for.</summary>
    private static ILoggerFactory ConsoleLogging(int debug) => LoggerFactory.Create(builder => builder
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = LogText.TimestampFormat + " ";
        })
        .SetMinimumLevel(new MilterOptions { Debug = debug }.DebugLogLevel)
        .Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
}

/// <summary>
/// The commands and what their exit status means (<see cref="ToolExitCode"/>, the reference host's too): 0 fine,
/// 1 problems found (the milter failed, a configuration error, a file that cannot be read), 2 the command line is
/// wrong; the reason goes to standard error.
/// </summary>
internal static class CommandLine
{
    public static async Task<int> RunAsync(string[] args, Terminal terminal)
    {
        var root = new RootCommand("Check messages through a milter, see what a milter negotiates, check a host's configuration, benchmark and soak-test the SpamFilterMilter client.")
        {
            CheckCommand.Create(terminal),
            ProbeCommand.Create(terminal),
            CheckConfigCommandLine.Create(terminal.Output, defaultPlugins: null),
            BenchCommand.Create(terminal),
            SoakCommand.Create(terminal),
        };

        var parsed = root.Parse(args);
        if (await CommandLineUsage.RefuseAsync(parsed, terminal.Error).ConfigureAwait(false))
        {
            return (int)ToolExitCode.Usage;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                Output = terminal.Output,
                Error = terminal.Error,
            }).ConfigureAwait(false);
        }
        catch (SpamFilterConfigurationException e)
        {
            // Options given with --host and --option are the command line's; an option file's are a configuration's.
            await ConfigurationProblems.WriteAsync(e, terminal.Error).ConfigureAwait(false);

            return (int)(e.FilePath == MilterTarget.CommandLineSource ? ToolExitCode.Usage : ToolExitCode.ProblemsFound);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await terminal.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return (int)ToolExitCode.Usage;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // FileNotFoundException and DirectoryNotFoundException are IOExceptions: a message file that is not there.
            await terminal.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return (int)ToolExitCode.ProblemsFound;
        }
    }
}

/// <summary>How the commands write JSON: indented, and with addresses' angle brackets left readable.</summary>
internal static class JsonOutput
{
    // Relaxed escaping is for output read by people and scripts, never embedded in HTML.
    public static JsonSerializerOptions Options { get; } = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
