namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// The differences between Postfix and our side that this test found and that are not fixed yet: the generator steers
/// away from each input that shows one (one property each, which says what differs), so that a run shows any other
/// difference. <c>SFM_RANDOM_DIFF_UNSTEERED=1</c> turns every steer off, to see them all again (and to check a fix: then
/// remove its steer).
/// </summary>
internal static class Steer
{
    private static readonly bool On = Environment.GetEnvironmentVariable("SFM_RANDOM_DIFF_UNSTEERED") != "1";

    /// <summary>
    /// Postfix's <c>{mail_addr}</c> and <c>{rcpt_addr}</c> are the address as its trivial-rewrite resolved it, in lower
    /// case (<c>Info@Example.COM</c> gives <c>info@example.com</c>); ours are the address as the client wrote it. Steered:
    /// envelope addresses in lower case.
    /// </summary>
    public static bool LowerCaseAddresses => On;

    /// <summary>
    /// A source route (<c>&lt;@relay.example:a@example.com&gt;</c>, in MAIL or RCPT): Postfix drops it, from the MAIL FROM
    /// and RCPT TO its next hop gets and from <c>{mail_addr}</c> and <c>{rcpt_addr}</c> (the ORCPT it adds keeps it); ours
    /// passes it on to both. Steered: no source route.
    /// </summary>
    public static bool NoSourceRoute => On;

    /// <summary>
    /// <c>RCPT TO:&lt;postmaster&gt;</c> (no domain, which RFC 5321 has every server take): Postfix qualifies it, its next
    /// hop gets <c>&lt;postmaster@mta.example&gt;</c> (and <c>ORCPT=rfc822;postmaster</c>) and the milter
    /// <c>{rcpt_addr}=postmaster@mta.example</c>; ours passes <c>&lt;postmaster&gt;</c> on. Steered: no unqualified recipient.
    /// </summary>
    public static bool NoUnqualifiedRecipient => On;

    /// <summary>
    /// A MAIL or RCPT path without angle brackets (<c>MAIL FROM:a@example.com</c>, which Postfix takes): Postfix gives the
    /// milter the path as the client wrote it, ours in angle brackets. Steered: paths in angle brackets.
    /// </summary>
    public static bool BracketedPaths => On;

    /// <summary>
    /// SMTPUTF8 with an 8-bit byte in a header (the message's, a MIME part's or an attached message's): Postfix bounces
    /// the message at a next hop that does not announce SMTPUTF8 (smtp-sink; <c>5.6.7 SMTPUTF8 is required, but was not
    /// offered</c>), our next-hop client delivers it. An 8-bit body alone is delivered by both. Steered: SMTPUTF8 only on
    /// ASCII messages (and ASCII milter edits).
    /// </summary>
    public static bool Smtputf8OnlyOnAscii => On;

    /// <summary>
    /// A replacement body in two SMFIR_REPLBODY packets with another edit between them: both refuse it, Postfix with
    /// <c>451 4.3.5 Server configuration problem - try again later</c> (milter8's configuration error), ours with
    /// <c>451 4.7.1 Service unavailable - try again later</c>. Steered: a message's replbody actions come together.
    /// </summary>
    public static bool ReplacementBodyTogether => On;

    /// <summary>
    /// A message that declares <c>Content-Transfer-Encoding: 8bit</c> (or <c>binary</c>), in its header or a MIME part's,
    /// sent without <c>BODY=8BITMIME</c> (or with <c>BODY=7BIT</c>): Postfix's cleanup marks it 8-bit and its smtp client
    /// passes <c>BODY=8BITMIME</c> on; ours passes the client's <c>BODY=</c> (or none). Steered: such a message is sent with
    /// <c>BODY=8BITMIME</c>.
    /// </summary>
    public static bool EightBitMimeWhereDeclared => On;

    /// <summary>
    /// The same recipient twice, the two spelt in another case or with a different ORCPT (or one without), the client's or
    /// a milter's ADDRCPT: Postfix's cleanup merges them (its duplicate filter folds case and leaves ORCPT out; it keeps
    /// the first), ours relays each. The comparison merges only recipients that are the same to the byte (the kept
    /// difference). Steered: a recipient given twice is given alike, and a milter adds an address once.
    /// </summary>
    public static bool DuplicateRecipientsAlike => On;

    /// <summary>
    /// 49 or more Received fields (any case, blanks before the colon too): Postfix refuses the message at the end of DATA
    /// with <c>554 5.4.0 Error: too many hops</c> (<c>hopcount_limit</c>, 50, its own Received counted); ours takes it.
    /// Steered: 48 Received fields at most.
    /// </summary>
    public static bool FewerThan49Hops => On;

    /// <summary>
    /// A local part that is not a dot-atom and goes unquoted (<c>RCPT TO:&lt;first..last@example.net&gt;</c>, <c>.dot</c>):
    /// Postfix quotes it, its next hop gets <c>&lt;"first..last"@example.net&gt;</c> and the milter
    /// <c>{rcpt_addr}="first..last"@example.net</c>; ours passes it as the client wrote it. Steered: dot-atom local parts.
    /// </summary>
    public static bool DotAtomLocalParts => On;

    /// <summary>
    /// A domain with a trailing dot (<c>RCPT TO:&lt;bob@example.net.&gt;</c>): Postfix drops the dot, its next hop gets
    /// <c>&lt;bob@example.net&gt;</c> (the ORCPT it adds keeps it) and the milter <c>{rcpt_addr}=bob@example.net</c>; ours
    /// passes it on. Steered: no trailing dot.
    /// </summary>
    public static bool NoTrailingDot => On;

    /// <summary>What a command that re-runs a message must set to run it as this run did.</summary>
    public static string Variable => On ? string.Empty : "SFM_RANDOM_DIFF_UNSTEERED=1 ";

    /// <summary>The steers in force, for the test's output.</summary>
    public static string InForce => On
        ? "lower-case addresses, no source route, no unqualified recipient, dot-atom local parts, no trailing dot in a domain, bracketed paths, SMTPUTF8 only on ASCII, replacement body together, "
            + "BODY=8BITMIME where 8bit is declared, a recipient left, duplicate recipients alike, fewer than 49 Received fields"
        : "none (SFM_RANDOM_DIFF_UNSTEERED=1)";
}
