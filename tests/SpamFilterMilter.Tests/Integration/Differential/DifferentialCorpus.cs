using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>Which real milter a case runs through.</summary>
internal enum MilterKind
{
    /// <summary>tests/milters/sfm-testmilter.c (libmilter), with <see cref="DifferentialCase.MilterArguments"/>.</summary>
    Libmilter,

    /// <summary>tests/milters/sfm_testmilter.py (python3-milter), with <see cref="DifferentialCase.MilterArguments"/>.</summary>
    Pymilter,

    /// <summary>opendkim, signing for example.com.</summary>
    OpenDkim,

    /// <summary>No milter: a port where nothing listens (both MTAs' failure action, tempfail).</summary>
    Unreachable,
}

/// <summary>
/// One case: a milter, how it is told to behave, and what the SMTP client says. With <paramref name="Macros"/> (a
/// libmilter case), the values of those macros at each event, as the milter's transcript shows them, are compared too;
/// with <paramref name="Events"/>, the transcript's lines for those events (what the milter received: "header", "body").
/// <paramref name="StrayCrs"/> marks a case whose milter's replacement body has a CR without LF, which Postfix passes on
/// and our next-hop client sends as a space (a kept difference, docs/postfix-differential.md).
/// </summary>
internal sealed record DifferentialCase(string Name, MilterKind Milter, string[] MilterArguments, SmtpDialogue Dialogue, string[]? Macros = null,
    string[]? Events = null, bool StrayCrs = false)
{
    public override string ToString() => Name;
}

/// <summary>
/// The messages and milters both MTAs are run with: 8-bit and folded headers, long lines, a body without a final CRLF,
/// an empty body, many recipients with ESMTP parameters, several transactions, and every edit and verdict a milter
/// has, through the libmilter test milter, the python3-milter test milter and opendkim.
/// </summary>
internal static class DifferentialCorpus
{
    private const string From = "<alice@example.com>";
    private const string To = "<bob@example.net>";

    public static readonly byte[] Plain = Message("From: Alice <alice@example.com>\r\nTo: Bob <bob@example.net>\r\nSubject: plain\r\nMessage-ID: <plain@example.com>\r\n\r\nHello Bob.\r\n");

    public static readonly byte[] Latin1 = Message(
        "From: =?x?= S\u00e9bastien <alice@example.com>\r\nTo: bob@example.net\r\nSubject: caf\u00e9 latin1 8bit\r\n"
        + "X-Folded: first part\r\n\tsecond part after TAB\r\n  third part after 2 spaces\r\nX-Empty:\r\nX-NoSpace:value\r\nX-Three:   three spaces\r\n"
        + "X-Tab:\ttab then value\r\nX-Trailing: value with trailing spaces   \r\n\r\nBody line with 8bit: d\u00e9j\u00e0 vu\r\n.leading dot\r\n");

    public static readonly byte[] Utf8 = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: caf\u00e9 \u2603 utf-8\r\n\r\nH\u00e9llo \u2603\r\n", utf8: true);

    public static readonly byte[] Invalid8Bit = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: bad \u00c3\u0028 \u00ff bytes\r\nX-Mixed: caf\u00c3\u00a9 and caf\u00e9\r\n\r\nbody \u00c3\u0028\u00ff\r\n");

    public static readonly byte[] LongLines = Message("From: alice@example.com\r\nSubject: long\r\nX-Long: " + new string('h', 1500) + "\r\n\r\n" + new string('b', 3000) + "\r\nend\r\n");

    public static readonly byte[] NoFinalCrlf = Message("From: alice@example.com\r\nSubject: no final CRLF\r\n\r\nlast line without CRLF");

    public static readonly byte[] EmptyBody = Message("From: alice@example.com\r\nSubject: empty body\r\n\r\n");

    public static readonly byte[] HeadersOnly = Message("From: alice@example.com\r\nSubject: headers only\r\n");

    /// <summary>A message that ends in its header section, its last line without a line end.</summary>
    public static readonly byte[] HeaderNoCrlf = Message("From: alice@example.com\r\nSubject: no crlf at all");

    /// <summary>A header section ended by a line that is not a header field (no colon): Postfix reads it as the body's first line.</summary>
    public static readonly byte[] NotAField = Message("From: alice@example.com\r\nSubject: garbage\r\nthis line has no colon\r\nX-After: looks like a header\r\n\r\nbody\r\n");

    /// <summary>A header field of 10,000 bytes on one line: longer than Postfix's line_length_limit (2,048), so it is stored in pieces.</summary>
    public static readonly byte[] LongHeader = Message("From: alice@example.com\r\nSubject: long header\r\nX-Long: " + new string('h', 10_000) + "\r\n\r\nbody\r\n");

    /// <summary>A client's own Received field (which a Received edit by index finds, not the MTA's) and a field name three times.</summary>
    public static readonly byte[] Duplicates = Message("From: alice@example.com\r\nReceived: from client (client [192.0.2.1])\r\n\tby relay; Mon, 7 Dec 2026 05:00:00 +0000\r\n"
        + "X-Dup: 1\r\nX-Dup: 2\r\nSubject: dup\r\nX-Dup: 3\r\n\r\nbody\r\n");

    /// <summary>A body of 300 KB: more than four body packets, lines of every length up to 90.</summary>
    public static readonly byte[] LargeBody = Message("From: alice@example.com\r\nSubject: large body\r\n\r\n"
        + string.Concat(Enumerable.Range(0, 6000).Select(i => $"line {i} " + new string('x', i % 91) + "\r\n")));

