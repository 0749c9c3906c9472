using Microsoft.Extensions.Logging;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Loading;

namespace SpamFilterMilter.Testing;

/// <summary>
/// The plug-in as a host gets it: loaded by path from plugins/ next to the test assembly (a test
/// project imports src/SpamFilterMilter/SpamFilterMilter.Deploy.targets to put it there).
/// </summary>
public static class DeployedPlugin
{
    /// <summary>Where the deployed plug-in is.</summary>
    public static string Path { get; } =
        System.IO.Path.Combine(AppContext.BaseDirectory, "plugins", "SpamFilterMilter", "SpamFilterMilter.dll");

    /// <summary>
    /// Loads the plug-in by path (once per process) and creates an instance for <paramref name="optionFile"/>,
    /// logging to <paramref name="loggerFactory"/> (nowhere when null: test output stays readable).
    /// </summary>
    public static ISpamFilterPlugin Create(string optionFile, ILoggerFactory? loggerFactory = null) =>
        PluginLoader.Load(Path).Factory.Create(new SpamFilterPluginContext
        {
            ConfigFilePath = optionFile,
            LoggerFactory = loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
        });
}
