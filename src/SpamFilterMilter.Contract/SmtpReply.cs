using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace SpamFilterMilter.Contract;

/// <summary>How the text of an SMTP reply is written where it comes from (see <see cref="SmtpReply.TryParse"/>).</summary>
public enum SmtpReplySyntax
{
    /// <summary>
    /// As a milter sends it (SMFIR_REPLYCODE), judged by Postfix's rules (milter8_valid_smtp_reply): lines are
    /// separated by CRLF and hold no other CR, LF or NUL; an enhanced status code must be of the reply's class;
    /// sendmail-style doubled <c>%%</c> is undone and a lone <c>%</c> dropped (sendmail formats the text).
    /// </summary>
    Milter,

    /// <summary>
    /// As a person or a script writes it (a Sieve <c>ereject</c>, a configuration value): lines separated by
    /// CRLF or LF, a final line break ignored; text that looks like an enhanced status code of another class is
    /// text; <c>%</c> is an ordinary character.
    /// </summary>
    Text,
}

/// <summary>A complete SMTP reply: code, optional enhanced status code, text; possibly several lines.</summary>
public sealed record SmtpReply
{
    /// <summary>Creates a one-line reply.</summary>
    public SmtpReply(int code, string? enhancedCode, string text) : this(code, enhancedCode, [text]) { }

    /// <summary>Creates a reply of one or more lines sharing one code and enhanced code.</summary>
    public SmtpReply(int code, string? enhancedCode, IReadOnlyList<string> lines)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(code, 200);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(code, 599);
        if (lines.Count == 0)
        {
            throw new ArgumentException("A reply has at least one line.", nameof(lines));
        }

