using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// Which ESMTP parameters of a filter's envelope edit take effect: Postfix's rules (cleanup_milter.c
/// <c>cleanup_chg_from</c>, <c>cleanup_add_rcpt_par</c>; lab captures 10, 23 and 24), the MTA milters are tested
/// against. The plug-in reports the milter's edit as it was; the host applies it here.
/// <list type="bullet">
/// <item>A sender change with parameters honours only <c>RET=FULL|HDRS</c> and <c>ENVID=</c>xtext (printable once
///       decoded): each replaces the client's own, the last valid one wins. Every other parameter of the client's
///       MAIL stays (<c>BODY=</c> above all: RFC 6152 content must not lose its declaration; <c>SIZE</c>,
///       <c>SMTPUTF8</c>, <c>AUTH</c>), and every other parameter the filter gave is ignored.</item>
/// <item>A sender change without parameters keeps all of the client's.</item>
/// <item>An added recipient honours only <c>NOTIFY=</c> (NEVER, or SUCCESS, FAILURE, DELAY) and
///       <c>ORCPT=</c>type;xtext, the first valid one of each; the rest is ignored. The recipient is added all the same.</item>
/// </list>
/// Every ignored parameter gets a note naming it (Postfix logs a warning for each).
/// </summary>
internal static class EnvelopeParameters
{
    private static readonly string[] NotifyWords = ["SUCCESS", "FAILURE", "DELAY"];

    /// <summary>The MAIL parameters after a sender change that gave <paramref name="given"/>; what was ignored goes to <paramref name="notes"/>.</summary>
    public static IReadOnlyList<string> AfterSenderChange(IReadOnlyList<string> original, IReadOnlyList<string> given, List<string> notes)
    {
        if (given.Count == 0)
        {
            return original;
        }

        string? ret = null, envid = null;
        foreach (var parameter in given)
        {
            var (keyword, value) = EsmtpParameters.KeywordAndValue(parameter);
            if (keyword.Equals("RET", StringComparison.OrdinalIgnoreCase) && value is not null)
            {
                if (IsRet(value))
                {
                    ret = "RET=" + value.ToUpperInvariant();
                }
                else
                {
                    notes.Add(Ignored(parameter, "a sender change", "RET takes FULL or HDRS"));
                }
            }
            else if (keyword.Equals("ENVID", StringComparison.OrdinalIgnoreCase) && value is not null)
            {
                if (IsEnvid(value))
                {
                    envid = "ENVID=" + value;
                }
                else
                {
                    notes.Add(Ignored(parameter, "a sender change", "ENVID takes xtext that decodes to printable text"));
                }
            }
            else
            {
                notes.Add(Ignored(parameter, "a sender change", "the sender's RET and ENVID are all a filter may change, as in Postfix"));
            }
        }

        var result = new List<string>(original.Count + 2);
        foreach (var parameter in original)
        {
            var keyword = EsmtpParameters.Keyword(parameter);
            if (ret is not null && keyword.Equals("RET", StringComparison.OrdinalIgnoreCase))
            {
                result.Add(ret);
                ret = null;
            }
            else if (envid is not null && keyword.Equals("ENVID", StringComparison.OrdinalIgnoreCase))
            {
                result.Add(envid);
                envid = null;
            }
            else
            {
                result.Add(parameter); // the client's own stay, replaced RET and ENVID in their place
            }
        }

        if (envid is not null)
        {
            result.Add(envid);
        }

        if (ret is not null)
        {
            result.Add(ret);
        }

        return result;
    }

