using System.Globalization;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// The spam-filter part of a Messaging Server <c>option.dat</c>: up to eight plug-in slots and the directory
/// used for opt-in. The syntax is <see cref="OptionFile"/>'s (one <c>NAME=VALUE</c> per line, names
/// case-insensitive, blanks around both ignored, lines starting with <c>!</c> or <c>#</c> are comments). An
/// unknown option, a malformed line, a bad value or an option set twice (also under its unnumbered name) is a
/// <see cref="SpamFilterConfigurationException"/> naming the file, the line and the option. Every option is
/// described once, in <see cref="HostOptionDescriptors"/>: name, default, meaning and how its value is read.
/// </summary>
public sealed class SpamFilterHostOptions
{
    /// <summary>The number of plug-in slots (Messaging Server 6.3: eight).</summary>
    public const int SlotCount = 8;

    /// <summary>
    /// The slot a name's number gives (option.dat, channel keywords): no number means slot 1, as in
    /// Messaging Server; otherwise 1 to <see cref="SlotCount"/>, digits only.
    /// </summary>
    internal static bool TryParseSlot(string digits, out int slot)
    {
        if (digits.Length == 0)
        {
            slot = 1;
            return true;
        }

        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out slot) && slot is >= 1 and <= SlotCount;
    }

    /// <summary>What is wrong when <see cref="TryParseSlot"/> says no.</summary>
    internal static string SlotNumberProblem { get; } = $"the slot number must be 1 to {SlotCount}";

    /// <summary>The number of verdict/action pairs per slot (M = 0..7).</summary>
    public const int PairCount = 8;

    /// <summary>The option that bounds the time all slots together may take over one message.</summary>
    public const string MessageBudgetOption = "SPAMFILTER_MESSAGE_BUDGET";

    internal SpamFilterHostOptions(string filePath, IReadOnlyList<SlotOptions> slots, DirectoryOptions directory, IReadOnlyList<string> notes, TimeSpan? messageBudget = null)
    {
        FilePath = filePath;
        Slots = slots;
        Directory = directory;
        Notes = notes;
        MessageBudget = messageBudget;
    }

    /// <summary>The option file read.</summary>
    public string FilePath { get; }

    /// <summary>The slots that are on (their <c>spamfilterX_library</c> is set), in number order.</summary>
    public IReadOnlyList<SlotOptions> Slots { get; }

    /// <summary>The directory for user and domain opt-in.</summary>
    public DirectoryOptions Directory { get; }

    /// <summary>
    /// SPAMFILTER_MESSAGE_BUDGET: the time all slots together may take over one message, from the start of its
    /// filtering; once it is used up, the slots not yet run get their failure outcome without being called (a slot
    /// already running is not interrupted: its plug-in's own timeouts bound it). Null: no budget.
    /// </summary>
    public TimeSpan? MessageBudget { get; }

    /// <summary>Things an administrator may want to know that are not errors (e.g. a slot with options but no library is off).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The plug-in folder a relative <c>spamfilterX_library</c> was taken from, so that a reload reads the file as the first reading did.</summary>
    internal string? PluginDirectory { get; init; }

    /// <summary>The lines read, so that a reload can say which options changed.</summary>
    internal IReadOnlyList<OptionLine> Lines { get; init; } = [];

    /// <summary>Reads option.dat again from <see cref="FilePath"/>, with the plug-in folder the first reading had.</summary>
    internal SpamFilterHostOptions Reread() => Load(FilePath, PluginDirectory);

    /// <summary>Every option, with its default: the list option.dat.sample and docs/host.md document.</summary>
    public static IReadOnlyList<OptionDescription> Descriptions { get; } =
        HostOptionDescriptors.All.Select(d => new OptionDescription(d.Name, d.Default, d.Meaning)).ToArray();

    /// <summary>
    /// Reads option.dat at <paramref name="path"/>. A relative <c>spamfilterX_library</c> is taken from
    /// <paramref name="pluginDirectory"/> (the host's plug-in folder; default: option.dat's folder); other
    /// relative paths are relative to option.dat's folder. A wrong file throws
    /// <see cref="SpamFilterConfigurationException"/> for its first wrong line, carrying every other one
    /// (<see cref="SpamFilterConfigurationException.MoreProblems"/>), as a milter's option file does.
    /// </summary>
    /// <exception cref="SpamFilterConfigurationException">option.dat cannot be read or is wrong (file, line and option named).</exception>
    public static SpamFilterHostOptions Load(string path, string? pluginDirectory = null)
    {
        var problems = new List<SpamFilterConfigurationException>();
        var options = Read(path, pluginDirectory, problems);
        return problems.Count == 0 ? options : throw SpamFilterConfigurationException.Combine(problems);
    }

    /// <summary>
    /// Reads option.dat as <see cref="Load"/> does, every problem going to <paramref name="problems"/> instead of being
    /// thrown, a line without '=' included; the options are those of the lines that were right (a file that cannot be
    /// read at all is still thrown).
    /// </summary>
    internal static SpamFilterHostOptions Read(string path, string? pluginDirectory, List<SpamFilterConfigurationException> problems)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        var found = new List<SpamFilterConfigurationException>();
        var lines = OptionFile.Read(fullPath, found);
        var folder = Path.GetDirectoryName(fullPath)!;
        var options = new HostOptionsReader(fullPath, folder, pluginDirectory is null ? folder : Path.GetFullPath(pluginDirectory)).Read(lines, found);
        // The syntax pass and the options pass each find their own (a line without '=' before a wrong value above it).
        problems.AddRange(SpamFilterConfigurationException.InFileOrder(found));
        return options;
    }
}
