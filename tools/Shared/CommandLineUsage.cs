using System.CommandLine;
using System.CommandLine.Parsing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Tools;

/// <summary>
/// What every tool does with a wrong command line: says what is wrong, one line each, and does nothing else
/// (<see cref="ToolExitCode.Usage"/>). One file, compiled into each tool that parses a command line.
/// </summary>
internal static class CommandLineUsage
{
    /// <summary>Writes the errors of <paramref name="parsed"/> to <paramref name="error"/>; true when there were any.</summary>
    public static async Task<bool> RefuseAsync(ParseResult parsed, TextWriter error)
    {
        foreach (var problem in parsed.Errors)
        {
            await error.WriteLineAsync(Say(problem)).ConfigureAwait(false);
        }

        if (parsed.Errors.Count > 0 && parsed.CommandResult.Command is { Subcommands.Count: > 0 } command
            && (command.Action is null || parsed.UnmatchedTokens.Count > 0))
        {
            // No command given, or one it does not know: the ones it has, rather than only "required command was not provided".
            await error.WriteLineAsync($"Commands: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))} ({command.Name} --help says more).")
                .ConfigureAwait(false);
        }

        return parsed.Errors.Count > 0;
    }

    /// <summary>
    /// One problem, in words: a value that is not a number names the option as it was typed and the value, where
    /// System.CommandLine would name a .NET type ("as expected type 'System.Nullable`1[System.Int32]'").
    /// </summary>
    private static string Say(ParseError problem)
    {
        var option = problem.SymbolResult switch
        {
            OptionResult result => result,
            ArgumentResult { Parent: OptionResult result } => result,
            _ => null,
        };
        if (option is null || option.Tokens.Count == 0)
        {
            return problem.Message;
        }

        var name = option.IdentifierToken?.Value ?? option.Option.Name;
        var type = Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType;
        var value = option.Tokens[^1].Value;
        var whole = type == typeof(int) || type == typeof(long);
        if (problem.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal) && (whole || type == typeof(double)))
        {
            // Digits too many for the type are a number out of range, not a malformed one.
            return whole && System.Numerics.BigInteger.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var big)
                ? $"{name}: {value} is too {(big.Sign < 0 ? "small" : "large")}."
                : $"{name}: \"{value}\" is not {(whole ? "a whole number" : "a number")}.";
        }

        // Otherwise its own words on one line ("Must be one of:" lists a value a line), with the option they are about.
        var words = string.Join(' ', problem.Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return words.Contains(name, StringComparison.Ordinal) ? words : $"{name}: {words}";
    }
}
