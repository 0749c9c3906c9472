using System.CommandLine;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Tools;

/// <summary>
/// What every tool does with a wrong command line: says what is wrong, one line each, and does nothing else
/// (<see cref="ToolExitCode.Usage"/>). One file, compiled into each tool that parses a command line.
/// </summary>
internal static class CommandLineUsage
{
    /// <summary>Writes the errors of <paramref name="parsed"/> to <paramref name="error"/>; true when there were any.</summary>
    public static async Task<bool> RefuseAsync(ParseResult parsed, TextWriter error)
    {
        foreach (var problem in parsed.Errors)
        {
            await error.WriteLineAsync(problem.Message).ConfigureAwait(false);
        }

        return parsed.Errors.Count > 0;
    }
}
