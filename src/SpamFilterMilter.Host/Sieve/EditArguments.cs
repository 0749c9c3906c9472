using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using Dialect = SpamFilterMilter.Contract.ActionStringDialect;

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
    /// A Sieve value becomes the editor's raw value, the exact bytes after the colon: RFC 5293 puts one space before the
    /// value; with <c>:raw</c> (vnd.spamfiltermilter) nothing is added, so a milter's value with no space, a tab or several
    /// blanks is written as it is. With <c>:base64</c> (vnd.spamfiltermilter) the argument is the base64 of the bytes,
    /// for a value that is not UTF-8; else it is taken as UTF-8. Line breaks (LF or CRLF) are kept: the editor writes each
    /// line after the first as a continuation (<see cref="HeaderSyntax.WriteField"/>). A CR that is not part of a CRLF,
    /// or a NUL, would be a line break to some readers and not to others, so it is refused
    /// (<see cref="HeaderSyntax.FindUnsafeByte"/>).
    /// </summary>
    public static RawText FieldValue(Call command, string value)
    {
        RawText bytes;
        try
        {
            bytes = command.Has(Dialect.Base64Tag) ? new RawText(Convert.FromBase64String(value)) : value;
        }
        catch (FormatException e)
        {
            throw command.Error($"{Dialect.Base64Tag} needs the header value in base64", e);
        }

        if (HeaderSyntax.FindUnsafeByte(bytes.Span) >= 0)
        {
            throw command.Error("a header value may not hold a bare CR or a NUL");
        }

        return command.Has(Dialect.RawTag) ? bytes : new RawText([(byte)' ', .. bytes.Span]);
    }

    /// <summary>
    /// An envelope address: one path an SMTP command can carry (<see cref="MailPath.PathProblem"/>), and not empty unless
    /// <paramref name="nullAllowed"/> (<c>addrecipient "&lt;&gt;"</c>, the plug-in's form of a milter's SMFIR_ADDRCPT
    /// of the null address, which the editor ignores with a note, as Postfix does).
    /// </summary>
    public static string Address(Call command, string address, bool nullAllowed = false)
    {
        if (!nullAllowed && MailPath.Bare(address).Length == 0)
        {
            throw command.Error($"{LogText.Quote(address)} is not an address");
        }

        if (MailPath.PathProblem(address) is { } problem)
        {
            throw command.Error($"{LogText.Quote(address)} is not one address: {problem}");
        }

        return address;
    }

    /// <summary>The new envelope sender: one path an SMTP command can carry; empty (or <c>&lt;&gt;</c>) is the null sender.</summary>
    public static string Sender(Call command, string sender) =>
        MailPath.PathProblem(Text(command, sender, "the sender")) is { } problem // a control character is said as such first
            ? throw command.Error($"{LogText.Quote(sender)} is not one address: {problem}")
            : sender;

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
