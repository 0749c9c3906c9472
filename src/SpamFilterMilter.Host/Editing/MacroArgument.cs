using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// A macro as a person writes it for a tool (<c>spamfilter-milter check --macro</c>, the reference host's envelope
/// file): <c>NAME=VALUE</c>, the name trimmed, the value as given. One reading for both tools, so that what one
/// refuses the other refuses too.
/// </summary>
public static class MacroArgument
{
    /// <summary>The name and value of <paramref name="text"/>.</summary>
    /// <exception cref="FormatException">No name before an <c>=</c>, or a control character in the value.</exception>
    public static (string Name, string Value) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        var name = equals > 0 ? text[..equals].Trim(' ') : string.Empty;
        if (name.Length == 0)
        {
            throw new FormatException("expected NAME=VALUE");
        }

        var value = text[(equals + 1)..];
        return MailPath.FindBadCharacter(value) >= 0 ? throw new FormatException($"a control character in the value of {name}") : (name, value);
    }
}
