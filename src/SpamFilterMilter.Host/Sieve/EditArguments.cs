using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// What a script's arguments become in the message editor's edits, checked: an :index, a header field
/// name, a field value (RFC 5293's leading space, folds only), an address. A wrong one is a
/// <see cref="SieveException"/> at the command.
/// </summary>
internal static class EditArguments
{
    public static int Index(Call command) => (int)Math.Clamp(command.TagNumber(":index")!.Value, 0, int.MaxValue);

    public static string FieldName(Call command, string name)
    {
        if (!HeaderSyntax.IsFieldName(Encoding.UTF8.GetBytes(name)) || name != name.Trim())
        {
            throw command.Error($"\"{name}\" is not a header field name");
        }

        return name;
    }

    /// <summary>
    /// A Sieve value becomes the editor's raw value, the exact text after the colon: RFC 5293 puts one
    /// space before the value; with <c>:raw</c> (vnd.spamfiltermilter) nothing is added, so a milter's
    /// value with no space, a tab or several blanks is written as it is. Line breaks (CRLF, or LF which
    /// becomes CRLF) must fold (the Contract's <see cref="HeaderSyntax.FindBadLineBreak"/>): any other CR or
    /// LF, or a NUL, would put a line of the script's making into the message, so it is refused.
    /// </summary>
    public static string FieldValue(Call command, string value, bool raw)
    {
        var text = value.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        if (HeaderSyntax.FindBadLineBreak(text) is >= 0 and var bad)
        {
            throw command.Error(text[bad] is '\r' && (bad + 1 >= text.Length || text[bad + 1] != '\n') || text[bad] == '\0'
                ? "a header value may not hold a bare CR or a NUL"
                : "a header value may break lines only to fold them (the next line must start with a space or tab)");
        }

        return (raw ? string.Empty : " ") + text;
    }

    /// <summary>An envelope address: not empty, and nothing an SMTP command cannot carry (<see cref="MailPath.FindBadCharacter"/>).</summary>
    public static string Address(Call command, string address)
    {
        if (MailPath.Bare(address).Length == 0 || MailPath.FindBadCharacter(address) >= 0)
        {
            throw command.Error($"{LogText.Quote(address)} is not an address");
        }

        return address;
    }

    /// <summary>ESMTP parameters, or a quarantine reason: nothing an SMTP command or a log line cannot carry.</summary>
    public static string Text(Call command, string text, string what)
    {
        if (MailPath.FindBadCharacter(text) >= 0)
        {
            throw command.Error($"a control character in {what}: {LogText.Quote(text)}");
        }

        return text;
    }
}