        Code = code;
        EnhancedCode = enhancedCode;
        Lines = lines;
    }

    /// <summary>The reply for a filter's REJECT that gave no text of its own (Postfix's wording).</summary>
    public static SmtpReply DefaultReject { get; } = new(550, "5.7.1", "Command rejected");

    /// <summary>The reply for a filter's TEMPFAIL that gave no text of its own, and for a filter that cannot be used (Postfix's wording).</summary>
    public static SmtpReply DefaultTempFail { get; } = new(451, "4.7.1", "Service unavailable - try again later");

    /// <summary>The three-digit reply code (e.g. 550).</summary>
    public int Code { get; }

    /// <summary>The enhanced status code (RFC 3463, e.g. <c>5.7.1</c>), or null.</summary>
    public string? EnhancedCode { get; }

    /// <summary>The text of each line, without code and enhanced code.</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>True for 4xx replies.</summary>
    public bool IsTransient => Code is >= 400 and < 500;

    /// <summary>Replies are equal when code, enhanced code and every line are.</summary>
    public bool Equals(SmtpReply? other) =>
        other is not null && Code == other.Code && EnhancedCode == other.EnhancedCode && Lines.SequenceEqual(other.Lines);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Code, EnhancedCode, Lines.Count > 0 ? Lines[0] : null);

    /// <summary>The reply as it goes on the wire, lines joined by CRLF (no final CRLF).</summary>
    public override string ToString()
    {
        var prefix = EnhancedCode is null ? string.Empty : EnhancedCode + " ";
        var parts = new string[Lines.Count];
        for (var i = 0; i < Lines.Count; i++)
        {
            var separator = i == Lines.Count - 1 ? ' ' : '-';
            parts[i] = Lines[i].Length == 0 && EnhancedCode is null
                ? $"{Code}{(separator == '-' ? "-" : string.Empty)}"
                : $"{Code}{separator}{prefix}{Lines[i]}";
        }

        return string.Join("\r\n", parts);
    }

    /// <summary>
    /// Reads <paramref name="text"/> as a complete 4xx or 5xx reply of one or more lines: every line starts with the
    /// same code followed by <c>-</c> (more lines follow) or a space or nothing (the last line), and may go on with an
    /// RFC 3463 enhanced status code. One enhanced code shared by every line becomes <see cref="EnhancedCode"/>;
    /// otherwise each line keeps its own in its text. The one parser for replies the plug-in and the host read;
    /// <paramref name="syntax"/> says where the text comes from. Returns false with <paramref name="problem"/>
    /// saying why when the text is not such a reply.
    /// </summary>
    public static bool TryParse(string text, SmtpReplySyntax syntax, [NotNullWhen(true)] out SmtpReply? reply, [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        reply = null;
        if (syntax == SmtpReplySyntax.Text)
        {
            text = text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n');
        }

        if (text.Length == 0)
        {
            problem = "the reply text is empty";
            return false;
        }

        var rawLines = syntax == SmtpReplySyntax.Text ? text.Split('\n') : text.Split("\r\n");
        var code = 0;
        var enhancedCodes = new string?[rawLines.Length];
        var texts = new string[rawLines.Length];
        for (var i = 0; i < rawLines.Length; i++)
        {
            var line = rawLines[i];
            var last = i == rawLines.Length - 1;
            if (line.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                problem = $"line {i + 1} holds a CR, LF or NUL that is not part of a {(syntax == SmtpReplySyntax.Text ? "line break" : "CRLF line break")}";
                return false;
            }

            if (line.Length < 3 || line[0] is not ('4' or '5') || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2]))
            {
                problem = $"line {i + 1} does not start with a 4xx or 5xx code: {LogText.Quote(line, 40)}";
                return false;
            }

            var lineCode = int.Parse(line.AsSpan(0, 3), CultureInfo.InvariantCulture);
            if (i == 0)
            {
                code = lineCode;
            }
            else if (lineCode != code)
            {
                problem = $"line {i + 1} has code {lineCode}, the first line {code}";
                return false;
            }

            if (syntax == SmtpReplySyntax.Milter && line.Length < 4)
            {
                // Postfix's milter8_valid_smtp_reply: every line a code and its separator, the last one's a space.
                problem = $"line {i + 1} is a code without the {(last ? "space" : "'-'")} after it: {LogText.Quote(line, 40)}";
                return false;
            }

            var separator = line.Length > 3 ? line[3] : (char?)null;
            if (!last && separator != '-')
            {
                problem = $"line {i + 1} is not the last line but its code is not followed by '-'";
                return false;
            }

            if (last && separator is not (null or ' '))
            {
                problem = $"the last line's code is followed by '{separator}' instead of a space";
                return false;
            }

            var rest = line.Length > 4 ? line[4..] : string.Empty;
            if (EnhancedCodeOf(rest) is { } enhanced)
            {
                if (enhanced[0] == line[0])
                {
                    enhancedCodes[i] = enhanced;
                    rest = rest.Length > enhanced.Length ? rest[(enhanced.Length + 1)..] : string.Empty;
                }
                else if (syntax == SmtpReplySyntax.Milter)
                {
                    problem = $"enhanced status code {enhanced} does not match reply code {code}";
                    return false;
                }
            }
            else if (syntax == SmtpReplySyntax.Milter && rest.Length > 0 && char.IsAsciiDigit(rest[0]) && rest[0] != line[0])
            {
                // Postfix's rule too: text that starts with a digit of another class reads as a mismatched enhanced code.
                problem = $"line {i + 1}'s text starts with a digit that is not its code's class ({line[0]}): {LogText.Quote(line, 40)}";
                return false;
            }

            texts[i] = syntax == SmtpReplySyntax.Milter ? UndoSendmailPercent(rest) : rest;
        }

        var shared = enhancedCodes[0];
        if (shared is not null && enhancedCodes.All(e => e == shared))
        {
            reply = new SmtpReply(code, shared, texts);
        }
        else
        {
            for (var i = 0; i < texts.Length; i++)
            {
                if (enhancedCodes[i] is { } own)
                {
                    texts[i] = texts[i].Length == 0 ? own : own + " " + texts[i];
                }
            }

            reply = new SmtpReply(code, null, texts);
        }

        problem = null;
        return true;
    }

    /// <summary>The RFC 3463 code ("5.7.1") that <paramref name="rest"/> starts with, followed by a space or nothing; else null.</summary>
    private static string? EnhancedCodeOf(string rest)
    {
        var end = rest.IndexOf(' ', StringComparison.Ordinal);
        var candidate = end < 0 ? rest : rest[..end];
        var parts = candidate.Split('.');
        return parts.Length == 3 && parts[0] is ("2" or "4" or "5") && IsDigits(parts[1]) && IsDigits(parts[2]) ? candidate : null;
    }

    private static bool IsDigits(string s) => s.Length is >= 1 and <= 3 && s.All(char.IsAsciiDigit);

    /// <summary>Sendmail formats a milter's reply text, so milters double '%': "%%" is one '%', a lone '%' is dropped (as in Postfix).</summary>
    private static string UndoSendmailPercent(string text)
    {
        if (!text.Contains('%', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '%')
            {
                result.Append(text[i]);
            }
            else if (i + 1 < text.Length && text[i + 1] == '%')
            {
                result.Append('%');
                i++;
            }
        }

        return result.ToString();
    }
}
