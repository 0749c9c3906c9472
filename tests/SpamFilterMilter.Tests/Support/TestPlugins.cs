using Microsoft.Extensions.Logging;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Support;

/// <summary>Makes plug-in instances for tests from option-file text.</summary>
internal static class TestPlugins
{
    private static int s_files;

    /// <summary>
    /// A plug-in (loaded directly, for access to internals) configured by <paramref name="optionText"/>, written to an
    /// option file of its own: tests that make plug-ins concurrently in one folder (the fuzzer) must not read each
    /// other's half-written file.
    /// </summary>
    public static MilterPlugin Create(TempFolder folder, string optionText, ILoggerFactory? loggerFactory = null) =>
        new(MilterOptions.Load(folder.Write($"milter-{Interlocked.Increment(ref s_files)}.opt", optionText)),
            loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    /// <summary>Option text for a milter on loopback.</summary>
    public static string Loopback(int port, string extra = "") => $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=500\n{extra}";

    /// <summary>A port on loopback where nothing listens (connections are refused).</summary>
    public static int ClosedPort() => ServerProcess.FreePort();
}
