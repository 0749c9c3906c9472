namespace SpamFilterMilter.Contract;

/// <summary>
/// The one shape of ESMTP parameters (<c>BODY=8BITMIME</c>, <c>NOTIFY=SUCCESS</c>, <c>SMTPUTF8</c>) that the plug-in
/// and the host share: a list, one parameter per entry, never null (empty means none), in the order given. Two lists
/// are equal when they hold the same parameters in the same order, compared exactly.
/// </summary>
public static class EsmtpParameters
{
    /// <summary>
    /// The parameters of a space-separated string, as a milter sends them with SMFIR_CHGFROM and SMFIR_ADDRCPT_PAR and as
    /// Postfix reads them (<c>argv_split(args, " ")</c>): empty entries between repeated spaces are dropped. Null or
    /// blank gives the empty list.
    /// </summary>
    public static IReadOnlyList<string> Split(string? text) =>
        string.IsNullOrEmpty(text) ? [] : text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The keyword of a parameter: the text before its <c>=</c> (the whole parameter when it has none).</summary>
    public static string Keyword(string parameter) => KeywordAndValue(parameter).Keyword;

    /// <summary>
    /// A parameter split at its first <c>=</c>: the keyword before it, the value after it (<c>ORCPT=rfc822;a=b</c> is
    /// <c>ORCPT</c> and <c>rfc822;a=b</c>). The value is null when there is no <c>=</c> (<c>SMTPUTF8</c>) and empty when
    /// nothing follows it (<c>RET=</c>).
    /// </summary>
    public static (string Keyword, string? Value) KeywordAndValue(string parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        var equals = parameter.IndexOf('=', StringComparison.Ordinal);
        return equals < 0 ? (parameter, null) : (parameter[..equals], parameter[(equals + 1)..]);
    }

    /// <summary>True when both hold the same parameters in the same order (null counts as empty).</summary>
    public static bool Equal(IReadOnlyList<string>? a, IReadOnlyList<string>? b)
    {
        a ??= [];
        b ??= [];
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i], b[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A hash code that agrees with <see cref="Equal"/>.</summary>
    public static int HashOf(IReadOnlyList<string>? parameters)
    {
        var hash = new HashCode();
        foreach (var parameter in parameters ?? [])
        {
            hash.Add(parameter, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }

    /// <summary>How the records that carry parameters print their members: the list's entries, not its type.</summary>
    internal static bool PrintRecord(System.Text.StringBuilder builder, string address, IReadOnlyList<string> parameters)
    {
        builder.Append("Address = ").Append(address).Append(", Parameters = [").AppendJoin(", ", parameters).Append(']');
        return true;
    }
}
