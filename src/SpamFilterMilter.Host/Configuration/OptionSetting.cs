using System.Globalization;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>One line of option.dat as its descriptor reads it.</summary>
/// <param name="Reader">The reader, for the drafts being built, paths and errors.</param>
/// <param name="Name">The option name errors give: as the line wrote it (a directory option's errors give its own name).</param>
/// <param name="Value">The value, blanks around it removed; may be empty.</param>
/// <param name="Line">The 1-based line.</param>
/// <param name="Slot">The slot X the name gives (1 to <see cref="SpamFilterHostOptions.SlotCount"/>), 0 for an option without one.</param>
/// <param name="Pair">The pair M the name gives (0 to <see cref="SpamFilterHostOptions.PairCount"/> - 1), -1 for an option without one.</param>
internal sealed record OptionSetting(HostOptionsReader Reader, string Name, string Value, int Line, int Slot, int Pair)
{
    /// <summary>The error for this line: the file, the line, the option and <paramref name="problem"/>.</summary>
    public SpamFilterConfigurationException Error(string problem, Exception? inner = null) => Reader.Error(Line, Name, problem, inner);

    /// <summary>The value, which must not be empty.</summary>
    public string Required() => Value.Length > 0 ? Value : throw Error("the value is empty");

    /// <summary>
    /// The value as a whole number from <paramref name="min"/> to <paramref name="max"/>; else the value quoted, then
    /// <paramref name="problem"/>; digits that say a larger number (however many) are said to be too large.
    /// </summary>
    public int Integer(int min, int max, string problem)
    {
        if (int.TryParse(Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max)
        {
            return number;
        }

        throw System.Numerics.BigInteger.TryParse(Value, NumberStyles.None, CultureInfo.InvariantCulture, out var big) && big > max
            ? Error($"\"{Value}\" is too large (at most {max})")
            : Error($"\"{Value}\" {problem}");
    }
}
