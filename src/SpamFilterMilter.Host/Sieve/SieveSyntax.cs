using System.Globalization;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>An argument of a command or test as written: a tag, a number, or a string or string list.</summary>
internal abstract record Argument(int Line, int Column);

/// <summary><c>:name</c>; <see cref="Name"/> is lower case, with the colon.</summary>
internal sealed record TagArgument(string Name, int Line, int Column) : Argument(Line, Column);

/// <summary>A number, K/M/G suffixes applied.</summary>
internal sealed record NumberArgument(long Value, int Line, int Column) : Argument(Line, Column);

/// <summary>A quoted or multi-line string (<see cref="IsList"/> false) or a <c>[...]</c> list.</summary>
internal sealed record StringsArgument(IReadOnlyList<string> Values, bool IsList, int Line, int Column) : Argument(Line, Column);

/// <summary>A command or a test after its arguments were checked against its signature.</summary>
internal sealed class Call(string name, int line, int column)
{
    public string Name { get; } = name;

    public int Line { get; } = line;

    public int Column { get; } = column;

    /// <summary>Tags given, with their parameter (a number or string argument) or null for a flag.</summary>
    public Dictionary<string, Argument?> Tags { get; } = new(StringComparer.Ordinal);

    public List<Argument> Positional { get; } = [];

    public List<Call> Tests { get; } = [];

    /// <summary>True when the tests were written as a test list in parentheses (allof, anyof), false for one test.</summary>
    public bool TestList { get; set; }

    public List<Call>? Block { get; set; }

    public bool Has(string tag) => Tags.ContainsKey(tag);

    public string String(int index) => ((StringsArgument)Positional[index]).Values[0];

    public string? OptionalString(int index) => index < Positional.Count ? String(index) : null;

    public IReadOnlyList<string> Strings(int index) => index < Positional.Count ? ((StringsArgument)Positional[index]).Values : [];

    public long? TagNumber(string tag) => Tags.GetValueOrDefault(tag) is NumberArgument n ? n.Value : null;

    public string? TagString(string tag) => Tags.GetValueOrDefault(tag) is StringsArgument s ? s.Values[0] : null;

    public SieveException Error(string problem, Exception? inner = null) => new(Line, Column, problem, inner);

    /// <summary>The call in one line for the host's log, e.g. <c>fileinto "Junk"</c>; a replacebody's base64 is cut at 40 characters.</summary>
    public string Describe()
    {
        var words = new List<string> { Name };
        foreach (var (tag, parameter) in Tags)
        {
            words.Add(tag);
            if (parameter is NumberArgument n)
            {
                words.Add(n.Value.ToString(CultureInfo.InvariantCulture));
            }
            else if (parameter is StringsArgument s)
            {
                words.Add(Quote(s.Values[0]));
            }
        }

        foreach (var argument in Positional.OfType<StringsArgument>())
        {
            var quoted = argument.Values.Select(v => Quote(Name == "replacebody" && v.Length > 40 ? v[..40] + "..." : v));
            words.Add(argument.IsList ? "[" + string.Join(", ", quoted) + "]" : string.Join(", ", quoted));
        }

        return string.Join(' ', words);
    }

    private static string Quote(string text) =>
        "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";
}
