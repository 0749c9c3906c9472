using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Options;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>Connectors as the tests of one server make them (the plug-in makes one per server HOST names).</summary>
internal static class Connectors
{
    /// <summary>A connector to the first (or only) server HOST names, logging nowhere.</summary>
    public static MilterConnector ToFirstServer(MilterOptions options, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null) =>
        new(options, options.Servers[0], NullLogger.Instance, resolve);
}
