using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Running;

/// <summary>A configured slot: its options and its plug-in, or why the plug-in could not be loaded or created.</summary>
public sealed class HostSlot
{
    internal HostSlot(SlotOptions options, ISpamFilterPlugin? plugin, Exception? loadError)
    {
        Options = options;
        Plugin = plugin;
        LoadError = loadError;
    }

    /// <summary>What option.dat says about the slot.</summary>
    public SlotOptions Options { get; }

    /// <summary>The plug-in, or null when it could not be loaded or created.</summary>
    public ISpamFilterPlugin? Plugin { get; }

    /// <summary>Why the plug-in could not be loaded or created, or null.</summary>
    public string? LoadFailure => LoadError?.Message;

    /// <summary>
    /// What was thrown when the plug-in could not be loaded or created, or null: a <see cref="SpamFilterConfigurationException"/>
    /// for a wrong option file names its file, line and option, and every further bad line in
    /// <see cref="SpamFilterConfigurationException.AllProblems"/>.
    /// </summary>
    public Exception? LoadError { get; }

    /// <summary>
    /// <see cref="LoadError"/> as a configuration error, or null: the plug-in's own (its option file's file, line and
    /// option), or one naming the line of <paramref name="optionDatPath"/> that sets <c>spamfilterX_library</c>. What a
    /// reload reports and check-config lists.
    /// </summary>
    internal SpamFilterConfigurationException? LoadProblem(string optionDatPath) => LoadError switch
    {
        null => null,
        SpamFilterConfigurationException e => e,
        var e => new SpamFilterConfigurationException(optionDatPath, Options.LibraryLine, Options.OptionName("library"), $"the plug-in cannot be used: {e.Message}", e),
    };

    /// <summary>The slot in words, e.g. <c>slot 1 (milter 127.0.0.1:8890)</c>.</summary>
    public override string ToString() => $"slot {Options.Number} ({Plugin?.Description ?? "not loaded"})";
}