    /// <summary>The parameters an added recipient keeps of <paramref name="given"/>; what was ignored goes to <paramref name="notes"/>.</summary>
    public static IReadOnlyList<string> OfAddedRecipient(IReadOnlyList<string> given, List<string> notes)
    {
        string? notify = null, orcpt = null;
        foreach (var parameter in given)
        {
            var (keyword, value) = EsmtpParameters.KeywordAndValue(parameter);
            if (keyword.Equals("NOTIFY", StringComparison.OrdinalIgnoreCase) && value is not null)
            {
                if (notify is null && IsNotify(value))
                {
                    notify = "NOTIFY=" + CanonicalNotify(value);
                }
                else
                {
                    notes.Add(Ignored(parameter, "an added recipient", notify is null ? "NOTIFY takes NEVER, or SUCCESS, FAILURE and DELAY" : "NOTIFY was given already"));
                }
            }
            else if (keyword.Equals("ORCPT", StringComparison.OrdinalIgnoreCase) && value is not null)
            {
                if (orcpt is null && IsOrcpt(value))
                {
                    orcpt = "ORCPT=" + value;
                }
                else
                {
                    notes.Add(Ignored(parameter, "an added recipient", orcpt is null ? "ORCPT takes type;xtext" : "ORCPT was given already"));
                }
            }
            else
            {
                notes.Add(Ignored(parameter, "an added recipient", "an added recipient's NOTIFY and ORCPT are all a filter may give, as in Postfix"));
            }
        }

        return (notify, orcpt) switch
        {
            (null, null) => [],
            ({ } n, null) => [n],
            (null, { } o) => [o],
            ({ } n, { } o) => [n, o],
        };
    }

    private static string Ignored(string parameter, string edit, string why) =>
        $"the ESMTP parameter {LogText.Quote(parameter)} of {edit} is ignored: {why}";

    /// <summary>RFC 3461 RET: FULL or HDRS (case-insensitive, as Postfix reads it).</summary>
    internal static bool IsRet(string value) =>
        value.Equals("FULL", StringComparison.OrdinalIgnoreCase) || value.Equals("HDRS", StringComparison.OrdinalIgnoreCase);

    /// <summary>RFC 3461 ENVID: xtext that decodes to printable text.</summary>
    internal static bool IsEnvid(string value) => Xtext.Decodes(value, printableOnly: true);

    /// <summary>RFC 3461 ORCPT: a type, a semicolon, then xtext (empty too).</summary>
    internal static bool IsOrcpt(string value)
    {
        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        return semicolon > 0 && Xtext.Decodes(value.AsSpan(semicolon + 1), printableOnly: false);
    }

    /// <summary>
    /// A NOTIFY value as Postfix writes it on (it keeps a mask, and <c>dsn_notify_str</c> writes that): <c>NEVER</c>, or the
    /// words of SUCCESS, FAILURE and DELAY it names, in that order, once each, in upper case (<c>delay,success,delay</c> is
    /// <c>SUCCESS,DELAY</c>). A value that is not one (<see cref="IsNotify"/>) is given back as it is.
    /// </summary>
    internal static string CanonicalNotify(string value) => NotifyWordsOf(value) is { } words ? string.Join(',', words) : value;

    /// <summary>
    /// RFC 3461 NOTIFY as Postfix reads it (<c>dsn_notify_mask</c>): comma-separated words in any case, empty ones between
    /// commas skipped, at least one word; NEVER (once or more) alone, or any of SUCCESS, FAILURE and DELAY. Postfix 3.7
    /// takes <c>NEVER,NEVER</c> and <c>SUCCESS,,DELAY</c>, refuses <c>NOTIFY=</c>, <c>NOTIFY=,</c> and <c>NEVER,SUCCESS</c>.
    /// </summary>
    internal static bool IsNotify(string value) => NotifyWordsOf(value) is not null;

    /// <summary>The words of a NOTIFY value as Postfix writes them (<see cref="CanonicalNotify"/>); null when it is not one.</summary>
    private static string[]? NotifyWordsOf(string value)
    {
        var words = value.Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length > 0 && words.All(w => w.Equals("NEVER", StringComparison.OrdinalIgnoreCase)))
        {
            return ["NEVER"];
        }

        // NEVER beside another word is not among NotifyWords: refused with any unknown word.
        return words.Length > 0 && words.All(w => NotifyWords.Contains(w, StringComparer.OrdinalIgnoreCase))
            ? [.. NotifyWords.Where(w => words.Contains(w, StringComparer.OrdinalIgnoreCase))]
            : null;
    }
}
