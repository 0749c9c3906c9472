using System.CommandLine;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.ReferenceHost;
using SpamFilterMilter.Tools;

// The reference host. With no arguments it runs the demo (the embedded default).
var plugin = new Option<FileInfo>("--plugin")
{
    Description = "The plug-in assembly to load by path (spamfilterX_library).",
    DefaultValueFactory = _ => new FileInfo(Path.Combine(AppContext.BaseDirectory, "plugins", "SpamFilterMilter", "SpamFilterMilter.dll")),
};
var samples = new Option<DirectoryInfo>("--samples")
{
    Description = "Folder of sample messages (*.eml); the envelope comes from their From, To and Cc fields.",
    DefaultValueFactory = _ => RepositoryPaths.Find("etc/samples"),
};
var debug = new Option<int>("--debug")
{
    Description = "The plug-in's DEBUG option: 0 warnings, 1 one line per message, 2 every packet (logs go to standard error).",
    DefaultValueFactory = _ => 0,
};
debug.AcceptOnlyFromAmong("0", "1", "2");

var demo = new Command("demo", "Start the bundled sample milter, load the plug-in by path and filter the sample messages.")
{
    plugin, samples, debug,
};
demo.SetAction((result, cancellationToken) => Demo.RunAsync(
    result.GetValue(plugin)!.FullName, result.GetValue(samples)!, result.GetValue(debug), Console.Out, cancellationToken));

var root = new RootCommand("SpamFilterMilter reference host: loads the milter plug-in by path as an MTA would.")
{
    demo,
    FilterCommand.Create(),
    CheckConfigCommandLine.Create(Console.Out, new DirectoryInfo(Path.Combine(AppContext.BaseDirectory, "plugins"))),
};
root.Options.Add(plugin);
root.Options.Add(samples);
root.Options.Add(debug);
root.SetAction((result, cancellationToken) => Demo.RunAsync(
    result.GetValue(plugin)!.FullName, result.GetValue(samples)!, result.GetValue(debug), Console.Out, cancellationToken));

// Exit status (ToolExitCode, as spamfilter-milter's): 0 fine, 1 problems found, 2 the command line is wrong.
var parsed = root.Parse(args);
if (await CommandLineUsage.RefuseAsync(parsed, Console.Error))
{
    return (int)ToolExitCode.Usage;
}

return await parsed.InvokeAsync();
