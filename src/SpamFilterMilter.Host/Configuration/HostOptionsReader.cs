using System.Globalization;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// One pass over option.dat's lines: each line is read by the descriptor its name matches in
/// <see cref="HostOptionDescriptors.All"/>, then the rules between options are checked (a verdict needs its
/// action, a library its option file, the directory options each other).
/// </summary>
/// <param name="filePath">option.dat's full path, for errors.</param>
/// <param name="optionFolder">option.dat's folder: relative paths are taken from it.</param>
/// <param name="pluginFolder">The host's plug-in folder: a relative <c>spamfilterX_library</c> is taken from it.</param>
internal sealed class HostOptionsReader(string filePath, string optionFolder, string pluginFolder)
{
    private readonly Dictionary<string, int> _seen = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<int, SlotDraft> _slots = [];

    /// <summary>What the lines said about the directory so far.</summary>
    public DirectoryDraft Directory { get; } = new();

    /// <summary>SPAMFILTER_MESSAGE_BUDGET, once read.</summary>
    public TimeSpan? MessageBudget { get; set; }

    /// <summary>
    /// The options the lines give. Every problem is added to <paramref name="problems"/> (one per line, slot or directory
    /// at fault) and the options are those of the lines that were right: a configuration check reports them all and still
    /// checks the slots it could read.
    /// </summary>
    public SpamFilterHostOptions Read(IReadOnlyList<OptionLine> lines, List<SpamFilterConfigurationException> problems)
    {
        foreach (var line in lines)
        {
            Try(() => Apply(line), problems);
        }

        var notes = new List<string>();
        var slots = new List<SlotOptions>();
        foreach (var (number, draft) in _slots.OrderBy(s => s.Key))
        {
            var slot = Try(() => draft.Build(this, number), problems, out var failed);
            if (failed)
            {
                continue;
            }

            if (slot is null)
            {
                notes.Add($"slot {number} has options but no spamfilter{number}_library: it is off");
            }
            else
            {
                slots.Add(slot);
            }
        }

        var directory = Try(() => Directory.Build(this), problems, out _) ?? new DirectoryDraft().Build(this);
        return new SpamFilterHostOptions(filePath, slots, directory, notes, MessageBudget) { PluginDirectory = pluginFolder, Lines = lines };
    }

    private static void Try(Action read, List<SpamFilterConfigurationException> problems) =>
        Try(() => { read(); return true; }, problems, out _);

    private static T? Try<T>(Func<T> read, List<SpamFilterConfigurationException> problems, out bool failed)
    {
        failed = false;
        try
        {
            return read();
        }
        catch (SpamFilterConfigurationException e)
        {
            problems.Add(e);
            failed = true;
            return default;
        }
    }

    /// <summary>What the lines said about slot <paramref name="number"/> so far.</summary>
    public SlotDraft Slot(int number)
    {
        if (!_slots.TryGetValue(number, out var draft))
        {
            _slots[number] = draft = new SlotDraft();
        }

        return draft;
    }

    public SpamFilterConfigurationException Error(int line, string? option, string problem, Exception? inner = null) =>
        new(filePath, line, option, problem, inner);

    /// <summary>A path option.dat gives, made full from option.dat's folder.</summary>
    public string OptionFilePath(string path) => Path.GetFullPath(Path.Combine(optionFolder, path));

    /// <summary>A plug-in's path, made full from the plug-in folder.</summary>
    public string PluginPath(string library) => Path.GetFullPath(Path.Combine(pluginFolder, library));

    private void Apply(OptionLine line)
    {
        foreach (var descriptor in HostOptionDescriptors.All)
        {
            if (descriptor.Match(line.Name) is not { Success: true } match)
            {
                continue;
            }

            var slot = descriptor.HasSlot ? SlotNumber(line, match.Groups["x"].Value) : 0;
            var pair = descriptor.HasPair ? PairNumber(line, match.Groups["m"].Value) : -1;
            Remember(line, descriptor.NameFor(slot, pair));
            descriptor.Apply(new OptionSetting(this, line.Name, line.Value, line.Line, slot, pair));
            return;
        }

        // No option of this name. One that names a slot has its number checked first, as a known one has.
        if (HostOptionDescriptors.AnySlotOption().Match(line.Name) is { Success: true } slotOption)
        {
            SlotNumber(line, slotOption.Groups["x"].Value);
        }

        throw Error(line.Line, line.Name, HostOptionDescriptors.NotSupported(line.Name));
    }

    private void Remember(OptionLine line, string canonical)
    {
        if (_seen.TryGetValue(canonical, out var first))
        {
            throw Error(line.Line, line.Name, $"is already set at line {first}");
        }

        _seen[canonical] = line.Line;
    }

    private int SlotNumber(OptionLine line, string digits) =>
        SpamFilterHostOptions.TryParseSlot(digits, out var slot) ? slot : throw Error(line.Line, line.Name, SpamFilterHostOptions.SlotNumberProblem);

    private int PairNumber(OptionLine line, string digits) =>
        int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var pair) && pair < SpamFilterHostOptions.PairCount
            ? pair
            : throw Error(line.Line, line.Name, $"the pair number must be 0 to {SpamFilterHostOptions.PairCount - 1}");
}
