using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace SpamFilterMilter.Contract;

/// <summary>
/// Names the factory type of a spam-filter plug-in assembly. The host loads the assembly by path,
/// reads this attribute and creates the factory; nothing else in the assembly needs to be public.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class SpamFilterPluginAttribute(Type factoryType) : Attribute
{
    /// <summary>A public type with a parameterless constructor implementing <see cref="ISpamFilterPluginFactory"/>.</summary>
    public Type FactoryType { get; } = factoryType;
}

/// <summary>Creates plug-in instances, one per configured slot (<c>spamfilterX_library</c>).</summary>
public interface ISpamFilterPluginFactory
{
    /// <summary>
    /// Reads the plug-in's own option file and returns a ready plug-in. Does not contact the filter
    /// server. Throws <see cref="SpamFilterConfigurationException"/> when the option file is wrong.
    /// </summary>
    ISpamFilterPlugin Create(SpamFilterPluginContext context);
}

/// <summary>What the host tells a plug-in when it creates it.</summary>
public sealed class SpamFilterPluginContext
{
    /// <summary>Path of the plug-in's option file (<c>spamfilterX_config_file</c>).</summary>
    public required string ConfigFilePath { get; init; }

    /// <summary>The slot number X (1..8) the plug-in serves, named in its log lines; 0 (the default): a host without slots, none named.</summary>
    public int Slot { get; init; }

    /// <summary>
    /// The host's logger factory. When null the plug-in writes its own log to standard error, at the level its
    /// option file's DEBUG option selects.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// The host's meter factory (dependency injection's <see cref="IMeterFactory"/>): a plug-in makes its meters through
    /// it, so that the host's container owns them. When null the plug-in uses meters of its own.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }
}

/// <summary>
/// A loaded, configured spam-filter plug-in. Thread-safe: the host may filter many messages and run
/// many sessions at once.
/// </summary>
public interface ISpamFilterPlugin : IAsyncDisposable
{
    /// <summary>What this plug-in talks to, for the host's logs (e.g. <c>milter 127.0.0.1:8890</c>).</summary>
    string Description { get; }

    /// <summary>
    /// Filters one whole message, the way Messaging Server calls its spam-filter plug-ins: connection
    /// facts, envelope, message and opt-in values in, one verdict out. Never throws for a filter
    /// failure: that is a <see cref="VerdictKind.Failure"/> verdict.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="message"/> is no message to filter (no recipient).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; the only exception for a message that is one.</exception>
    ValueTask<FilterVerdict> FilterMessageAsync(MessageSubmission message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a stage-by-stage session that mirrors one SMTP session (connect, HELO, one or more
    /// transactions, close). Nothing is sent until <see cref="IFilterSession.ConnectAsync"/>.
    /// </summary>
    IFilterSession OpenSession();
}

/// <summary>
/// A plug-in that can reach its filter server without a message: connect, agree on the protocol, disconnect. A host's
/// configuration check uses it (<c>check-config --reach</c>); a plug-in without it is checked as far as it can be
/// loaded and created.
/// </summary>
public interface IReachableSpamFilterPlugin : ISpamFilterPlugin
{
    /// <summary>
    /// Connects to the filter server, agrees on the protocol and disconnects, sending no message. Returns what was
    /// agreed, in one line for an administrator. Throws <see cref="IOException"/> with the reason when the server cannot
    /// be reached or the negotiation fails.
    /// </summary>
    ValueTask<string> ReachAsync(CancellationToken cancellationToken = default);
}
