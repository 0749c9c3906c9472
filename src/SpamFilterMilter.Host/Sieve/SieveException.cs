using System.Globalization;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// A Sieve script could not be parsed, uses something this interpreter does not support, or failed while
/// running. <see cref="Exception.Message"/> reads <c>line 2, column 1: unsupported command "vacation"</c>.
/// </summary>
public sealed class SieveException : Exception
{
    /// <summary>Creates the exception for a problem at <paramref name="line"/>, <paramref name="column"/> (1-based).</summary>
    public SieveException(int line, int column, string problem, Exception? inner = null)
        : base($"line {line.ToString(CultureInfo.InvariantCulture)}, column {column.ToString(CultureInfo.InvariantCulture)}: {problem}", inner)
    {
        Line = line;
        Column = column;
        Problem = problem;
    }

    /// <summary>The 1-based line of the script.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the script.</summary>
    public int Column { get; }

    /// <summary>The problem without the position.</summary>
    public string Problem { get; }
}
