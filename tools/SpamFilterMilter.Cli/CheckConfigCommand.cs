using System.CommandLine;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Cli;

/// <summary>
/// check-config: checks a host's configuration without a message (<see cref="ConfigurationCheck"/>, as the reference
/// host's check-config does): option.dat, the channel table, the opt-in directory, every slot's plug-in and option
/// file, and with --reach every milter. One line per finding, then a summary; exit status 0 fine, 1 problems found.
/// </summary>
internal static class CheckConfigCommand
{
    public static Command Create(Terminal terminal)
    {
        var options = new Option<FileInfo>("--options") { Description = "The option.dat to check (spamfilterX_* slots, LDAP_OPTINX, directory).", Required = true };
        var channels = new Option<FileInfo?>("--channels") { Description = "The channel table to check (imta.cnf-style channel definitions with their keywords)." };
        var plugins = new Option<DirectoryInfo?>("--plugins") { Description = "The folder a relative spamfilterX_library is taken from (default: option.dat's folder)." };
        var reach = new Option<bool>("--reach") { Description = "Also connect to every slot's milter and negotiate (as probe does), sending no message." };
        var command = new Command("check-config", "Check option.dat, the channel table, the opt-in directory and every slot's plug-in and option file, without a message.")
        {
            options, channels, plugins, reach,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var report = await ConfigurationCheck.RunAsync(result.GetValue(options)!.FullName, result.GetValue(channels)?.FullName,
                result.GetValue(plugins)?.FullName, result.GetValue(reach), cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var line in report.Lines())
            {
                await terminal.Output.WriteLineAsync(line).ConfigureAwait(false);
            }

            return (int)report.ExitCode;
        });
        return command;
    }
}
