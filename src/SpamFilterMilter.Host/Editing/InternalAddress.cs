using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Editing;

/// <summary>
/// An envelope address in Postfix's internal form, the form its cleanup server compares a milter's SMFIR_DELRCPT with
/// (cleanup/cleanup_milter.c, cleanup_del_rcpt: the milter's address through tok822_parse and tok822_internalize, then
/// strcmp with each recipient's original RCPT TO address, itself stored in internal form by smtpd): without the angle
/// brackets, a quoted local part's quotes taken off and its backslash escapes resolved (<c>"john doe"@example.net</c> is
/// <c>john doe@example.net</c>, as is <c>"john\ doe"@example.net</c>; <c>"carol"@example.net</c> is
/// <c>carol@example.net</c>), letters kept in their case.
/// </summary>
internal static class InternalAddress
{
    public static string Of(string address)
    {
        var bare = MailPath.Bare(address);
        if (bare.IndexOfAny(['"', '\\']) < 0)
        {
            return bare;
        }

        var text = new System.Text.StringBuilder(bare.Length);
        for (var i = 0; i < bare.Length; i++)
        {
            var c = bare[i];
            if (c == '\\')
            {
                if (++i < bare.Length)
                {
                    text.Append(bare[i]); // a quoted pair, in or out of quotes: the character itself (tok822's COLLECT); a last one is dropped
                }
            }
            else if (c != '"') // the quotes of a quoted string are not part of it
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }

    /// <summary>True when both are the same address to Postfix: the same internal form, compared byte for byte (strcmp).</summary>
    public static bool Same(string a, string b) => string.Equals(Of(a), Of(b), StringComparison.Ordinal);
}
