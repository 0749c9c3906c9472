using System.Buffers;
using System.Text;
using System.Text.Unicode;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>What a command line is, of the few SmtpServer's parser loses something of.</summary>
internal enum CommandLineKind
{
    /// <summary>Any other line, or one whose end has not come yet (the pipe holds every command line until its LF).</summary>
    Other,

    /// <summary>
    /// A line of nothing but spaces (any byte C's <c>isspace</c> takes), or of nothing: Postfix finds no word on it and
    /// answers <c>500 5.5.2 Error: bad syntax</c>, an error towards the session's limit (smtpd.c); SmtpServer's parser
    /// answers <c>502 Unrecognized command</c>. SmtpServer is given <see cref="CommandLine.Replacement"/> (a NOOP) in its
    /// place, and the session answers Postfix's refusal.
    /// </summary>
    Blank,

    /// <summary><c>RCPT TO:&lt;postmaster&gt;</c> without a domain, in any letter case, its line end come.</summary>
    BarePostmaster,

    /// <summary>
    /// <c>RCPT TO:</c> and any other path in angle brackets, then the line's end or ESMTP parameters: SmtpServer's parser
    /// takes the path and drops the parameters (<c>TryMakeRcpt</c>: "TODO: support optional service extension
    /// parameters").
    /// </summary>
    Rcpt,

    /// <summary>
    /// <c>MAIL FROM:</c> and a path in angle brackets, its line end come, then the line's end or ESMTP parameters: when
    /// anything follows the path, SmtpServer's parser is given <see cref="CommandLine.Replacement"/> in the line's place, the command
    /// without its parameters, and the session takes them from <see cref="CommandLine.Parameters"/>. SmtpServer's parser drops every
    /// parameter of a MAIL when one has an empty value (<c>RET=</c>), and throws on a repeated one (<c>RET=FULL
    /// RET=HDRS</c>), which ends the session.
    /// </summary>
    Mail,

    /// <summary>
    /// <c>MAIL FROM:</c> and a path in angle brackets with something other than a space right after it
    /// (<c>&lt;a@example.com&gt;x</c>), its line end come: SmtpServer's parser reads the rest as a parameter; Postfix answers
    /// <c>501 5.1.7 Bad sender address syntax</c>. SmtpServer is given <see cref="CommandLine.Replacement"/>, as for a <see cref="Mail"/>.
    /// </summary>
    MailTextAfterPath,

    /// <summary>
    /// <c>RCPT TO:</c> and a path in angle brackets with something other than a space right after it
    /// (<c>&lt;a@example.com&gt;x</c>): SmtpServer's parser takes the path and drops the rest; Postfix answers
    /// <c>501 5.1.3 Bad recipient address syntax</c>.
    /// </summary>
    RcptTextAfterPath,

    /// <summary><c>EHLO</c> and an address literal (<c>EHLO [192.0.2.1]</c>), whose brackets SmtpServer's parser takes off.</summary>
    EhloAddressLiteral,

    /// <summary>
    /// <c>NOOP</c> and text after it, which RFC 5321 §4.1.1.9 allows (<c>NOOP [ SP String ]</c>) and Postfix answers 250
    /// (after any byte its tokenizer takes for a space, a bare CR too):
    /// SmtpServer's parser answers it <c>502 Unrecognized command</c>. It is given <see cref="CommandLine.Replacement"/>,
    /// the NOOP alone, in its place.
    /// </summary>
    NoopWithText,

    /// <summary>
    /// An <c>AUTH</c> line longer than <see cref="CommandLine.LongestAuthCommand"/>, cut there: its initial response is
    /// lost, and SmtpServer would end the session on what is left of it (its base64 decoding throws). SmtpServer is given
    /// <see cref="CommandLine.Replacement"/> (a NOOP) in its place, and the session refuses it.
    /// </summary>
    AuthTooLong,

    /// <summary>
    /// A whole line, whatever its command, that is not UTF-8 (a byte of 0x80 or more that starts or continues no UTF-8
    /// character, an overlong form, a surrogate): Postfix answers it <c>500 5.5.2 Error: bad UTF-8 syntax</c> before it
    /// looks at its command (smtpd.c, with <c>smtputf8_enable = yes</c>, its default), and the session goes on. SmtpServer's
    /// parser would read it with U+FFFD in place of each bad byte: an address it takes then is not the one the client
    /// wrote. SmtpServer is given <see cref="CommandLine.Replacement"/> (a NOOP, which changes nothing) in its place, and
    /// the session answers it Postfix's refusal.
    /// </summary>
    NotUtf8,

    /// <summary>
    /// A first word that is no command of Postfix's smtpd (its <c>smtpd_cmd_table</c>; <c>PROXY</c>, which SmtpServer's
    /// parser takes, HAProxy's header, among them): Postfix gives the word to its milters' UNKNOWN stage and answers their
    /// refusal, else <c>500 5.5.2 Error: command not recognized</c>, an error towards the session's limit. SmtpServer is
    /// given <see cref="CommandLine.Replacement"/> (a NOOP) in its place, and the session does the same.
    /// </summary>
    Unrecognized,

