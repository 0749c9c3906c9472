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
    /// becomes CRLF) must fold, i.e. be followed by a space or tab: any other CR or LF, or a NUL, would
    /// put a line of the script's making into the message, so it is refused.
    /// </summary>
    public static string FieldValue(Call command, string value, bool raw)
    {
        var text = value.Replace("\r\n", "\n", StringComparison.Ordinal);
        for (var i = text.IndexOf('\n', StringComparison.Ordinal); i >= 0; i = text.IndexOf('\n', i + 1))
        {
            if (i + 1 >= text.Length || text[i + 1] is not (' ' or '\t'))
            {
                throw command.Error("a header value may break lines only to fold them (the next line must start with a space or tab)");
            }
        }

        if (text.Contains('\r', StringComparison.Ordinal) || text.Contains('\0', StringComparison.Ordinal))
        {
            throw command.Error("a header value may not hold a bare CR or a NUL");
        }

        return (raw ? string.Empty : " ") + text.Replace("\n", "\r\n", StringComparison.Ordinal);
    }

    public static string Address(Call command, string address)
    {
        if (MailPath.Bare(address).Length == 0 || address.Contains('\n', StringComparison.Ordinal))
        {
            throw command.Error($"\"{address}\" is not an address");
        }

        return address;
    }
}
