using System.Globalization;
using System.Text.RegularExpressions;

namespace SpamFilterMilter.Host.Configuration;

/// <summary>
/// One option of option.dat: the names it answers to, its default and meaning as documented, and how the
/// value of a line that names it is read.
/// </summary>
/// <param name="Pattern">
/// The name, with <c>{X}</c> where the slot number goes (digits, none meaning slot 1) and <c>{M}</c> where
/// the pair number goes, e.g. <c>spamfilter{X}_verdict_{M}</c>; names compare case-insensitively.
/// </param>
/// <param name="Default">The default as documented (<c>none</c> when there is none).</param>
/// <param name="Meaning">One sentence.</param>
/// <param name="Apply">Reads one line's value into the options being built; a bad value is <see cref="OptionSetting.Error"/>.</param>
internal sealed record HostOptionDescriptor(string Pattern, string Default, string Meaning, Action<OptionSetting> Apply)
{
    private const string Slot = "{X}";
    private const string Pair = "{M}";

    private readonly Regex _names = new(
        "^" + Regex.Escape(Pattern).Replace(Regex.Escape(Slot), "(?<x>[0-9]*)", StringComparison.Ordinal).Replace(Regex.Escape(Pair), "(?<m>[0-9]+)", StringComparison.Ordinal) + "$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>The name as the documentation writes it: X for the slot, M for the pair (<c>spamfilterX_verdict_M</c>).</summary>
    public string Name { get; } = Pattern.Replace(Slot, "X", StringComparison.Ordinal).Replace(Pair, "M", StringComparison.Ordinal);

    /// <summary>True when the name holds a slot number.</summary>
    public bool HasSlot => Pattern.Contains(Slot, StringComparison.Ordinal);

    /// <summary>True when the name holds a pair number.</summary>
    public bool HasPair => Pattern.Contains(Pair, StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="name"/> is this option's; its groups <c>x</c> and <c>m</c> hold the digits of
    /// the slot and pair numbers as written (checked by the reader, so that a wrong number is said as such).
    /// </summary>
    public Match Match(string name) => _names.Match(name);

    /// <summary>
    /// The option's name for slot <paramref name="slot"/> and pair <paramref name="pair"/>, e.g.
    /// <c>spamfilter1_verdict_0</c>: one name however the line wrote it (<c>spamfilter_library</c> and
    /// <c>SPAMFILTER1_LIBRARY</c> are the same option).
    /// </summary>
    public string NameFor(int slot, int pair) => Pattern
        .Replace(Slot, slot.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace(Pair, pair.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