    /// <summary>A body whose last line, 100,000 bytes, has no line end (Postfix stores it in pieces, then sends it to the milter with CRLF).</summary>
    public static readonly byte[] LongLastLine = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: long last line\r\n\r\nfirst line\r\n" + new string('z', 100_000));

    /// <summary>Lines ended by a bare LF, and a last line without any line end.</summary>
    public static readonly byte[] BareLfNoFinalCrlf = Message("From: alice@example.com\r\nSubject: bare LF\r\n\r\none\ntwo\r\nthree\nlast");

    /// <summary>A header field of 1,600 lines of 70 bytes: past Postfix's 60,000 bytes with a milter.</summary>
    public static readonly byte[] HugeFolded = Message("From: alice@example.com\r\nSubject: huge folded\r\nX-Folded: " + string.Join("\r\n\t", Enumerable.Repeat(new string('f', 70), 1600))
        + "\r\n\r\nbody\r\n");

    /// <summary>A NUL in a header value and in the body.</summary>
    public static readonly byte[] NulInHeader = Message("From: alice@example.com\r\nX-Nul: a\0b\r\nSubject: nul\r\n\r\nbody \0 nul\r\n");

    /// <summary>A header field of 70,000 bytes: its SMFIC_HEADER packet is larger than libmilter takes without MDS.</summary>
    public static readonly byte[] HugeHeader = Message("From: alice@example.com\r\nSubject: huge header\r\nX-Huge: " + new string('h', 70_000) + "\r\n\r\nbody\r\n");

    /// <summary>A NUL in a header value with a folded line after it, a NUL at the end of another value, and one in the body.</summary>
    public static readonly byte[] NulThenFold = Message("From: alice@example.com\r\nX-Nul: a\0b\r\n\tfolded after the NUL\r\nX-Nul-End: c\0\r\nSubject: nul\r\n\r\nbody \0 nul\r\n");

    /// <summary>A header field of 62,000 bytes: past Postfix's 60,000 bytes with a milter, short of the 65,535-byte packet.</summary>
    public static readonly byte[] BigHeader = Message("From: alice@example.com\r\nSubject: big header\r\nX-Big: " + new string('g', 62_000) + "\r\n\r\nbody\r\n");

    /// <summary>A header field of 110,000 bytes on one line: past Postfix's header_size_limit (102,400) too.</summary>
    public static readonly byte[] HugerHeader = Message("From: alice@example.com\r\nSubject: huger header\r\nX-Huger: " + new string('j', 110_000) + "\r\n\r\nbody\r\n");

    /// <summary>Lines ended by CR CR LF and CR CR CR LF in the header section (a folded field too) and the body, and a CR inside a body line.</summary>
    public static readonly byte[] CrCrLf = Message("From: alice@example.com\r\nSubject: two CRs\r\r\nX-Three: three CRs\r\r\r\nX-Folded: a\r\r\n\tb\r\r\n\r\n"
        + "body line\r\r\na CR\rinside\r\nlast\r\r\n");

    /// <summary>The empty line that ends the header section as CR CR LF.</summary>
    public static readonly byte[] CrCrLfSeparator = Message("From: alice@example.com\r\nSubject: two CRs end the header\r\n\r\r\nbody\r\n");

    /// <summary>A NUL in the Subject (which opendkim signs), with a folded line after it.</summary>
    public static readonly byte[] NulSubject = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: before\0after\r\n\tfolded\r\n\r\nbody\r\n");

    /// <summary>A Subject (which opendkim signs) of 70,000 bytes on one line.</summary>
    public static readonly byte[] HugeSubject = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: " + new string('s', 70_000) + "\r\n\r\nbody\r\n");

    /// <summary>A Subject (which opendkim signs) of 1,600 lines of 70 bytes.</summary>
    public static readonly byte[] HugeFoldedSubject = Message("From: alice@example.com\r\nTo: bob@example.net\r\nSubject: "
        + string.Join("\r\n\t", Enumerable.Repeat(new string('f', 70), 1600)) + "\r\n\r\nbody\r\n");

