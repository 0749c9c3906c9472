using System.CommandLine;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Tools;

/// <summary>
/// check-config as spamfilter-milter and the reference host both offer it: the same options and the same report
/// (<see cref="ConfigurationCheck"/>): option.dat, the channel table, the opt-in directory, every slot's plug-in loaded
/// by path with its option file, with --reach every milter, and with --source-channel or --destination-channel which slots
/// would filter a relay's messages. One line per finding, then a summary; the exit status
/// is the report's (<see cref="ToolExitCode"/>: 0 fine, 1 problems found). One file, compiled into each of the two.
/// </summary>
internal static class CheckConfigCommandLine
{
    /// <param name="output">Where the report goes.</param>
    /// <param name="defaultPlugins">
    /// The folder a relative spamfilterX_library is taken from when --plugins is not given; null: option.dat's folder.
    /// </param>
    public static Command Create(TextWriter output, DirectoryInfo? defaultPlugins)
    {
        var options = new Option<FileInfo>("--options") { Description = "The option.dat to check (spamfilterX_* slots, LDAP_OPTINX, directory).", Required = true };
        var channels = new Option<FileInfo?>("--channels") { Description = "The channel table to check (imta.cnf-style channel definitions with their keywords)." };
        var plugins = new Option<DirectoryInfo?>("--plugins")
        {
            Description = defaultPlugins is null
                ? "The folder a relative spamfilterX_library is taken from (default: option.dat's folder)."
                : "The folder a relative spamfilterX_library is taken from.",
            DefaultValueFactory = _ => defaultPlugins,
        };
        var sourceChannel = new Option<string?>("--source-channel")
        {
            Description = "The channel messages come in on, as the relay's --source-channel: say which slots would filter them, and warn of a slot nothing opts in to (the relay's 7014).",
        };
        var destinationChannel = new Option<string?>("--destination-channel")
        {
            Description = "The channel every recipient is routed to, as the relay's --destination-channel: the same, for destinationspamfilterX.",
        };
        var reach = new Option<bool>("--reach") { Description = "Also connect to every slot's milter and negotiate, sending no message, and bind to the LDAP directory (LDAP_HOST) and search LDAP_BASE_DN once." };
        var command = new Command("check-config", "Check option.dat, the channel table, the opt-in directory and every slot's plug-in and option file, without a message.")
        {
            options, channels, plugins, sourceChannel, destinationChannel, reach,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            var report = await ConfigurationCheck.RunAsync(result.GetValue(options)!.FullName, result.GetValue(channels)?.FullName,
                result.GetValue(plugins)?.FullName, result.GetValue(reach), result.GetValue(sourceChannel), result.GetValue(destinationChannel),
                cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var line in report.Lines())
            {
                await output.WriteLineAsync(line).ConfigureAwait(false);
            }

            return (int)report.ExitCode;
        });
        return command;
    }
}
