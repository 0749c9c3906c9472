namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// The one reading of an envelope address the host uses everywhere (the Sieve interpreter, opt-in
/// selection, the editor, the results): angle brackets and surrounding blanks dropped, compared
/// case-insensitively, split at the last <c>@</c>.
/// </summary>
internal static class MailAddress
{
    /// <summary>The address without angle brackets or surrounding blanks (<c>"&lt;a@b&gt;"</c> is <c>a@b</c>).</summary>
    public static string Bare(string address) => address.Trim() is ['<', .. var inner, '>'] ? inner.Trim() : address.Trim();

    /// <summary>True when both are the same address once bare, compared case-insensitively.</summary>
    public static bool Same(string a, string b) => string.Equals(Bare(a), Bare(b), StringComparison.OrdinalIgnoreCase);

    /// <summary>The local part: before the last <c>@</c>, or the whole address when it has none.</summary>
    public static string LocalPart(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address : address[..at];
    }

    /// <summary>The domain: after the last <c>@</c>, or null when the address has none.</summary>
    public static string? Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? null : address[(at + 1)..];
    }
}