    public static IEnumerable<DifferentialCase> Cases()
    {
        // Messages through a milter that only looks.
        foreach (var (name, message) in new[] { ("plain", Plain), ("latin1", Latin1), ("utf8", Utf8), ("invalid 8-bit", Invalid8Bit), ("long lines", LongLines),
            ("no final CRLF", NoFinalCrlf), ("empty body", EmptyBody), ("headers only", HeadersOnly) })
        {
            yield return Lib($"continue: {name}", [], One(message, mail: From + (message == Plain ? string.Empty : " BODY=8BITMIME")));
        }

        yield return Lib("a 10,000-byte header field, and a field added after it", ["-a", "eom=addheader:X-Seen:yes"], One(LongHeader));

        // Every edit at the end of the message.
        yield return Lib("addheader", ["-a", "eom=addheader:X-Added:appended"], One(Plain));
        yield return Lib("addheader folded and 8-bit", ["-a", "eom=addheader:X-Folded:a\\n\\tb", "-a", "eom=addheader:X-8bit:caf\\xe9"], One(Latin1, From + " BODY=8BITMIME"));
        yield return Lib("insheader 0 (above the trace field)", ["-a", "eom=insheader:0:X-Top:first"], One(Plain));
        yield return Lib("insheader 1 (below the trace field)", ["-a", "eom=insheader:1:X-Second:second"], One(Plain));
        yield return Lib("insheader 3 and past the end", ["-a", "eom=insheader:3:X-Three:third", "-a", "eom=insheader:99:X-End:end"], One(Plain));
        yield return Lib("chgheader replace", ["-a", "eom=chgheader:1:Subject:[SPAM] plain"], One(Plain));
        yield return Lib("chgheader delete", ["-a", "eom=chgheader:1:Message-ID:"], One(Plain));
        yield return Lib("chgheader past the count adds", ["-a", "eom=chgheader:2:Subject:second subject"], One(Plain));
        yield return Lib("chgheader of a folded 8-bit field", ["-a", "eom=chgheader:1:X-Folded:one line now"], One(Latin1, From + " BODY=8BITMIME"));
        yield return Lib("header edits with leading space kept", ["-P", "HDR_LEADSPC", "-a", "eom=addheader:X-Lead:  two spaces", "-a", "eom=chgheader:1:Subject:no space"], One(Plain));
        yield return Lib("chgfrom with DSN arguments", ["-a", "eom=chgfrom:<changed@example.org>:RET=FULL ENVID=milter-envid"],
            One(Plain, From + " BODY=8BITMIME RET=HDRS ENVID=orig-envid", [To + " NOTIFY=FAILURE"]));
        yield return Lib("chgfrom without arguments keeps the client's", ["-a", "eom=chgfrom:<changed@example.org>"],
            One(Plain, From + " BODY=8BITMIME RET=HDRS ENVID=orig-envid"));
        yield return Lib("chgfrom with BODY and SIZE ignored", ["-a", "eom=chgfrom:<changed@example.org>:BODY=7BIT SIZE=12345 XFOO=bar"],
            One(Plain, From + " BODY=8BITMIME"));
        yield return Lib("addrcpt and delrcpt", ["-a", "eom=addrcpt:<added@example.org>", "-a", "eom=delrcpt:<carol@example.net>"],
            One(Plain, From, [To, "<carol@example.net>"]));
        yield return Lib("addrcpt_par with NOTIFY and ORCPT", ["-a", "eom=addrcpt_par:<added@example.org>:NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig-added@example.org"], One(Plain));
        yield return Lib("replbody without final CRLF", ["-a", "eom=replbody:Body replaced.\\r\\nLast line without CRLF"], One(Plain));
        yield return Lib("replbody empty", ["-a", "eom=replbody:"], One(Plain));
        yield return Lib("replbody with bare LF", ["-a", "eom=replbody:one\\ntwo\\n"], One(Plain));
        yield return Lib("quarantine", ["-a", "eom=quarantine:held by the milter"], One(Plain));
        yield return Lib("addheader with CRLF, empty, ending in LF, 3,000 bytes", ["-a", "eom=addheader:X-Crlf:one\\r\\n\\ttwo", "-a", "eom=addheader:X-Empty:",
            "-a", "eom=addheader:X-Trail:a\\n", "-a", "eom=addheader:X-Long:" + new string('v', 3000)], One(Plain));
        yield return Lib("chgheader Received 0 and past the count (the client's, not the MTA's)", ["-a", "eom=chgheader:0:Received:changed", "-a", "eom=chgheader:2:Received:second"],
            One(Duplicates, From + " BODY=8BITMIME"));
        yield return Lib("insheader Received at 0, then chgheader Received 1", ["-a", "eom=insheader:0:Received:fake top", "-a", "eom=chgheader:1:Received:changed"],
            One(Duplicates, From + " BODY=8BITMIME"));
        yield return Lib("duplicates: delete the second, change the new second", ["-a", "eom=chgheader:2:X-Dup:", "-a", "eom=chgheader:2:x-dup:new"], One(Duplicates, From + " BODY=8BITMIME"));
        yield return Lib("fields the milter added, changed and deleted; insheader at 0xFFFFFFFF", ["-a", "eom=addheader:X-New:added", "-a", "eom=chgheader:1:X-New:changed",
            "-a", "eom=addheader:X-Gone:added", "-a", "eom=chgheader:1:X-Gone:", "-a", "eom=insheader:-1:X-Last:last"], One(Plain));
        yield return Lib("duplicates added and inserted past the end, then found by index", ["-a", "eom=addheader:X-Dup:4", "-a", "eom=insheader:99:X-Dup:5",
            "-a", "eom=chgheader:5:X-Dup:five", "-a", "eom=chgheader:4:X-Dup:"], One(Duplicates, From + " BODY=8BITMIME"));
        yield return Lib("insheader twice at 0, at 1 and at 3", ["-a", "eom=insheader:0:X-A:0a", "-a", "eom=insheader:0:X-B:0b", "-a", "eom=insheader:1:X-C:1c",
            "-a", "eom=insheader:1:X-D:1d", "-a", "eom=insheader:3:X-E:3e", "-a", "eom=insheader:3:X-F:3f"], One(Plain));
        yield return Lib("a Received the milter added, then chgheader Received 1", ["-a", "eom=addheader:Received:by milter", "-a", "eom=chgheader:1:Received:changed"], One(Plain));
        yield return Lib("replbody in two calls: dots, bare CRs, a 5,000-byte line", ["-a", "eom=replbody:.one\\r\\n..two\\r\\n.\\r\\nthree\\rfour\\r\\r\\nfive\\r",
            "-a", "eom=replbody:" + new string('r', 5000) + "\\r\\nend"], One(Plain), strayCrs: true);
        yield return Lib("replbody with CR dot CR and a MAIL command after it (SMTP smuggling)", ["-a", "eom=replbody:again\\r.\\rMAIL FROM:<ceo@bank.example>\\r\\nend\\r\\n"],
            One(Plain), strayCrs: true);
        yield return Lib("every edit at once, with leading space kept", ["-P", "HDR_LEADSPC", "-a", "eom=chgfrom:<new@example.org>:RET=HDRS", "-a", "eom=addrcpt_par:<dave@example.org>:NOTIFY=NEVER",
            "-a", "eom=delrcpt:<bob@example.net>", "-a", "eom=insheader:0:X-Top: top", "-a", "eom=chgheader:1:Subject: edited", "-a", "eom=addheader:X-Tail:\\ttail",
            "-a", "eom=replbody:.dot\\r\\nnew body\\n"], One(Latin1, From + " BODY=8BITMIME ENVID=e1", [To, "<carol@example.net> NOTIFY=SUCCESS"]));
        yield return Lib("recipient edits: bare, quoted, deleted and added back", ["-a", "eom=delrcpt:carol@example.net", "-a", "eom=delrcpt:<\"john doe\"@example.net>",
            "-a", "eom=addrcpt:<dave@example.net>", "-a", "eom=delrcpt:<dave@example.net>", "-a", "eom=delrcpt:<bob@example.net>", "-a", "eom=addrcpt:<bob@example.net>"],
            One(Plain, From, [To + " NOTIFY=NEVER", "<carol@example.net>", "<\"john doe\"@example.net>"]));
        yield return Lib("addrcpt bare and quoted, addrcpt_par with a bad NOTIFY and ORCPT", ["-a", "eom=addrcpt:dave@example.org", "-a", "eom=addrcpt:<\"dave smith\"@example.org>",
            "-a", "eom=addrcpt_par:<erin@example.org>:NOTIFY=NEVER,SUCCESS ORCPT=bogus"], One(Plain));
        yield return Lib("chgfrom the null sender", ["-a", "eom=chgfrom:<>"], One(Plain));
        yield return Lib("chgfrom a quoted local part, a bad RET and ENVID ignored", ["-a", "eom=chgfrom:<\"x y\"@example.org>:RET=BOGUS ENVID=a+zz"],
            One(Plain, From + " RET=FULL ENVID=orig"));

        // Verdicts at each stage.
        yield return Lib("reject at connect", ["-a", "connect=reply:550:5.7.1:connection rejected"], One(Plain));
        yield return Lib("tempfail at connect", ["-a", "connect=tempfail"], One(Plain));
        yield return Lib("reject at helo", ["-a", "helo=reply:550:5.7.1:helo rejected"], One(Plain));
        yield return Lib("tempfail at helo", ["-a", "helo=reply:451:4.7.1:helo tempfailed"], One(Plain));
        yield return Lib("reject at mail", ["-a", "mail=reply:550:5.7.1:sender rejected"], One(Plain));
        yield return Lib("reject one recipient of three", ["-a", "rcpt/reject1=reply:550:5.7.1:recipient rejected", "-a", "rcpt/temp1=tempfail"],
            One(Plain, From, ["<reject1@example.net>", To, "<temp1@example.net>"]));
        yield return Lib("every recipient rejected, then DATA", ["-a", "rcpt=reject"], One(Plain, From, [To, "<carol@example.net>"]));
        yield return Lib("reject at data", ["-a", "data=reply:554:5.7.1:no data for you"], One(Plain));
        yield return Lib("reject at a header", ["-a", "header/Subject=reject"], One(Plain));
        yield return Lib("reject at eoh", ["-a", "eoh=reply:550:5.7.1:eoh rejected"], One(Plain));
        yield return Lib("reject at eom", ["-a", "eom=reply:554:5.7.1:message rejected"], One(Plain));
        yield return Lib("tempfail at eom", ["-a", "eom=tempfail"], One(Plain));
        yield return Lib("multi-line reply", ["-a", "eom=mlreply:550:5.7.1:first line|second line|third line"], One(Plain));
        yield return Lib("421 at rcpt closes", ["-a", "rcpt=reply:421:4.7.0:closing now"], One(Plain));
        yield return Lib("discard at eom", ["-a", "eom=discard"], One(Plain));
        yield return Lib("discard at rcpt drops the message", ["-a", "rcpt=discard"], One(Plain));
        yield return Lib("accept at mail skips the rest", ["-a", "mail=accept", "-a", "eom=addheader:X-Never:seen"], One(Plain));
        yield return Lib("accept at connect: no message is edited or refused", ["-a", "connect=accept", "-a", "eom=addheader:X-Never:seen", "-a", "mail/second=reject"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], Plain), new SmtpTransaction("<second@example.com>", [To], Plain)]));
        yield return Lib("accept at rcpt: that message only", ["-a", "rcpt/first=accept", "-a", "rcpt/second=reject", "-a", "eom=addheader:X-Only:second message"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, ["<first@example.net>", "<second@example.net>"], Plain), new SmtpTransaction(From, ["<second@example.net>", To], Plain)]));
        yield return Lib("discard at connect and helo is ignored", ["-a", "connect=discard", "-a", "helo=discard", "-a", "eom=addheader:X-Seen:yes"], One(Plain));
        yield return Lib("discard at the second recipient", ["-a", "rcpt/second=discard", "-a", "eom=addheader:X-Never:seen"], One(Plain, From, [To, "<second@example.net>"]));
        yield return Lib("reject at body", ["-a", "body=reply:554:5.7.1:body rejected"], One(Plain));
        yield return Lib("421 at eom (the second message is not sent)", ["-a", "eom=reply:421:4.7.0:closing at eom"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], Plain), new SmtpTransaction(From, [To], Plain)]));
        yield return Lib("reply with percent signs", ["-a", "eom=reply:550:5.7.1:100% sure, 50%% off"], One(Plain));
        yield return Lib("replies without enhanced code, without text", ["-a", "rcpt/first=reply:550::no enhanced code", "-a", "rcpt/second=reply:550::"],
            One(Plain, From, ["<first@example.net>", "<second@example.net>", To]));
        yield return Lib("multi-line 451 at rcpt, and 452", ["-a", "rcpt/first=mlreply:451:4.7.1:try|again 100%|later", "-a", "rcpt/second=reply:452:4.5.3:too many"],
            One(Plain, From, ["<first@example.net>", "<second@example.net>", To]));
        yield return Lib("skip at rcpt", ["-a", "rcpt=skip", "-a", "rcpt/second=reject"], One(Plain, From, ["<first@example.net>", "<second@example.net>"]));
        yield return Lib("skip without SMFIP_SKIP negotiated, at rcpt and body", ["-P", "-SKIP", "-a", "rcpt=skip", "-a", "rcpt/second=reject", "-a", "body=skip",
            "-a", "body/line 5999 =reject"], One(LargeBody, From, [To, "<second@example.net>"]));
        yield return Lib("no reply asked for at any stage, its verdicts lost", ["-P", "NR_CONN,NR_HELO,NR_MAIL,NR_RCPT,NR_DATA,NR_HDR,NR_EOH,NR_BODY", "-a", "connect=reject",
            "-a", "mail=reject", "-a", "data=reject", "-a", "eoh=reject", "-a", "body=reject", "-a", "eom=addheader:X-Seen:yes"], One(Plain));
        yield return Lib("skip at header and at body", ["-a", "header=skip", "-a", "header/Subject=reject", "-a", "body=skip", "-a", "body/line 5999 =reject", "-a", "eom=addheader:X-Seen:yes"],
            One(LargeBody));
        yield return Lib("progress between edits", ["-a", "eom=progress", "-a", "eom=addheader:X-Seen:yes", "-a", "eom=progress"], One(Plain));
        yield return Lib("quarantine and reject", ["-a", "eom=quarantine:q", "-a", "eom=reply:550:5.7.1:rejected too"], One(Plain));
        yield return Lib("no headers, end of headers or body asked for; edits still made", ["-P", "NOHDRS,NOEOH,NOBODY", "-a", "eom=addheader:X-Seen:yes", "-a", "eom=chgheader:1:Subject:changed"], One(Plain));

        yield return new DifferentialCase("milter unreachable", MilterKind.Unreachable, [], One(Plain));

        // Sessions with several transactions.
        yield return Lib("two messages, the first rejected", ["-a", "mail/first=reject", "-a", "eom=addheader:X-Second:yes"],
            new SmtpDialogue("client.example", [new SmtpTransaction("<first@example.com>", [To], Plain), new SmtpTransaction(From, [To], Plain)]));
        yield return Lib("RSET between messages", ["-a", "eom=addheader:X-Count:one"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], Plain, ResetAfter: true), new SmtpTransaction(From, [To], Latin1)]));

        yield return Lib("three messages in one session", ["-a", "rcpt/nobody=reject", "-a", "mail/dropme=discard", "-a", "eom=addheader:X-Seen:yes"],
            new SmtpDialogue("client.example", [
                new SmtpTransaction(From, ["<nobody@example.net>"], Plain),
                new SmtpTransaction(From, [To], Latin1),
                new SmtpTransaction("<dropme@example.com>", [To], Plain),
            ]));
        yield return Lib("RSET before DATA, then a message", ["-a", "eom=addheader:X-After-Reset:yes"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], null, ResetAfter: true), new SmtpTransaction(From, [To], Plain)]));
        yield return Lib("EHLO again between messages", ["-a", "helo/second=reply:550:5.7.1:not that name", "-a", "eom=addheader:X-Helo:checked"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], Plain), new SmtpTransaction(From, [To], Plain, EhloBefore: "second.example")]));
        yield return Lib("EHLO again in the middle of a transaction", ["-a", "eom=addheader:X-Helo:checked"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From, [To], null), new SmtpTransaction(From, [To], Plain, EhloBefore: "again.example")]));

        // Many recipients with ESMTP parameters.
        yield return Lib("sixty recipients with DSN parameters", ["-a", "eom=addheader:X-Many:yes"],
            One(Plain, From + " RET=HDRS ENVID=many", [.. Enumerable.Range(1, 60).Select(i => $"<r{i:00}@example.net>" + (i % 3) switch
            {
                0 => " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig" + i + "@example.net",
                1 => " NOTIFY=NEVER",
                _ => string.Empty,
            })]));

        // A second, independent milter implementation.
        yield return new DifferentialCase("pymilter edits", MilterKind.Pymilter,
            ["-a", "eom=addheader:X-Py:added", "-a", "eom=insheader:1:X-Py-Ins:inserted", "-a", "eom=chgheader:1:Subject:changed by pymilter"], One(Latin1, From + " BODY=8BITMIME"));
        yield return new DifferentialCase("pymilter envelope and body edits", MilterKind.Pymilter,
            ["-a", "eom=chgfrom:<py@example.org>:RET=FULL", "-a", "eom=addrcpt:<py-added@example.org>", "-a", "eom=delrcpt:<carol@example.net>", "-a", "eom=replbody:Replaced by pymilter.\\r\\n"],
            One(Plain, From + " RET=HDRS", [To, "<carol@example.net>"]));
        yield return new DifferentialCase("pymilter quarantine", MilterKind.Pymilter, ["-a", "eom=quarantine:pymilter holds it"], One(Plain));
        yield return new DifferentialCase("pymilter reject at rcpt", MilterKind.Pymilter, ["-a", "rcpt/bad=reply:550:5.1.1:no such user"], One(Plain, From, ["<bad@example.net>", To]));
        yield return new DifferentialCase("pymilter edits by index", MilterKind.Pymilter,
            ["-a", "eom=insheader:0:X-Py-Top:top", "-a", "eom=chgheader:2:X-Dup:two", "-a", "eom=chgheader:1:Received:", "-a", "eom=chgheader:9:X-Dup:nine"], One(Duplicates, From + " BODY=8BITMIME"));

        // opendkim signs what it saw.
        foreach (var (name, message) in new[] { ("ascii", Plain), ("utf-8", Utf8), ("latin1", Latin1), ("invalid 8-bit", Invalid8Bit) })
        {
            yield return new DifferentialCase($"opendkim signs {name}", MilterKind.OpenDkim, [], One(message, From + (message == Plain ? string.Empty : " BODY=8BITMIME")));
        }

        yield return new DifferentialCase("opendkim signs a 300 KB body", MilterKind.OpenDkim, [], One(LargeBody));

        // Host side, found by the differential hunt
        yield return Lib("a last header line without CRLF, then addheader", ["-a", "eom=addheader:X-Seen:yes"], One(HeaderNoCrlf));
        yield return Lib("a last header line without CRLF, then replbody", ["-a", "eom=replbody:new body\\r\\n"], One(HeaderNoCrlf));
        yield return Lib("headers only, then addheader and replbody", ["-a", "eom=addheader:X-Seen:yes", "-a", "eom=replbody:new"], One(HeadersOnly));
        yield return Lib("continue: a line that is not a header field ends the header section", [], One(NotAField));
        foreach (var (name, line) in new[] { ("no colon", "this line has no colon"), ("an empty name", ": empty name"), ("a blank in the name", "X Bad: space in name"), ("an 8-bit name", "S\u00fcbject: 8-bit name") })
        {
            yield return Lib($"a line with {name} ends the header section, then addheader", ["-a", "eom=addheader:X-Seen:yes"],
                One(Message("From: alice@example.com\r\nSubject: not a field\r\n" + line + "\r\nX-After: looks like a header\r\n\r\nbody\r\n"), From + " BODY=8BITMIME"));
        }

        yield return Lib("a line that is not a header field, then replbody", ["-a", "eom=replbody:new body\\r\\n"], One(NotAField));
        yield return new DifferentialCase("opendkim signs a message whose header section a line that is not a field ends", MilterKind.OpenDkim, [], One(NotAField));
        yield return Lib("delrcpt compares exactly: another case kept, a quoted local part deleted", ["-a", "eom=delrcpt:<carol@example.net>", "-a", "eom=delrcpt:<\"dave\"@example.net>",
            "-a", "eom=delrcpt:<Erin@example.net>"], One(Plain, From, [To, "<Carol@Example.NET>", "<dave@example.net>", "<Erin@example.net>"]));
        yield return Lib("addrcpt and addrcpt_par of the null address add no recipient", ["-a", "eom=addrcpt:<>", "-a", "eom=addrcpt_par:<>:NOTIFY=NEVER",
            "-a", "eom=addrcpt:<added@example.org>"], One(Plain));
        foreach (var (name, message) in new[] { ("a first line starting with a space", " leading space first line\r\nSubject: x\r\n\r\nbody\r\n"),
            ("a first line starting with a tab", "\tleading tab\r\nSubject: x\r\n"),
            ("an mbox From line", "From alice@example.com Mon Dec  7 05:00:00 2026\r\nFrom: alice@example.com\r\nSubject: mbox\r\n\r\nbody\r\n"),
            ("two mbox From lines, then a line starting with a space", "From alice@example.com\r\n>From bob@example.net\r\n folded?\r\nSubject: x\r\n\r\nbody\r\n") })
        {
            yield return Lib($"{name}, then addheader and chgheader", ["-a", "eom=addheader:X-Seen:yes", "-a", "eom=chgheader:1:Subject:changed", "-a", "eom=insheader:1:X-Ins:one"],
                One(Message(message)));
        }

        var spacedColon = Message("From: alice@example.com\r\nSubject : spaced colon\r\nX-Tab\t: tab before the colon\r\n\tfolded\r\n\r\nbody\r\n");
        yield return Lib("continue: blanks between a field name and its colon", [], One(spacedColon));
        yield return Lib("blanks between a field name and its colon, then chgheader and addheader", ["-a", "eom=chgheader:1:X-Tab:changed", "-a", "eom=addheader:X-Seen:yes"], One(spacedColon));

        // ESMTP parameters smtpd refuses before the milter hears of the command (fewer than 10 errors a session: smtpd_soft_error_limit)
        yield return Lib("MAIL parameters Postfix refuses, then one it takes", ["-a", "eom=addheader:X-Seen:yes"], new SmtpDialogue("client.example",
            [.. new[] { "BODY=EVIL", "BODY", "RET=BOGUS", "RET=FULL RET=HDRS", "ENVID=x+ZZ", "SIZE=abc", "SIZE=-1", "X=1 x=2" }.Select(p => new SmtpTransaction(From + " " + p, [To], Plain)),
                new SmtpTransaction(From + " BODY=8BITMIME RET=HDRS ENVID=x+2By", [To], Plain)]));
        // Postfix keeps the AUTH= of a MAIL it refuses for a later parameter and refuses the next MAIL's AUTH= as a second, until
        // RSET or a transaction's end (docs/smtp.md, not followed): no MAIL after the refused AUTH= has one.
        yield return Lib("MAIL: AUTH= after AUTH=<> taken; a SIZE= too large for a number and a second AUTH= refused, then one it takes", ["-a", "eom=addheader:X-Seen:yes"],
            new SmtpDialogue("client.example", [new SmtpTransaction(From + " AUTH=<> AUTH=y", [To], Plain),
                .. new[] { "SIZE=9223372036854775808", "SIZE=99999999999999999999999 RET=BOGUS", "AUTH=<> auth=x Auth=<>" }.Select(p => new SmtpTransaction(From + " " + p, [To], Plain)),
                new SmtpTransaction(From + " SIZE=000123 BODY=8BITMIME", [To], Plain)]));
        yield return Lib("RCPT parameters Postfix refuses, then one it takes", ["-a", "eom=addheader:X-Seen:yes"], One(Plain, From,
            [.. new[] { "NOTIFY=BOGUS", "NOTIFY=NEVER,SUCCESS", "NOTIFY", "ORCPT=bogus", "ORCPT=rfc822;a+ZZ", "X=1", "NOTIFY=NEVER NOTIFY=SUCCESS" }.Select(p => To + " " + p),
                "<carol@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;carol@example.net"]));
        // What Postfix keeps of a parameter is what it passes on: the values it knows in its own words, xtext encoded again.
        yield return Lib("ESMTP parameters in lower case, NOTIFY out of order, xtext in any form reach the next hop as Postfix writes them",
            ["-a", "eom=addrcpt_par:<added@example.org>:notify=delay,success ORCPT=rfc822;orig+2badded+3dx@example.org"],
            One(Plain, From + " body=8bitmime ret=hdrs envid=a+2bb", [To + " notify=delay,failure,success orcpt=rfc822;a+3db+7E",
                "<carol@example.net> NOTIFY=delay,delay ORCPT=RFC822;carol+2bx@example.net"]));

        // Plug-in side, found by the differential hunt
        yield return Lib("a last line without CRLF reaches the milter ended by CRLF", ["-a", "body/without CRLF\\r\\n=reply:550:5.7.1:saw the CRLF"],
            One(NoFinalCrlf, From + " BODY=8BITMIME"));
        yield return Lib("the body as the milter sees it: bare LFs, a last line without CRLF", ["-a", "eom=addheader:X-Seen:yes"], One(BareLfNoFinalCrlf, From + " BODY=8BITMIME"),
            events: ["body"]);
        yield return new DifferentialCase("opendkim signs a 100,000-byte last line without CRLF", MilterKind.OpenDkim, [], One(LongLastLine));
        yield return Lib("an empty macro list is the default list", ["-S", "mail:", "-S", "eom:", "-m", "i {mail_addr} {mail_mailer}", "-a", "eom=addheader:X-Seen:yes"],
            One(Plain), macros: ["{mail_addr}", "{mail_mailer}", "i"]);
        yield return Lib("recipient macros from DATA on are the first accepted recipient's", ["-S", "data:{rcpt_addr} {rcpt_host} {rcpt_mailer}",
            "-S", "eoh:{rcpt_addr} {rcpt_host} {rcpt_mailer}", "-S", "eom:{rcpt_addr} {rcpt_host} {rcpt_mailer}", "-m", "{rcpt_addr} {rcpt_mailer}",
            "-a", "rcpt/refused=reject", "-a", "rcpt/temp=tempfail", "-a", "eom=addheader:X-Seen:yes"],
            One(Plain, From, ["<refused@example.org>", To, "<temp@example.net>", "<carol@example.com>", "<dave@example.org>"]), macros: ["{rcpt_addr}", "{rcpt_mailer}"]);
        yield return Lib("a NUL in a header value and in the body", ["-a", "eom=reply:550:5.7.1:seen, and refused so that only the milter's view compares"],
            One(NulInHeader, From + " BODY=8BITMIME"), events: ["header", "body"]);
        yield return Lib("a 70,000-byte header field reaches the milter cut at 60,000 bytes", ["-a", "eom=reply:550:5.7.1:seen, and refused so that only the milter's view compares"], One(HugeHeader),
            events: ["header"]);
        yield return Lib("a 113,000-byte folded header field reaches the milter cut at a line", ["-a", "eom=reply:550:5.7.1:seen, and refused so that only the milter's view compares"], One(HugeFolded),
            events: ["header"]);

        // Host side: what is delivered where smtpd and cleanup change the client's bytes
        yield return Lib("delivered: a NUL in a header value, a fold after it, and in the body", ["-a", "eom=addheader:X-Seen:yes"], One(NulThenFold, From + " BODY=8BITMIME"),
            events: ["header", "body"]);
        yield return Lib("delivered: a 62,000-byte header field", ["-a", "eom=addheader:X-Seen:yes"], One(BigHeader), events: ["header"]);
        yield return Lib("delivered: a 70,000-byte header field", ["-a", "eom=addheader:X-Seen:yes"], One(HugeHeader));
        yield return Lib("delivered: a 110,000-byte header field", ["-a", "eom=addheader:X-Seen:yes"], One(HugerHeader), events: ["header"]);
        yield return Lib("delivered: a 2 MiB header field (over the header reader's 1 MiB)", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("From: alice@example.com\r\nX-Mebi: " + new string('m', 2 * 1024 * 1024) + "\r\nSubject: s\r\n\r\nbody\r\n")));
        yield return Lib("delivered: a 2 MiB folded header field", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("From: alice@example.com\r\nX-Mebi: x" + string.Concat(Enumerable.Repeat("\r\n " + new string('m', 900), 2300)) + "\r\nSubject: s\r\n\r\nbody\r\n")));
        yield return Lib("delivered: a 113,000-byte folded header field", ["-a", "eom=addheader:X-Seen:yes", "-a", "eom=chgheader:1:Subject:changed"], One(HugeFolded));
        yield return Lib("delivered: CR CR LF line ends in the header and the body", ["-a", "eom=addheader:X-Seen:yes"], One(CrCrLf), events: ["header", "body"]);
        yield return Lib("delivered: CR CR LF as the empty line that ends the header", ["-a", "eom=addheader:X-Seen:yes"], One(CrCrLfSeparator), events: ["header", "body"]);
        yield return Lib("delivered: NULs in 3,014- and 5,009-byte header lines (each 2,048-byte piece cut at its NUL)", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("From: alice@example.com\r\nX-Nul-Long: a\0" + new string('b', 3000) + "\r\nX-Two: c\0" + new string('d', 5000) + "\r\n\r\nbody\r\n")), events: ["header"]);
        yield return Lib("delivered: CR CR LF with the first CR the 2,048th byte of its line (kept, as a space)", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("From: alice@example.com\r\nX-Cr: " + new string('c', 2041) + "\r\r\nSubject: s\r\n\r\n" + new string('e', 2047) + "\r\r\nlast\r\n")), events: ["header", "body"]);
        yield return Lib("delivered: blanks before the colon counted in a 70,000-byte field and in the pieces of a 3,000-byte line with a NUL", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("From: alice@example.com\r\nX-Spaced \t : " + new string('s', 70_000) + "\r\nX-Nul  : a\0" + new string('b', 3000) + "\r\nSubject: s\r\n\r\nbody\r\n")),
            events: ["header"]);
        yield return Lib("a milter's own Bcc, Return-Path and Content-Length are kept; the dropped fields are not there for its edits by index", ["-a", "eom=addheader:Bcc:added@example.org", "-a", "eom=insheader:0:Return-Path:<inserted@example.org>",
            "-a", "eom=chgheader:1:Content-Length:99", "-a", "eom=chgheader:1:Subject:changed", "-a", "eom=chgheader:1:Resent-Bcc:"],
            One(Message("Return-Path: <forged@example.org>\r\nFrom: alice@example.com\r\nBcc: secret@example.org\r\nContent-Length: 12\r\nSubject: s\r\nResent-Bcc: r@example.org\r\n\r\nbody\r\n")),
            events: ["header"]);
        yield return Lib("delivered: Bcc, Content-Length, Resent-Bcc and Return-Path left out of the header (any case, folded, empty, blanks before the colon), kept in a MIME part", ["-a", "eom=addheader:X-Seen:yes"],
            One(Message("Return-Path: <forged@example.org>\r\nFrom: alice@example.com\r\nBcc: secret@example.org\r\nbcc  : second@example.org\r\n\tfolded@example.org\r\nBCC:\r\n"
                + "Resent-Bcc: r@example.org\r\nContent-Length: 12\r\nX-Bcc: kept\r\nResent-Bccx: kept\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                + "--b\r\nContent-Length: 5\r\nBcc: inner@example.org\r\nContent-Type: message/rfc822\r\n\r\nBcc: nested@example.org\r\nSubject: inner\r\n\r\nnested body\r\n--b--\r\n")), events: ["header"]);
        foreach (var (name, message) in new[] { ("a NUL in the Subject", NulSubject), ("a 70,000-byte Subject", HugeSubject), ("a 113,000-byte folded Subject", HugeFoldedSubject),
            ("CR CR LF line ends", CrCrLf) })
        {
            yield return new DifferentialCase($"opendkim signs {name}", MilterKind.OpenDkim, [], One(message, From + " BODY=8BITMIME"));
        }
    }

    private static DifferentialCase Lib(string name, string[] arguments, SmtpDialogue dialogue, string[]? macros = null, string[]? events = null, bool strayCrs = false) =>
        new(name, MilterKind.Libmilter, arguments, dialogue, macros, events, strayCrs);

    private static SmtpDialogue One(byte[] message, string mail = From, string[]? rcpts = null) =>
        new("client.example", [new SmtpTransaction(mail, rcpts ?? [To], message)]);

    private static byte[] Message(string text, bool utf8 = false) =>
        utf8 ? System.Text.Encoding.UTF8.GetBytes(text) : System.Text.Encoding.Latin1.GetBytes(text);
}