    /// <summary>
    /// A command Postfix's smtpd knows and SmtpServer does not serve (<c>ETRN</c>, <c>XCLIENT</c>, <c>XFORWARD</c>):
    /// answered <c>502 5.5.1 Error: command not implemented</c>, the words Postfix gives a command it was built without.
    /// SmtpServer is given a NOOP in its place.
    /// </summary>
    NotImplemented,

    /// <summary>
    /// <c>BDAT</c>, which SmtpServer does not serve (it announces no CHUNKING): the bytes after it are a message's, not
    /// commands, so Postfix answers <c>521 5.5.1 Error: command not implemented</c> and ends the session (smtpd.c
    /// <c>bdat_cmd</c>: "The next input would be raw message content"). SmtpServer is given a NOOP in its place.
    /// </summary>
    Bdat,

    /// <summary>
    /// <c>VRFY</c>, which SmtpServer does not serve: Postfix 3.7 answers <c>252 2.0.0</c> and the address
    /// (<see cref="CommandLine.Text"/>; it verifies nothing with <c>smtpd_delay_reject</c>, its default), a junk command, not
    /// an error; <c>501 5.5.4 Syntax: VRFY address</c> without one. SmtpServer is given a NOOP in its place.
    /// </summary>
    Vrfy,

    /// <summary>
    /// <c>AUTH</c> where the server offers none (no authenticator, or TLS not up and AUTH only over TLS): Postfix answers
    /// <c>503 5.5.1 Error: authentication not enabled</c> before it looks at anything else. Told by the pipe, which knows
    /// the session (<see cref="CommandLine.AuthNotEnabled"/>); SmtpServer is given a NOOP in its place.
    /// </summary>
    AuthNotEnabled,

    /// <summary>
    /// Not SMTP at all: a first word that is no command and that Postfix takes for a message header (<c>Subject:</c>) or
    /// that its <c>smtpd_forbidden_commands</c> names by default (<c>CONNECT</c>, <c>GET</c>, <c>POST</c>, a word that does not
    /// start with a letter): Postfix answers <c>221 2.7.0 Error: I can break rules, too. Goodbye.</c> and ends the session,
    /// so that neither a web browser's request made to port 25 nor a message's text a client sends as commands (after a
    /// DATA refused in a pipelined group) runs a command it carries. SmtpServer is given a NOOP in its place.
    /// </summary>
    NotSmtp,

    /// <summary><c>QUIT</c> and text after it: Postfix ends the session as for QUIT alone; SmtpServer's parser answers 502. It is given the QUIT alone.</summary>
    QuitWithText,
}

