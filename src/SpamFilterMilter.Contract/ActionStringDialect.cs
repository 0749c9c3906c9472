using System.Text;

namespace SpamFilterMilter.Contract;

/// <summary>
/// The action string's dialect: what the plug-in writes and the host runs (docs/action-string.md). Standard Sieve
/// where it says exactly what a filter asked (RFC 5228 <c>discard</c>/<c>keep</c>, RFC 5293 <c>addheader</c>/
/// <c>deleteheader</c>, RFC 5429 <c>ereject</c>); the extension <see cref="Capability"/> where Sieve has no command.
/// Both sides take every name and the quoting rule from here, so they cannot drift apart.
/// </summary>
public static class ActionStringDialect
{
    /// <summary>The Sieve capability of this project's own commands.</summary>
    public const string Capability = "vnd.spamfiltermilter";

    /// <summary>The RFC 5293 capability of <c>addheader</c> and <c>deleteheader</c>.</summary>
    public const string EditHeaderCapability = "editheader";

    /// <summary>The RFC 5429 capability of <c>ereject</c>.</summary>
    public const string ERejectCapability = "ereject";

    /// <summary>RFC 5228: cancel the implicit keep (the message is dropped).</summary>
    public const string Discard = "discard";

    /// <summary>RFC 5228: deliver to the inbox.</summary>
    public const string Keep = "keep";

    /// <summary>RFC 5429: refuse with the given SMTP reply (5xx; a 4xx reply refuses for now).</summary>
    public const string ERejectCommand = "ereject";

    /// <summary>RFC 5293: add a header field, at the top or (<see cref="LastTag"/>) at the end.</summary>
    public const string AddHeader = "addheader";

    /// <summary>RFC 5293: delete a header field (<see cref="IndexTag"/> selects the n-th of that name).</summary>
    public const string DeleteHeader = "deleteheader";

    /// <summary><see cref="Capability"/>: refuse for now with the given 4xx reply.</summary>
    public const string TempFail = "tempfail";

    /// <summary><see cref="Capability"/>: hold the message, with a reason.</summary>
    public const string Quarantine = "quarantine";

    /// <summary><see cref="Capability"/>: insert a header field before the field at <see cref="IndexTag"/> of the whole header.</summary>
    public const string InsertHeader = "insertheader";

    /// <summary><see cref="Capability"/>: replace the <see cref="IndexTag"/>-th field of a name.</summary>
    public const string ReplaceHeader = "replaceheader";

    /// <summary><see cref="Capability"/>: add an envelope recipient, optionally with ESMTP parameters.</summary>
    public const string AddRecipient = "addrecipient";

    /// <summary><see cref="Capability"/>: remove an envelope recipient.</summary>
    public const string DeleteRecipient = "deleterecipient";

    /// <summary><see cref="Capability"/>: change the envelope sender, optionally with ESMTP parameters.</summary>
    public const string ChangeSender = "changesender";

    /// <summary>
    /// <see cref="Capability"/>: replace the body with the base64-encoded bytes given, or (<see cref="VerdictTag"/>) with
    /// the body the verdict carries.
    /// </summary>
    public const string ReplaceBody = "replacebody";

    /// <summary><see cref="Capability"/>: refuse one recipient with the given reply; the others keep the message.</summary>
    public const string RejectRecipient = "rejectrecipient";

    /// <summary>The tag that puts an added header field at the end of the header section.</summary>
    public const string LastTag = ":last";

    /// <summary>The tag that selects a header field by position.</summary>
    public const string IndexTag = ":index";

    /// <summary>
    /// <see cref="Capability"/>: <c>replacebody :verdict</c> takes the body of the verdict's <see cref="Contract.ReplaceBody"/>
    /// edit (the last, if there were several) instead of base64 text: a body larger than <see cref="MaxInlineBody"/> is
    /// never copied into the action string.
    /// </summary>
    public const string VerdictTag = ":verdict";

    /// <summary>
    /// The largest body the plug-in writes into the action string (in base64, a third larger); a larger one, or one in a
    /// file, is written <c>replacebody :verdict</c>. 64 KiB keeps the script readable and cheap, and covers a body of one
    /// SMFIR_REPLBODY packet.
    /// </summary>
    public const int MaxInlineBody = 64 * 1024;

    /// <summary>
    /// <see cref="Capability"/>: the header value is the exact text after the colon (no space added). The plug-in
    /// writes it when the value does not start with exactly one space (see <see cref="NeedsRawValue"/>).
    /// </summary>
    public const string RawTag = ":raw";

    /// <summary>
    /// <see cref="Capability"/>: the header value argument is the base64 of its bytes. The plug-in writes it for a value
    /// that is not valid UTF-8 (Latin-1, broken sequences), which a Sieve string cannot hold; the host decodes it to
    /// exactly those bytes. Valid UTF-8 values stay readable, without it. It goes with <see cref="RawTag"/> or without,
    /// as the value needs.
    /// </summary>
    public const string Base64Tag = ":base64";

    /// <summary>
    /// True when a header value (the exact text after the colon) cannot be written the standard way: Sieve's
    /// <c>addheader</c> puts one space after the colon, so a value that starts with exactly one space and then
    /// no blank is written without that space; any other (none, a tab, two blanks, empty) needs <see cref="RawTag"/>.
    /// </summary>
    public static bool NeedsRawValue(RawText value) =>
        !(value.Length >= 1 && value.Span[0] == (byte)' ' && (value.Length == 1 || value.Span[1] is not ((byte)' ' or (byte)'\t')));

    /// <summary>True when a header value must be written with <see cref="Base64Tag"/>: its bytes are not valid UTF-8.</summary>
    public static bool NeedsBase64Value(RawText value) => !value.IsUtf8;

    /// <summary>A Sieve quoted string (RFC 5228 §2.4.2): backslash and double quote escaped; line breaks kept.</summary>
    public static string Quote(string? text)
    {
        var result = new StringBuilder((text?.Length ?? 0) + 2).Append('"');
        foreach (var c in text ?? string.Empty)
        {
            if (c is '"' or '\\')
            {
                result.Append('\\');
            }

            result.Append(c);
        }

        return result.Append('"').ToString();
    }

    /// <summary>A Sieve string list (RFC 5228 §2.4.2.1): <c>["RET=FULL", "ENVID=x"]</c>, each entry <see cref="Quote"/>d.</summary>
    public static string QuoteList(IEnumerable<string> texts) => "[" + string.Join(", ", texts.Select(Quote)) + "]";
}
