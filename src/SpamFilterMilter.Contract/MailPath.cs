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
    /// character (CR, LF and NUL above all: <c>a@example.org&gt;\r\nRCPT TO:&lt;evil@example.net</c> would become a
    /// command of its own). Returns its index, or -1 when the text is safe to write into MAIL or RCPT.
    /// </summary>
    public static int FindBadCharacter(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is < ' ' or '\x7F')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The domain of a bare address: after the last <c>@</c>, or null when it has none.</summary>
    public static string? Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? null : address[(at + 1)..];
    }
}