/// <summary>
/// The command line SmtpServer 11.1.0 is about to parse, read as the client sent it, for what its parser cannot read or
/// does not keep. That parser (<c>SmtpParser</c>) is sealed and made by SmtpServer's internal session for each line, and
/// the command factory an application may register (<c>ISmtpCommandFactory</c>) is only called with what the parser read:
/// the line is the one place left to look.
/// <para>
/// <c>RCPT TO:&lt;postmaster&gt;</c> without a domain, which RFC 5321 §4.5.1 has a server accept (and Postfix does, before
/// any recipient restriction: smtpd_check_rcpt), is not a mailbox to the parser (<c>TryMakeMailbox</c> wants an
/// <c>@</c>), and it answers <c>502 Unrecognized command</c>. The pipe gives the parser <see cref="PostmasterStandIn"/>
/// in that line's place, and the session takes the path the client wrote from here.
/// </para>
/// <para>
/// <c>EHLO [192.0.2.1]</c>: the parser gives the address literal without its brackets (<c>TryMakeEhlo</c>; it keeps them
/// for HELO), so that it reads as <c>EHLO 192.0.2.1</c>, a domain name of digits. Postfix keeps the name as written, for
/// its milters and in its <c>Received:</c> field; the session puts the brackets back when the line says they were there.
/// </para>
/// <para>
/// <c>RCPT TO:&lt;a@example.com&gt; NOTIFY=NEVER</c>: the parser reads the path and drops whatever follows it, parameters
/// (<c>NOTIFY=</c>, <c>ORCPT=</c>, and any a client makes up) and text right after the path alike. The line gives the
/// session both, so that it checks them as Postfix does and passes the parameters on.
/// </para>
/// <para>
/// <c>MAIL FROM:&lt;a@example.com&gt; RET=FULL RET=HDRS</c>: the parser throws on a repeated parameter (which ends the
/// session), drops them all when one has an empty value, and reads text right after the path as one. The pipe gives it
/// the MAIL without its parameters (<see cref="Replacement"/>), and the session takes them from here.
/// </para>
/// <para>
/// A line ends at its LF, and the CRs right before that LF are not part of it, as Postfix's smtpd reads a line
/// (<c>smtp_get</c>; Postfix 3.9 and later, by default, still take a bare LF after a command); its command is its first
/// word, after any spaces. SmtpServer's parser ends a line only at a CR LF, and wants its command at the line's first
/// byte: a line that ends otherwise (<c>EHLO x</c> and a bare LF, which it would wait on for ever), or that starts with
/// spaces, is given to it as the line from its first word, CR LF ended (<see cref="Replacement"/>). A message's lines,
/// after the 354, are not command lines: they end at a CR LF only.
/// </para>
/// </summary>
/// <param name="Kind">What the line is.</param>
/// <param name="Length">
/// The length of the line as the client sent it, its line end counted (the pipe skips that much when it gives SmtpServer
/// the <paramref name="Replacement"/>); for a line the pipe cut (<see cref="ReadCut"/>), the cut line's.
/// </param>
/// <param name="Path">A <see cref="CommandLineKind.BarePostmaster"/> line's path as the client wrote it (<c>&lt;PostMaster&gt;</c>).</param>
/// <param name="Parameters">
/// The ESMTP parameters of a <see cref="CommandLineKind.Rcpt"/>, <see cref="CommandLineKind.Mail"/> or
/// <see cref="CommandLineKind.BarePostmaster"/> line, as the client wrote them (UTF-8), split where Postfix's smtpd splits
/// a command line; null for other lines.
/// </param>
/// <param name="Replacement">
/// The line SmtpServer's parser is given in this one's place (whole, CR LF ended), so that it never sees what it cannot
/// read; null when it is given the line as it came.
/// </param>
/// <param name="Verb">
/// The line's command, its first word, as Postfix's smtpd names it (<c>MAIL</c>, whatever the letter case the client
/// wrote): what a reply of SmtpServer's own to the line is made Postfix's by (FilteredSession); null for a line whose first
/// word is no command.
/// </param>
/// <param name="Text">
/// What of the line the session passes on: a <see cref="CommandLineKind.NotSmtp"/> line's first 100 bytes, for the log
/// (read as Latin-1, a character per byte); an <see cref="CommandLineKind.Unrecognized"/> line's first word, for the
/// filter's UNKNOWN stage (what Postfix's smtpd gives its milters); a <see cref="CommandLineKind.Vrfy"/> line's address.
/// </param>
/// <param name="PathGiven">
/// A MAIL or RCPT line has its <c>FROM:</c> or <c>TO:</c> and a path in angle brackets after it: what SmtpServer's parser
/// cannot read of it is the address, which Postfix refuses as such (<c>501 5.1.7 Bad sender address syntax</c>).
/// </param>
/// <param name="Before">
/// The command SmtpServer is given before this line, which the client did not send (<see cref="After"/>): its reply is not
/// the client's and is not sent; null for none.
/// </param>
internal readonly record struct CommandLine(CommandLineKind Kind, int Length = 0, string? Path = null, IReadOnlyList<string>? Parameters = null,
    byte[]? Replacement = null, string? Verb = null, string? Text = null, bool PathGiven = false, string? Before = null)
{
    /// <summary>
    /// The commands of Postfix 3.7's smtpd (<c>smtpd_cmd_table</c>), as <see cref="Verb"/> names them: the first word of a
    /// line is one of these, in any letter case, or it is no command.
    /// </summary>
    private static readonly string[] PostfixCommands = ["HELO", "EHLO", "XCLIENT", "XFORWARD", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "ETRN", "QUIT"];

    /// <summary>The commands of <see cref="PostfixCommands"/> SmtpServer's parser does not take (<see cref="CommandLineKind.NotImplemented"/>).</summary>
    private static readonly string[] NotServed = ["ETRN", "XCLIENT", "XFORWARD"];

    /// <summary>The words <c>smtpd_forbidden_commands</c> names by default besides a word that does not start with a letter.</summary>
    private static readonly string[] ForbiddenCommands = ["CONNECT", "GET", "POST"];

    /// <summary>The longest line looked at: <see cref="LongestCommand"/> and a CR LF.</summary>
    private const int LongestLine = LongestCommand + 2;

    /// <summary>
    /// The most of a command line Postfix's smtpd reads (<c>line_length_limit</c>, 2,048 bytes, its line end not counted):
    /// the rest of a longer line, to its end, is skipped (<c>smtp_get</c> with <c>SMTP_GET_FLAG_SKIP</c>) and the command is
    /// what came before it.
    /// </summary>
    public const int LongestCommand = HeaderSyntax.PostfixLineLimit;

    /// <summary>
    /// The most of an <c>AUTH</c> line read: RFC 4954 §4 raises the line limit to 12,288 octets for it, as its initial
    /// response may be long (a Kerberos ticket). Postfix 3.7 cuts it at <see cref="LongestCommand"/> like any other, and the
    /// authentication then fails; SmtpServer needs it whole, or its base64 decoding throws and ends the session.
    /// </summary>
    public const int LongestAuthCommand = 12_288;

    /// <summary>
    /// The most of the command line that <paramref name="buffer"/> starts with that is read (<see cref="LongestCommand"/>,
    /// or <see cref="LongestAuthCommand"/> for an <c>AUTH</c> line), its line end not counted.
    /// </summary>
    public static int LongestOf(in ReadOnlySequence<byte> buffer) => StartsWithAuth(buffer) ? LongestAuthCommand : LongestCommand;

    /// <summary>
    /// The length of the line that <paramref name="buffer"/> starts with, its LF counted, once that LF has come within the
    /// most of it that is read (<see cref="LongestOf"/> bytes before it, a CR right before it not counted); -1 before, or
    /// when the line is longer than that (it is then cut).
    /// </summary>
    public static int WholeLength(in ReadOnlySequence<byte> buffer)
    {
        var longest = LongestOf(buffer);
        var length = (int)Math.Min(buffer.Length, longest + 2);
        Span<byte> start = length <= LongestLine ? stackalloc byte[length] : new byte[length];
        buffer.Slice(0, length).CopyTo(start);
        return WholeLength(start, longest);
    }

    /// <summary>The length of the line <paramref name="start"/> begins with, its LF counted, as <see cref="WholeLength(in ReadOnlySequence{byte})"/>.</summary>
    private static int WholeLength(ReadOnlySpan<byte> start, int longest)
    {
        var before = start[..Math.Min(start.Length, longest + 2)].IndexOf((byte)'\n');
        return before >= 0 && WithinLimit(before, longest, before > 0 ? start[before - 1] : (byte)0) ? before + 1 : -1;
    }

    /// <summary>
    /// A line whose LF comes after <paramref name="before"/> bytes, the last of them <paramref name="last"/>, is whole when
    /// at most <paramref name="longest"/> of them come before a CR right before the LF (Postfix's <c>smtp_get</c> reads
    /// <c>line_length_limit</c> bytes, and a CR LF split by that limit still ends the line).
    /// </summary>
    private static bool WithinLimit(int before, int longest, byte last) => before <= longest || (before == longest + 1 && last == '\r');

    /// <summary>
    /// The command line a cut line was cut to (its first <see cref="LongestOf"/> bytes and a CR LF), read as
    /// <see cref="Read(in ReadOnlySequence{byte})"/> reads any, but for an <c>AUTH</c> line: <see cref="CommandLineKind.AuthTooLong"/>.
    /// </summary>
    public static CommandLine ReadCut(in ReadOnlySequence<byte> cut) =>
        StartsWithAuth(cut) ? new CommandLine(CommandLineKind.AuthTooLong, (int)cut.Length, Replacement: NoopStandIn) : Read(cut);

    /// <summary>
    /// <c>AUTH</c>, in any letter case, and a byte SmtpServer's parser takes for a space, after any such spaces (the line is
    /// read from its first word).
    /// </summary>
    private static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        reader.AdvancePastAny(ParserSpaceBytes);
        Span<byte> verb = stackalloc byte[5];
        return reader.TryCopyTo(verb) && Ascii.EqualsIgnoreCase(verb[..4], "AUTH"u8) && ParserSpaces.Contains(verb[4]);
    }

    /// <summary>The local part of <see cref="PostmasterStandIn"/>.</summary>
    private const string StandInUser = "postmaster";

    /// <summary>
    /// The domain of <see cref="PostmasterStandIn"/>: reserved (RFC 2606), so that no real address has it and the stand-in,
    /// should it ever be taken for an address, goes nowhere.
    /// </summary>
    private const string StandInDomain = "postmaster.invalid";

    /// <summary>
    /// What SmtpServer's parser is given in place of a <see cref="CommandLineKind.BarePostmaster"/> line: a line of the
    /// integration's own, the same whatever the client wrote, so that nothing of the client's reaches the parser through it
    /// (its parameters are taken from the line, as every RCPT's are). It is SmtpServer's own RCPT for that: its state
    /// machine, its mailbox filter and its transaction (<c>postmaster@postmaster.invalid</c> in <c>Transaction.To</c>).
    /// </summary>
    private static readonly byte[] PostmasterStandIn = Encoding.ASCII.GetBytes($"RCPT TO:<{StandInUser}@{StandInDomain}>\r\n");

    /// <summary>
    /// What SmtpServer's parser is given in place of a line answered before it may read it (every kind with a reply of the
    /// session's own: <see cref="CommandLineKind.NotUtf8"/>, <see cref="CommandLineKind.Blank"/>,
    /// <see cref="CommandLineKind.Unrecognized"/>, <see cref="CommandLineKind.NotSmtp"/>, <see cref="CommandLineKind.Vrfy"/> and the
    /// rest) and of a <see cref="CommandLineKind.NoopWithText"/>: a command with no effect.
    /// </summary>
    private static readonly byte[] NoopStandIn = "NOOP\r\n"u8.ToArray();

    /// <summary>What SmtpServer's parser is given in place of a <see cref="CommandLineKind.QuitWithText"/>.</summary>
    private static readonly byte[] QuitStandIn = "QUIT\r\n"u8.ToArray();

    /// <summary>
    /// The HELO SmtpServer is given before a MAIL, STARTTLS or AUTH that came without one (<see cref="After"/>): its name is
    /// never used (the session's HELO name stays unset, as Postfix's does), and it is one SmtpServer's parser reads.
    /// </summary>
    private static readonly byte[] HeloStandIn = "HELO unknown\r\n"u8.ToArray();

    /// <summary>The RSET SmtpServer is given before a HELO, EHLO or STARTTLS inside a transaction (<see cref="After"/>).</summary>
    private static readonly byte[] RsetStandIn = "RSET\r\n"u8.ToArray();

    /// <summary>The path of a <see cref="CommandLineKind.Mail"/> line is given to SmtpServer's parser after this.</summary>
    private static ReadOnlySpan<byte> MailFrom => "MAIL FROM:"u8;

    /// <summary>
    /// What SmtpServer's parser treats as a space between two words (its <c>Token.IsWhiteSpace</c>): HT, LF, VT, FF, CR,
    /// space.
    /// </summary>
    private static readonly SearchValues<byte> ParserSpaces = SearchValues.Create(ParserSpaceBytes);

    /// <summary>The bytes of <see cref="ParserSpaces"/>.</summary>
    private static ReadOnlySpan<byte> ParserSpaceBytes => "\t\n\v\f\r "u8;

    /// <summary>
    /// The path the client wrote, when this line is a <see cref="CommandLineKind.BarePostmaster"/> and
    /// <paramref name="parsed"/> is what SmtpServer read of its stand-in; null otherwise (a client that writes the stand-in's
    /// address itself names that address, like any other).
    /// </summary>
    public string? BarePostmasterPath(IMailbox parsed) =>
        Kind == CommandLineKind.BarePostmaster && parsed.User == StandInUser && parsed.Host == StandInDomain ? Path : null;

    /// <summary>
    /// The name the client gave in the EHLO that SmtpServer read as <paramref name="parsed"/>, when this is its line: an
    /// address literal with its brackets back (the parser took off just the two); any other name as it is.
    /// </summary>
    public string EhloName(string parsed) => Kind == CommandLineKind.EhloAddressLiteral ? $"[{parsed}]" : parsed;

    /// <summary>
    /// The ESMTP parameters of the RCPT whose path SmtpServer read as <paramref name="parsed"/>, when this is its line;
    /// none otherwise (a bare postmaster's only when <paramref name="parsed"/> is the stand-in: see
    /// <see cref="BarePostmasterPath"/>).
    /// </summary>
    public IReadOnlyList<string> RcptParameters(IMailbox parsed) => Kind switch
    {
        CommandLineKind.Rcpt => Parameters ?? [],
        CommandLineKind.BarePostmaster when BarePostmasterPath(parsed) is not null => Parameters ?? [],
        _ => [],
    };

    /// <summary>
    /// Reads the first line of <paramref name="buffer"/>, the client's bytes from where SmtpServer parses its next command.
    /// A line longer than <see cref="LongestCommand"/> is read as Postfix reads it, cut there (the pipe gives SmtpServer
    /// such a line cut so, and skips the rest: a <see cref="Length"/> is then the cut line's).
    /// </summary>
    public static CommandLine Read(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return default;
        }

        // The whole line, up to what is read of it: an AUTH line's 12,288 bytes too, so that its Length is its own.
        var longest = LongestOf(buffer);
        var length = (int)Math.Min(buffer.Length, longest + 2);
        Span<byte> start = length <= LongestLine ? stackalloc byte[length] : new byte[length];
        buffer.Slice(0, length).CopyTo(start);
        if (length == longest + 2 && WholeLength(start, longest) < 0)
        {
            "\r\n"u8.CopyTo(start[longest..]); // as Postfix reads a longer line
        }

        return Read(start, longest);
    }

    /// <summary>The line <paramref name="start"/> begins with, once its LF has come; none before (<see cref="CommandLineKind.Other"/>).</summary>
    private static CommandLine Read(ReadOnlySpan<byte> start, int longest)
    {
        var whole = WholeLength(start, longest);
        if (whole < 0)
        {
            return default;
        }

        var content = start[..(whole - 1)].TrimEnd((byte)'\r'); // smtp_get takes off every CR before the LF
        if (NotUtf8(content) is { } notUtf8)
        {
            return notUtf8 with { Length = whole }; // judged whole, a NUL's rest too, before Postfix looks for a word
        }

        var nul = content.IndexOf((byte)0);
        content = nul >= 0 ? content[..nul] : content; // Postfix's line is a C string: a NUL ends it
        var first = content.IndexOfAnyExcept(ParserSpaces);
        if (first < 0)
        {
            return new CommandLine(CommandLineKind.Blank, whole, Replacement: NoopStandIn);
        }

        var line = content[first..];
        var verb = VerbOf(line);
        var read = OtherThanServed(content, first, verb) ?? (line[0] | 0x20) switch
        {
            'e' => Ehlo(line),
            'm' => Mail(line),
            'n' => WithText(line, "NOOP"u8, CommandLineKind.NoopWithText, NoopStandIn),
            'q' => WithText(line, "QUIT"u8, CommandLineKind.QuitWithText, QuitStandIn),
            'r' => Rcpt(line),
            _ => default, // the first byte tells most lines apart at once
        };
        read = read with { Length = whole, Verb = verb, PathGiven = verb is "MAIL" or "RCPT" && PathFollows(line, verb) };

        // A line SmtpServer's parser would not read as Postfix does, for its start or its end, and given as it came
        // otherwise: it is given from its first word, CR LF ended.
        return read.Replacement is null && (first > 0 || whole != content.Length + 2) ? read with { Replacement = [.. line, .. "\r\n"u8] } : read;
    }

    /// <summary>The command <paramref name="line"/> starts with, one of <see cref="PostfixCommands"/>; null when its first word is none.</summary>
    private static string? VerbOf(ReadOnlySpan<byte> line) => OneOf(FirstWord(line), PostfixCommands);

    /// <summary>The word of <paramref name="words"/> <paramref name="word"/> is, in any letter case; null when none.</summary>
    private static string? OneOf(ReadOnlySpan<byte> word, string[] words)
    {
        foreach (var candidate in words)
        {
            if (Ascii.EqualsIgnoreCase(word, candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>A MAIL or RCPT line (<paramref name="verb"/>) whose <c>FROM:</c> or <c>TO:</c> a <c>&lt;</c> follows, spaces between.</summary>
    private static bool PathFollows(ReadOnlySpan<byte> line, string verb)
    {
        var reader = new Reader(line);
        return Command(ref reader, verb == "MAIL" ? "MAIL"u8 : "RCPT"u8, verb == "MAIL" ? "FROM:"u8 : "TO:"u8) && line[reader.Position..] is [(byte)'<', ..];
    }

    /// <summary>The first word of <paramref name="line"/> (which starts with it), as Postfix's smtpd splits a line.</summary>
    private static ReadOnlySpan<byte> FirstWord(ReadOnlySpan<byte> line)
    {
        var end = line.IndexOfAny(ParserSpaces);
        return end < 0 ? line : line[..end];
    }

    /// <summary>
    /// A line whose first word, at <paramref name="first"/> in <paramref name="content"/>, is no command
    /// (<see cref="CommandLineKind.Unrecognized"/>, or <see cref="CommandLineKind.NotSmtp"/> as Postfix tells it) or one
    /// SmtpServer does not serve (<see cref="CommandLineKind.NotImplemented"/>, <see cref="CommandLineKind.Bdat"/>,
    /// <see cref="CommandLineKind.Vrfy"/>); null for any other.
    /// </summary>
    private static CommandLine? OtherThanServed(ReadOnlySpan<byte> content, int first, string? verb)
    {
        var line = content[first..];
        switch (verb)
        {
            case "BDAT":
                return new CommandLine(CommandLineKind.Bdat, Replacement: NoopStandIn);
            case "VRFY":
                var rest = line[4..];
                var start = rest.IndexOfAnyExcept(ParserSpaces);
                var address = start < 0 ? [] : rest[start..(rest.LastIndexOfAnyExcept(ParserSpaces) + 1)];
                return new CommandLine(CommandLineKind.Vrfy, Replacement: NoopStandIn, Text: Encoding.UTF8.GetString(address));
            case not null:
                return NotServed.Contains(verb) ? new CommandLine(CommandLineKind.NotImplemented, Replacement: NoopStandIn) : null;
        }

        var word = FirstWord(line);
        var notSmtp = !char.IsAsciiLetter((char)word[0]) || IsHeaderName(word) || OneOf(word, ForbiddenCommands) is not null;
        return notSmtp
            ? new CommandLine(CommandLineKind.NotSmtp, Replacement: NoopStandIn, Text: Encoding.Latin1.GetString(content[..Math.Min(content.Length, 100)]))
            : new CommandLine(CommandLineKind.Unrecognized, Replacement: NoopStandIn, Text: Encoding.UTF8.GetString(word));
    }

    /// <summary>This line refused as <see cref="CommandLineKind.AuthNotEnabled"/> (an AUTH where the server offers none), a NOOP in its place.</summary>
    public CommandLine AuthNotEnabled() => this with { Kind = CommandLineKind.AuthNotEnabled, Replacement = NoopStandIn };

    /// <summary>
    /// This line given to SmtpServer after <paramref name="command"/> (<see cref="RsetCommand.Command"/> or
    /// <see cref="HeloCommand.Command"/>), which its state machine needs first to take the line as Postfix takes it;
    /// <paramref name="line"/> is the line as the client sent it.
    /// </summary>
    public CommandLine After(string command, in ReadOnlySequence<byte> line) => this with
    {
        Before = command,
        Replacement = [.. command == RsetCommand.Command ? RsetStandIn : HeloStandIn, .. Given(line).ToArray()],
    };

    /// <summary>
    /// SmtpServer's parser reads this line as a command (<paramref name="line"/>, the client's bytes, starts with it): what it
    /// is given of the line, parsed as it parses it. A line it cannot read gets its reply before the state machine looks.
    /// </summary>
    public bool ReadBySmtpServer(in ReadOnlySequence<byte> line)
    {
        var given = Given(line);
        return new SmtpParser(new SmtpCommandFactory()).TryMake(ref given, out _, out _);
    }

    /// <summary>What SmtpServer is given of this line, which <paramref name="line"/> (the client's bytes) starts with.</summary>
    private ReadOnlySequence<byte> Given(in ReadOnlySequence<byte> line) =>
        Replacement is { } replacement ? new ReadOnlySequence<byte>(replacement) : line.Slice(0, Length);

    /// <summary>
    /// Postfix's <c>is_header</c> of a word: printable ASCII up to a colon, at least one byte of it (<c>Subject:</c>,
    /// <c>a:b</c>).
    /// </summary>
    private static bool IsHeaderName(ReadOnlySpan<byte> word)
    {
        var colon = word.IndexOf((byte)':');
        return colon > 0 && word[..colon].IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) < 0;
    }

    /// <summary>
    /// <paramref name="command"/> (four letters, in any letter case), a byte Postfix's tokenizer takes for a space (a tab, a
    /// bare CR too) and anything: <paramref name="kind"/>, with <paramref name="standIn"/>, the command alone, in its place
    /// (<see cref="CommandLineKind.NoopWithText"/>, <see cref="CommandLineKind.QuitWithText"/>).
    /// </summary>
    private static CommandLine WithText(ReadOnlySpan<byte> line, ReadOnlySpan<byte> command, CommandLineKind kind, byte[] standIn) =>
        line.Length > 4 && Ascii.EqualsIgnoreCase(line[..4], command) && ParserSpaces.Contains(line[4])
            ? new CommandLine(kind, Replacement: standIn)
            : default;

    /// <summary>A line (without its line end) with a byte of 0x80 or more that is not UTF-8: <see cref="CommandLineKind.NotUtf8"/>.</summary>
    private static CommandLine? NotUtf8(ReadOnlySpan<byte> line) =>
        line.IndexOfAnyExceptInRange((byte)0, (byte)0x7F) >= 0 && !Utf8.IsValid(line)
            ? new CommandLine(CommandLineKind.NotUtf8, Replacement: NoopStandIn)
            : null;


    /// <summary>
    /// <c>MAIL</c>, spaces, <c>FROM:</c>, spaces if any, a path in angle brackets (<see cref="PathLength"/>), then the line's
    /// end, or a space and parameters, or other text; a line whose path has no brackets or no end is left to SmtpServer.
    /// </summary>
    private static CommandLine Mail(ReadOnlySpan<byte> line)
    {
        var reader = new Reader(line);
        var pathLength = Command(ref reader, "MAIL"u8, "FROM:"u8) ? PathLength(line[reader.Position..]) : -1;
        if (pathLength < 0)
        {
            return default;
        }

        var path = line[reader.Position..];
        var rest = path[pathLength..];
        if (rest.IsEmpty)
        {
            return new CommandLine(CommandLineKind.Mail, Parameters: []);
        }

        byte[] replacement = [.. MailFrom, .. path[..pathLength], .. "\r\n"u8];
        return ParametersFollow(rest) ? new CommandLine(CommandLineKind.Mail, Parameters: ParametersOf(rest), Replacement: replacement)
            : new CommandLine(CommandLineKind.MailTextAfterPath, Replacement: replacement);
    }

    /// <summary>
    /// <c>EHLO</c>, then the first byte that is not a space to SmtpServer's parser a <c>[</c>, on the line: the parser reads
    /// no domain name there (a domain starts with a letter or a digit) and so took the address literal's path, which takes
    /// the brackets off.
    /// </summary>
    private static CommandLine Ehlo(ReadOnlySpan<byte> line)
    {
        if (line.Length < 4 || !Ascii.EqualsIgnoreCase(line[..4], "EHLO"u8))
        {
            return default;
        }

        var name = line[4..].IndexOfAnyExcept(ParserSpaces);
        return name >= 0 && line[4 + name] == '[' ? new CommandLine(CommandLineKind.EhloAddressLiteral) : default;
    }

    /// <summary>
    /// <c>RCPT TO:</c> and a path (<see cref="OtherPath"/> for any but a bare postmaster), or
    /// <c>RCPT TO:&lt;postmaster&gt;</c>: RCPT, spaces, TO:, spaces if any, the path, then the line's end or a space and
    /// parameters. The words are SmtpServer's (its parser reads <c>RCPT</c> and <c>TO</c> as two words, with spaces between
    /// and <c>:</c> right after <c>TO</c>); a space is any byte its parser takes for one (a tab, a lone CR or LF too, as
    /// Postfix's smtpd does), and nothing but such a space or the line's end may follow the path (Postfix answers
    /// <c>&lt;postmaster&gt;x</c> 501).
    /// </summary>
    private static CommandLine Rcpt(ReadOnlySpan<byte> line)
    {
        var reader = new Reader(line);
        if (!Command(ref reader, "RCPT"u8, "TO:"u8))
        {
            return default;
        }

        var pathStart = reader.Position;
        if (!reader.Word("<postmaster>"u8))
        {
            return OtherPath(line[pathStart..]);
        }

        var path = Encoding.ASCII.GetString(line[pathStart..reader.Position]);
        return ParametersFollow(line[reader.Position..])
            ? new CommandLine(CommandLineKind.BarePostmaster, Path: path, Parameters: ParametersOf(line[reader.Position..]), Replacement: PostmasterStandIn)
            : default; // <postmaster>x: not a path to SmtpServer's parser either (502)
    }

    /// <summary>
    /// A path other than a bare postmaster, from its first byte: in angle brackets, a <c>&gt;</c> inside a quoted local
    /// part (<c>&lt;"a&gt;b"@example.com&gt;</c>) taken as SmtpServer's parser takes it, then the line's end or a space
    /// and parameters. A path without brackets is left to SmtpServer's parser (which answers it 502).
    /// </summary>
    private static CommandLine OtherPath(ReadOnlySpan<byte> path)
    {
        var pathLength = PathLength(path);
        if (pathLength < 0)
        {
            return default; // no end of the path on the line: SmtpServer's parser answers it
        }

        var rest = path[pathLength..];
        return ParametersFollow(rest)
            ? new CommandLine(CommandLineKind.Rcpt, Parameters: ParametersOf(rest))
            : new CommandLine(CommandLineKind.RcptTextAfterPath);
    }

    /// <summary>
    /// <paramref name="verb"/>, spaces, <paramref name="keyword"/> (its colon with it), spaces if any: SmtpServer's parser
    /// reads <c>MAIL FROM:</c> and <c>RCPT TO:</c> as two words, with spaces between and the colon right after the second.
    /// </summary>
    private static bool Command(ref Reader reader, ReadOnlySpan<byte> verb, ReadOnlySpan<byte> keyword) =>
        reader.Word(verb) && reader.Spaces(atLeastOne: true) && reader.Word(keyword) && reader.Spaces(atLeastOne: false);

    /// <summary>
    /// What follows a path, <paramref name="rest"/>, is the line's end or a space and parameters; anything else right after
    /// the path (<c>&lt;a@example.com&gt;x</c>) is not, and Postfix refuses it.
    /// </summary>
    private static bool ParametersFollow(ReadOnlySpan<byte> rest) => rest.IsEmpty || ParserSpaces.Contains(rest[0]);

    /// <summary>
    /// The length of the path in angle brackets that <paramref name="line"/> starts with, its closing bracket counted: a
    /// <c>&gt;</c> inside a quoted local part (<c>&lt;"a&gt;b"@example.com&gt;</c>, a backslash pair in it too) is not its
    /// end, as SmtpServer's parser reads it. -1 when the line does not start with <c>&lt;</c> or the path does not end on
    /// it.
    /// </summary>
    private static int PathLength(ReadOnlySpan<byte> line)
    {
        if (line is not [(byte)'<', ..])
        {
            return -1;
        }

        var quoted = false;
        for (var i = 1; i < line.Length; i++)
        {
            var b = line[i];
            if (quoted)
            {
                i += b == '\\' ? 1 : 0; // a quoted pair: the next byte is text
                quoted = b != '"';
            }
            else if (b == '"')
            {
                quoted = true;
            }
            else if (b == '>')
            {
                return i + 1;
            }
        }

        return -1;
    }

    /// <summary>
    /// The words of <paramref name="rest"/>, the line after the path, as Postfix's smtpd splits a command line
    /// (<c>smtpd_token</c>): at the bytes C's <c>isspace</c> takes (HT, LF, VT, FF, CR, space, the same as SmtpServer's
    /// parser), but not inside a quoted string, inside angle brackets, or right after a backslash, so that
    /// <c>ORCPT=rfc822;"a b"@example.com</c> and <c>X="a b"</c> are one word each; a quote or bracket without its end
    /// runs to the line's end. Each word is kept as written (quotes and backslashes too) and read as UTF-8.
    /// </summary>
    private static string[] ParametersOf(ReadOnlySpan<byte> rest)
    {
        // Postfix's line is a C string: a NUL ends it, and what follows is never read.
        var nul = rest.IndexOf((byte)0);
        rest = nul >= 0 ? rest[..nul] : rest;
        var parameters = new List<string>();
        while (rest.IndexOfAnyExcept(ParserSpaces) is var start and >= 0)
        {
            rest = rest[start..];
            var length = WordLength(rest);
            parameters.Add(Encoding.UTF8.GetString(rest[..length]));
            rest = rest[length..];
        }

        return [.. parameters];
    }

    /// <summary>
    /// The length of the word <paramref name="word"/> starts with (smtpd_token's <c>smtp_next_token</c> and
    /// <c>smtp_quoted</c>): inside angle brackets a quote or another bracket opens, inside a quote only its end closes, and
    /// a backslash makes the next byte text anywhere.
    /// </summary>
    private static int WordLength(ReadOnlySpan<byte> word)
    {
        var (brackets, quoted) = (0, false);
        for (var i = 0; i < word.Length; i++)
        {
            var b = word[i];
            if (b is (byte)'\r' or (byte)'\n')
            {
                // A bare CR or LF ends a word even inside quotes or brackets (Postfix's line ends at an LF, and no
                // parameter of ours may carry a line end into a milter's or a next hop's command).
                return i;
            }
            else if (b == '\\')
            {
                i += word.Length > i + 1 && word[i + 1] is (byte)'\r' or (byte)'\n' ? 0 : 1; // the next byte is text, but for a line end
            }
            else if (quoted)
            {
                quoted = b != '"';
            }
            else if (b == '"')
            {
                quoted = true;
            }
            else if (b == '<')
            {
                brackets++;
            }
            else if (b == '>' && brackets > 0)
            {
                brackets--;
            }
            else if (brackets == 0 && ParserSpaces.Contains(b))
            {
                return i;
            }
        }

        return word.Length;
    }

    /// <summary>Reads a whole line from its start.</summary>
    private ref struct Reader(ReadOnlySpan<byte> line)
    {
        private readonly ReadOnlySpan<byte> _line = line;

        public int Position { get; private set; }

        /// <summary><paramref name="word"/>, ASCII letter case aside.</summary>
        public bool Word(ReadOnlySpan<byte> word)
        {
            var rest = _line[Position..];
            if (rest.Length < word.Length || !Ascii.EqualsIgnoreCase(rest[..word.Length], word))
            {
                return false;
            }

            Position += word.Length;
            return true;
        }

        /// <summary>Spaces (any byte SmtpServer's parser and Postfix's smtpd take for one: a tab too), and something after them.</summary>
        public bool Spaces(bool atLeastOne)
        {
            var count = _line[Position..].IndexOfAnyExcept(ParserSpaces);
            if (count < 0)
            {
                Position = _line.Length;
                return false;
            }

            Position += count;
            return count > 0 || !atLeastOne;
        }
    }
}
