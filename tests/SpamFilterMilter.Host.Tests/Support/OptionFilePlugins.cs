using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Loading;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>
/// Plug-ins "loaded" by the file name of their spamfilterX_library that, like the milter plug-in, read their option
/// file when created: <c>TAG=name</c> makes each verdict <c>addtag "[name]";</c>; any other option is refused with its
/// file, line and name. Each creation is a new instance, so a test sees which instance (which reading of the file)
/// filtered a message and when it was disposed. <see cref="Gate"/> holds messages inside the plug-in until opened.
/// </summary>
public sealed class OptionFilePlugins
{
    private readonly List<OptionFilePlugin> _created = [];

    /// <summary>Every instance created so far, in order.</summary>
    public IReadOnlyList<OptionFilePlugin> Created
    {
        get
        {
            lock (_created)
            {
                return [.. _created];
            }
        }
    }

    /// <summary>While set, a message entering a plug-in waits for it to complete.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Completes when a message has entered a plug-in (set anew before each message to watch).</summary>
    public TaskCompletionSource Entered { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The plug-in factory for <paramref name="path"/>: a library whose name starts with "missing" cannot be loaded.</summary>
    public ISpamFilterPluginFactory Load(string path) =>
        Path.GetFileName(path).StartsWith("missing", StringComparison.Ordinal)
            ? throw new PluginLoadException($"The plug-in {path} does not exist.")
            : new Factory(this);

    private sealed class Factory(OptionFilePlugins plugins) : ISpamFilterPluginFactory
    {
        public ISpamFilterPlugin Create(SpamFilterPluginContext context)
        {
            string? tag = null;
            foreach (var line in OptionFile.Read(context.ConfigFilePath))
            {
                tag = string.Equals(line.Name, "TAG", StringComparison.OrdinalIgnoreCase)
                    ? line.Value
                    : throw new SpamFilterConfigurationException(context.ConfigFilePath, line.Line, line.Name, "unknown option");
            }

            var plugin = new OptionFilePlugin(plugins, tag ?? throw new SpamFilterConfigurationException(context.ConfigFilePath, 0, "TAG", "is required"));
            lock (plugins._created)
            {
                plugins._created.Add(plugin);
            }

            return plugin;
        }
    }

    /// <summary>One instance: the tag its option file gave, how many messages it filtered, whether it is disposed.</summary>
    public sealed class OptionFilePlugin(OptionFilePlugins plugins, string tag) : ISpamFilterPlugin
    {
        private int _messages;
        private volatile bool _disposed;

        public string Tag { get; } = tag;

        public int Messages => Volatile.Read(ref _messages);

        public bool Disposed => _disposed;

        public string Description => $"tagging {Tag}";

        public async ValueTask<FilterVerdict> FilterMessageAsync(MessageSubmission message, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Interlocked.Increment(ref _messages);
            var gate = plugins.Gate;
            plugins.Entered.TrySetResult();
            if (gate is not null)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            // A plug-in disposed under a message in flight would fail it: the host must not let that happen.
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new FilterVerdict { Kind = VerdictKind.String, Text = $"addtag \"[{Tag}]\";" };
        }

        public IFilterSession OpenSession() => throw new NotSupportedException();

        public ValueTask DisposeAsync()
        {
            _disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
