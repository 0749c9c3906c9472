using System.Text;
using Microsoft.Extensions.Logging;
using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Loading;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>What a fake plug-in was given: the submission and the message bytes as it read them.</summary>
public sealed record PluginCall(string Plugin, MessageSubmission Submission, string Message);

/// <summary>
/// Plug-ins mocked with Moq, "loaded" by the file name of their spamfilterX_library, so that host tests
/// choose each slot's verdicts and see what each plug-in was asked. A library with no fake cannot be loaded.
/// </summary>
public sealed class FakePlugins
{
    private readonly Dictionary<string, Mock<ISpamFilterPlugin>> _plugins = new(StringComparer.Ordinal);

    private readonly List<PluginCall> _calls = [];

    /// <summary>Every call so far, in order (safe to read while messages are filtered concurrently).</summary>
    public IReadOnlyList<PluginCall> Calls
    {
        get
        {
            lock (_calls)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>A plug-in for library <paramref name="name"/>.dll that answers <paramref name="verdict"/> for each message.</summary>
    public Mock<ISpamFilterPlugin> Add(string name, Func<PluginCall, FilterVerdict> verdict)
    {
        var plugin = new Mock<ISpamFilterPlugin>(MockBehavior.Strict);
        plugin.SetupGet(p => p.Description).Returns($"fake {name}");
        plugin.Setup(p => p.DisposeAsync()).Returns(ValueTask.CompletedTask);
        plugin.Setup(p => p.FilterMessageAsync(It.IsAny<MessageSubmission>(), It.IsAny<CancellationToken>()))
            .Returns((MessageSubmission submission, CancellationToken _) =>
            {
                using var reader = new StreamReader(submission.Message, Encoding.UTF8, leaveOpen: true);
                var call = new PluginCall(name, submission, reader.ReadToEnd());
                lock (_calls)
                {
                    _calls.Add(call);
                }

                return ValueTask.FromResult(verdict(call));
            });
        _plugins[name + ".dll"] = plugin;
        return plugin;
    }

    /// <summary>A plug-in that answers the same verdict every time.</summary>
    public Mock<ISpamFilterPlugin> Add(string name, FilterVerdict verdict) => Add(name, _ => verdict);

    /// <summary>A string verdict (its text is the action string when the slot keeps data:,$U).</summary>
    public static FilterVerdict Verdict(string text) => new() { Kind = VerdictKind.String, Text = text };

    /// <summary>Loads the fake for <paramref name="path"/>, as PluginLoader would load a real one.</summary>
    public ISpamFilterPluginFactory Load(string path)
    {
        if (!_plugins.TryGetValue(Path.GetFileName(path), out var plugin))
        {
            throw new PluginLoadException($"The plug-in {path} does not exist.");
        }

        var factory = new Mock<ISpamFilterPluginFactory>();
        factory.Setup(f => f.Create(It.IsAny<SpamFilterPluginContext>())).Returns(plugin.Object);
        return factory.Object;
    }

    /// <summary>The option.dat lines that turn slot <paramref name="slot"/> on with the fake <paramref name="name"/>.</summary>
    public static string Slot(int slot, string name, string extra = "") =>
        $"spamfilter{slot}_library={name}.dll\nspamfilter{slot}_config_file={name}.opt\n{extra}";

    /// <summary>A host on option.dat text, with these fakes as its plug-ins.</summary>
    public SpamFilterHost Host(TempFolder folder, string optionDat, ChannelTable? channels = null, IOptInDirectory? directory = null, ILoggerFactory? logs = null) =>
        SpamFilterHost.Create(SpamFilterHostOptions.Load(folder.Write("option.dat", optionDat)), channels, directory, logs, loadPlugin: Load);

    /// <summary>A message from alice@example.org to <paramref name="recipients"/>.</summary>
    public static HostMessage Message(string text, params string[] recipients) => new()
    {
        Message = Encoding.UTF8.GetBytes(text),
        Envelope = new Envelope("alice@example.org", null, recipients.Select(r => new EnvelopeRecipient(r)).ToArray()),
    };
}
