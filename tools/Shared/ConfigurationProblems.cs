using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Tools;

/// <summary>
/// What every tool says of a wrong configuration file: each problem found, on a line of its own with its file, line and
/// option, not the first alone (an administrator mends them all in one go). One file, compiled into each tool.
/// </summary>
internal static class ConfigurationProblems
{
    /// <summary>Writes <paramref name="problem"/> and every other problem it carries to <paramref name="error"/>.</summary>
    public static async Task WriteAsync(SpamFilterConfigurationException problem, TextWriter error)
    {
        foreach (var each in problem.AllProblems)
        {
            await error.WriteLineAsync(each.Message).ConfigureAwait(false);
        }
    }
}
