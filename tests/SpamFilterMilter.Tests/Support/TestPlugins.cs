using Microsoft.Extensions.Logging;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Support;

/// <summary>Makes plug-in instances for tests from option-file text.</summary>
internal static class TestPlugins
{
    /// <summary>The plug-in as a host deploys it: the copy in plugins/ next to the test assembly.</summary>
    public static string DeployedPluginPath { get; } =
        Path.Combine(AppContext.BaseDirectory, "plugins", "SpamFilterMilter", "SpamFilterMilter.dll");

    /// <summary>A plug-in (loaded directly, for access to internals) configured by <paramref name="optionText"/>.</summary>
    public static MilterPlugin Create(TempFolder folder, string optionText, ILoggerFactory? loggerFactory = null) =>
        new(MilterOptions.Load(folder.Write("milter.opt", optionText)), loggerFactory);

    /// <summary>Option text for a milter on loopback.</summary>
    public static string Loopback(int port, string extra = "") => $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=500\n{extra}";

    /// <summary>A port on loopback where nothing listens (connections are refused).</summary>
    public static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The plug-in as a host gets it: loaded by path from plugins/, in its own load context.</summary>
internal static class DeployedPlugin
{
    public static Contract.ISpamFilterPlugin Create(string optionFile, ILoggerFactory? loggerFactory = null) =>
        SpamFilterMilter.Host.Loading.PluginLoader.Load(TestPlugins.DeployedPluginPath).Factory.Create(
            new Contract.SpamFilterPluginContext { ConfigFilePath = optionFile, LoggerFactory = loggerFactory });
}
