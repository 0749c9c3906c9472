namespace SpamFilterMilter.Contract;

/// <summary>
/// The one reading of an envelope address (an SMTP reverse-path or forward-path) that the plug-in and the host
/// share: angle brackets and surrounding blanks are not part of the address, addresses compare
/// case-insensitively, and the domain is what follows the last <c>@</c>.
/// </summary>
public static class MailPath
{
    /// <summary>The address in angle brackets, as SMTP writes it (<c>a@b</c> is <c>&lt;a@b&gt;</c>); the null sender is <c>&lt;&gt;</c>.</summary>
    public static string Bracket(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var trimmed = address.Trim();
        return trimmed.StartsWith('<') ? trimmed : "<" + trimmed + ">";
    }

    /// <summary>
    /// The address of <paramref name="localPart"/> at <paramref name="domain"/>, the local part quoted as RFC 5321 asks when
    /// it is not a dot-string (<c>john doe</c> is <c>"john doe"</c>, a quote or backslash in it escaped), as Postfix's
    /// quote_821_local writes it: for a server that handed over the local part with its quotes taken off.
    /// </summary>
    public static string Address(string localPart, string domain)
    {
        ArgumentNullException.ThrowIfNull(localPart);
        ArgumentNullException.ThrowIfNull(domain);
        return (IsDotString(localPart) ? localPart : "\"" + localPart.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"")
            + "@" + domain;

        // Atoms of atext (or of UTF-8, RFC 6531) joined by single dots.
        static bool IsDotString(string text)
        {
            if (text.Length == 0 || text[0] == '.' || text[^1] == '.' || text.Contains("..", StringComparison.Ordinal))
            {
                return false;
            }

            foreach (var c in text)
            {
                if (c <= '\x7F' && !DotStringAscii.Contains(c))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The ASCII a dot-string may hold: atext (RFC 5321) and the dot.</summary>
    private static readonly System.Buffers.SearchValues<char> DotStringAscii =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.");

    /// <summary>The address without angle brackets or surrounding blanks (<c>&lt;a@b&gt;</c> is <c>a@b</c>; the null sender is empty).</summary>
    public static string Bare(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.Trim() is ['<', .. var inner, '>'] ? inner.Trim() : address.Trim();
    }

    /// <summary>True when both are the same address once bare, compared case-insensitively.</summary>
    public static bool Same(string a, string b) => string.Equals(Bare(a), Bare(b), StringComparison.OrdinalIgnoreCase);

    /// <summary>The local part of a bare address: before the last <c>@</c>, or the whole address when it has none.</summary>
    public static string LocalPart(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address : address[..at];
    }

    /// <summary>
    /// The first character of an envelope address or ESMTP parameter that no SMTP command can carry: a control
    /// character, C1's included (CR, LF and NUL above all: <c>a@example.org&gt;\r\nRCPT TO:&lt;evil@example.net</c> would become a
    /// command of its own). Returns its index, or -1 when the text is safe to write into MAIL or RCPT.
    /// </summary>
    public static int FindBadCharacter(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsControl(text[i])) // C0, DEL and C1: a Latin-1 byte 0x85 or 0x9B read as text is one too
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Why <paramref name="text"/> is not one envelope address that MAIL or RCPT can carry as its path, or null when it
    /// is one: a control character anywhere, or outside a quoted local part a blank or an angle bracket other than the
    /// pair around the whole (<c>&lt;a@example.org&gt; NOTIFY=NEVER</c> written as an address would become a parameter
    /// of its own at the next hop). Blanks around the whole are allowed; the null sender <c>&lt;&gt;</c> is one path.
    /// </summary>
    public static string? PathProblem(ReadOnlySpan<char> text)
    {
        if (FindBadCharacter(text) is >= 0 and var bad)
        {
            return $"a control character (\\x{(int)text[bad]:x2})";
        }

        var path = text.Trim(" \t");
        if (path.StartsWith('<'))
        {
            if (!path.EndsWith('>') || path.Length < 2)
            {
                return "text after the closing '>', or no closing '>'";
            }

            path = path[1..^1].Trim(" \t"); // as Bare reads it
        }

        var quoted = false;
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (quoted)
            {
                i += c == '\\' ? 1 : 0; // a quoted pair: the next character is taken as it is
                quoted = c != '"';
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c is ' ' or '\t' or '<' or '>')
            {
                return c is ' ' or '\t' ? "a blank outside a quoted local part" : $"'{c}' inside the address";
            }
        }

        return quoted ? "a quoted local part without its closing '\"'" : null;
    }

    /// <summary>The domain of a bare address: after the last <c>@</c>, or null when it has none.</summary>
    public static string? Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? null : address[(at + 1)..];
    }
}
