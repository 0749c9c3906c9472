using Microsoft.Extensions.Logging;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Support;

/// <summary>Makes plug-in instances for tests from option-file text.</summary>
internal static class TestPlugins
{
    /// <summary>A plug-in (loaded directly, for access to internals) configured by <paramref name="optionText"/>.</summary>
    public static MilterPlugin Create(TempFolder folder, string optionText, ILoggerFactory? loggerFactory = null) =>
        new(MilterOptions.Load(folder.Write("milter.opt", optionText)), loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    /// <summary>Option text for a milter on loopback.</summary>
    public static string Loopback(int port, string extra = "") => $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=500\n{extra}";

    /// <summary>A port on loopback where nothing listens (connections are refused).</summary>
    public static int ClosedPort() => ServerProcess.FreePort();
}
