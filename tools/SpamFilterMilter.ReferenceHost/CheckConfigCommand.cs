using System.CommandLine;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.ReferenceHost;

/// <summary>
/// check-config: checks the configuration filter would use, without a message (<see cref="ConfigurationCheck"/>, as
/// spamfilter-milter's check-config does): option.dat, the channel table, the opt-in directory, every slot's plug-in
/// loaded by path with its option file, and with --reach every milter. One line per finding, then a summary.
/// </summary>
internal static class CheckConfigCommand
{
    public static Command Create()
    {
        var options = new Option<FileInfo>("--options") { Description = "The option.dat to check (spamfilterX_* slots, LDAP_OPTINX, directory).", Required = true };
        var channels = new Option<FileInfo?>("--channels") { Description = "The channel table to check (imta.cnf-style channel definitions with their keywords)." };
        var plugins = new Option<DirectoryInfo>("--plugins")
        {
            Description = "The plug-in folder a relative spamfilterX_library is taken from.",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(AppContext.BaseDirectory, "plugins")),
        };
        var reach = new Option<bool>("--reach") { Description = "Also connect to every slot's milter and negotiate, sending no message." };
        var command = new Command("check-config", "Check option.dat, the channel table, the opt-in directory and every slot's plug-in and option file, without a message.")
        {
            options, channels, plugins, reach,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            new CheckConfigArguments(result.GetValue(options)!, result.GetValue(channels), result.GetValue(plugins)!, result.GetValue(reach)), Console.Out, cancellationToken));
        return command;
    }

    /// <summary>Runs the check; the exit status is the report's (<see cref="ToolExitCode"/>: 0 fine, 1 problems found).</summary>
    public static async Task<int> RunAsync(CheckConfigArguments arguments, TextWriter output, CancellationToken cancellationToken)
    {
        var report = await ConfigurationCheck.RunAsync(arguments.Options.FullName, arguments.Channels?.FullName, arguments.Plugins.FullName,
            arguments.Reach, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var line in report.Lines())
        {
            await output.WriteLineAsync(line).ConfigureAwait(false);
        }

        return (int)report.ExitCode;
    }
}

/// <summary>The files check-config reads, and whether it reaches the milters.</summary>
internal sealed record CheckConfigArguments(FileInfo Options, FileInfo? Channels, DirectoryInfo Plugins, bool Reach);
