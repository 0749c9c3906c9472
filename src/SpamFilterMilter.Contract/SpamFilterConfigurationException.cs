namespace SpamFilterMilter.Contract;

/// <summary>
/// A configuration file is wrong. The message names the file, the line and the option, so an
/// administrator can go straight to it.
/// </summary>
public sealed class SpamFilterConfigurationException : Exception
{
    /// <summary>Creates the exception for a problem at <paramref name="filePath"/>:<paramref name="line"/>.</summary>
    public SpamFilterConfigurationException(string filePath, int line, string? option, string problem, Exception? inner = null)
        : base(Format(filePath, line, option, problem), inner)
    {
        FilePath = filePath;
        Line = line;
        Option = option;
        Problem = problem;
    }

    /// <summary>The file at fault.</summary>
    public string FilePath { get; }

    /// <summary>The 1-based line at fault, or 0 when the problem is the file as a whole (e.g. a required option is missing).</summary>
    public int Line { get; }

    /// <summary>The option at fault, or null.</summary>
    public string? Option { get; }

    /// <summary>The problem without the location.</summary>
    public string Problem { get; }

    /// <summary>
    /// The other problems found in the same reading, after this one (each with its own file, line and option): an
    /// administrator's check (<c>check-config</c>) reports every bad line at once; empty when this was the only one.
    /// </summary>
    public IReadOnlyList<SpamFilterConfigurationException> MoreProblems { get; private init; } = [];

    /// <summary>This problem, then every one in <see cref="MoreProblems"/>: what to report, one line each.</summary>
    public IReadOnlyList<SpamFilterConfigurationException> AllProblems => [this, .. MoreProblems];

    /// <summary>
    /// The first of <paramref name="problems"/>, carrying the others as <see cref="MoreProblems"/>; what a reader that
    /// reads on after a bad line throws.
    /// </summary>
    public static SpamFilterConfigurationException Combine(IReadOnlyList<SpamFilterConfigurationException> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (problems.Count == 0)
        {
            throw new ArgumentException("No problem to report.", nameof(problems));
        }

        var first = problems[0];
        return problems.Count == 1 ? first : new SpamFilterConfigurationException(first.FilePath, first.Line, first.Option, first.Problem, first.InnerException)
        {
            MoreProblems = [.. problems.Skip(1)],
        };
    }

    /// <summary>
    /// <paramref name="problems"/> of one file in the order an administrator reads it, top down, a problem of the file as a
    /// whole (line 0) last; problems on one line keep their order. For a reader whose passes find problems out of order.
    /// </summary>
    public static IEnumerable<SpamFilterConfigurationException> InFileOrder(IEnumerable<SpamFilterConfigurationException> problems) =>
        problems.OrderBy(p => p.Line == 0 ? int.MaxValue : p.Line);

    /// <summary>
    /// As <see cref="Exception.ToString"/> gives it, then, one per line, the message of each of <see cref="MoreProblems"/>
    /// (as <see cref="AggregateException"/> lists its inner exceptions): an unhandled or logged exception shows every
    /// bad line, where <see cref="Exception.Message"/> stays this one's alone (a report that lists
    /// <see cref="AllProblems"/> prints each once).
    /// </summary>
    public override string ToString() =>
        MoreProblems.Count == 0 ? base.ToString()
            : base.ToString() + Environment.NewLine + $"and {MoreProblems.Count} more problem(s) in the same reading:"
              + string.Concat(MoreProblems.Select(p => Environment.NewLine + "   " + p.Message));

    private static string Format(string filePath, int line, string? option, string problem)
    {
        var where = line > 0 ? $"{filePath}:{line}" : filePath;
        return option is null ? $"{where}: {problem}" : $"{where}: option {option}: {problem}";
    }
}
