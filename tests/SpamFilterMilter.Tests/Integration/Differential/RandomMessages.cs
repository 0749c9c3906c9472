using System.Globalization;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tests.Integration.Differential;

/// <summary>
/// One random message: its transaction (envelope and bytes), the libmilter test milter's actions for it (each an
/// <c>-a</c> argument, given to the milter through its <c>-f</c> file under <see cref="Key"/>, which the transaction's
/// first address holds), and whether its replacement body has a CR without LF (a kept difference).
/// </summary>
internal sealed record RandomMessage(int Index, string Key, SmtpTransaction Transaction, IReadOnlyList<string> Actions, bool StrayCrs);

/// <summary>One SMTP session of random messages: its HELO name and its messages in order.</summary>
internal sealed record RandomSession(string Helo, IReadOnlyList<RandomMessage> Messages)
{
    public SmtpDialogue Dialogue => new(Helo, [.. Messages.Select(m => m.Transaction)]);
}

/// <summary>
/// Sessions run through one Postfix instance and one milter process, started with <see cref="MilterFlags"/> (protocol
/// flags it asks for, the same for all its connections).
/// </summary>
internal sealed record RandomBatch(int Number, IReadOnlyList<string> MilterFlags, IReadOnlyList<RandomSession> Sessions)
{
    public IEnumerable<RandomMessage> Messages => Sessions.SelectMany(s => s.Messages);
}

/// <summary>
/// Makes, from a seed, messages of the kinds the world sends: 8-bit header fields (UTF-8, Latin-1, invalid sequences),
/// RFC 2047 words, folded fields (space and tab folds, blank continuation lines, trailing blanks), lines around and past
/// 998 and 2,048 bytes, blanks before the colon, duplicate and odd-case field names, the fields Postfix treats
/// specially, MIME multipart bodies with 8-bit parts, bare LFs, bare CRs and NULs, lines starting with dots, empty
/// bodies, no final CRLF, header sections ended oddly; random envelopes (ESMTP parameters both MTAs take) and random
/// milter edits and verdicts. Message <c>i</c> depends on the seed and <c>i</c> alone; the sessions and batches they
/// are put in depend on the seed and the count.
/// </summary>
internal static partial class RandomMessages
{
    /// <summary>Messages per Postfix instance and milter process.</summary>
    private const int BatchSize = 100;

    /// <summary>The key that marks message <paramref name="index"/>'s transaction for the milter: no key is part of another.</summary>
    public static string Key(int index) => $"k{index.ToString("D5", CultureInfo.InvariantCulture)}z";

    /// <summary>Message <paramref name="index"/> of the run with <paramref name="seed"/>.</summary>
    public static RandomMessage Make(int seed, int index)
    {
        using var maker = new MessageMaker(new Random(Mix(seed, index)), index);
        return maker.Make();
    }

    /// <summary>
    /// The run's batches: messages 0 to <paramref name="count"/> - 1 in sessions of one to six, batches of about
    /// <see cref="BatchSize"/> messages; only <paramref name="only"/> (alone in its session, in its batch's milter) when given.
    /// </summary>
    public static IReadOnlyList<RandomBatch> Batches(int seed, int count, int? only = null)
    {
        var random = new Random(Mix(seed, -1));
        var batches = new List<RandomBatch>();
        var index = 0;
        var total = Math.Max(count, (only ?? -1) + 1);
        while (index < total)
        {
            var flags = random.Next(20) switch
            {
                < 10 => Array.Empty<string>(),
                < 16 => ["-P", "HDR_LEADSPC"],
                < 18 => ["-P", "-SKIP"],
                < 19 => ["-P", "NOBODY"],
                _ => ["-P", "NOHDRS,NOEOH"],
            };
            var sessions = new List<RandomSession>();
            var end = Math.Min(total, index + BatchSize);
            while (index < end)
            {
                var size = Math.Min(end - index, random.Next(10) switch { < 3 => 1, < 5 => 2, < 7 => 3, < 9 => 4, _ => 6 });
                var helo = Pick(random, "client.example", "client.example", "mail.example.org", "[192.0.2.7]", "localhost", "Client.Example");
                var messages = Enumerable.Range(index, size).Select(i => Make(seed, i)).ToList();
                // A message given up before DATA is reset; EHLO again only between messages.
                messages = [.. messages.Select((m, n) => m with
                {
                    Transaction = m.Transaction with
                    {
                        ResetAfter = m.Transaction.ResetAfter || m.Transaction.Message is null,
                        EhloBefore = n > 0 ? m.Transaction.EhloBefore : null,
                    },
                })];
                sessions.Add(new RandomSession(helo, messages));
                index += size;
            }

            batches.Add(new RandomBatch(batches.Count, flags, sessions));
        }

        if (only is { } one)
        {
            var batch = batches.Single(b => b.Messages.Any(m => m.Index == one));
            var session = batch.Sessions.Single(s => s.Messages.Any(m => m.Index == one));
            var message = session.Messages.Single(m => m.Index == one);
            return [batch with { Sessions = [new RandomSession(session.Helo, [message with { Transaction = message.Transaction with { EhloBefore = null } }])] }];
        }

        return batches;
    }

    /// <summary>A seed for one message (or, with -1, for the layout), the same on every machine and run.</summary>
    private static int Mix(int seed, int index)
    {
        var x = unchecked(((ulong)(uint)seed << 32) ^ (uint)index) + 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return (int)(x ^ (x >> 31));
    }

    private static T Pick<T>(Random random, params T[] items) => items[random.Next(items.Length)];

    /// <summary>A Content-Transfer-Encoding field that says 8bit or binary, as Postfix's cleanup finds one.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"content-transfer-encoding[ \t]*:[ \t]*(8bit|binary)", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex DeclaredEightBit();

    /// <summary>One message: built in order (envelope, header section, body, then the milter's actions, which know what is in it).</summary>
    private sealed class MessageMaker(Random random, int index) : IDisposable
    {
        private static readonly string[] Words = ["hello", "invoice", "meeting", "Re:", "Fwd:", "the", "report", "urgent", "update", "offer", "free", "your",
            "account", "lunch", "tomorrow", "2026", "#42", "(draft)", "[list]", "a", "\"quoted\"", "50%", "<tag>", "o'clock", "x=y", "semi;colon", "comma,"];

        private static readonly string[] Utf8Words = ["café", "naïve", "Grüße", "日本語", "☃", "😀", "Ελληνικά", "привет", "€100", "ß"];

        private static readonly byte[][] Latin1Words = [[0x63, 0x61, 0x66, 0xE9], [0xFC, 0xE4, 0xF6], [0x47, 0x72, 0xFC, 0xDF, 0x65], [0xA3, 0x35], [0xA0]];

        private static readonly byte[][] InvalidWords = [[0xC3, 0x28], [0xFF, 0xFE], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0x80], [0xF0, 0x9F, 0x98]];

        private static readonly string[] CommonFields = ["To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References", "X-Mailer",
            "User-Agent", "List-Id", "List-Unsubscribe", "Sender", "Organization", "Thread-Topic", "X-Priority", "Importance", "Keywords", "Comments",
            "Authentication-Results", "X-Spam-Status", "X-Originating-IP", "DKIM-Signature", "Content-Language", "Precedence", "Auto-Submitted", "X-Custom_Field",
            "X-Num123", "X.Dotted"];

        private static readonly string[] SpecialFields = ["Received", "Return-Path", "Bcc", "Resent-Bcc", "Content-Length", "Resent-From", "Resent-To",
            "Resent-Date", "Resent-Message-ID", "Resent-Cc", "Resent-Sender", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
            "Content-ID", "Delivered-To", "X-Original-To", "Apparently-To", "Errors-To", "Disposition-Notification-To", "X-Bcc", "Resent-Bccx"];

        private readonly string _key = Key(index);
        private readonly MemoryStream _out = new();
        private readonly List<string> _fields = []; // the names of the fields written, as written
        private readonly List<string> _recipients = []; // the RCPT arguments, as written
        private readonly List<string> _paths = []; // their paths
        private readonly List<string> _actions = [];
        private string _eol = "\r\n";
        private bool _strayCrs;

        public void Dispose() => _out.Dispose();

        public RandomMessage Make()
        {
            var (mail, rcpts, nullSender) = Envelope();
            _eol = random.Next(20) switch { < 17 => "\r\n", < 19 => "\n", _ => "mixed" };
            byte[]? message = null;
            if (random.Next(40) != 0)
            {
                Message();
                message = _out.ToArray();
                mail = EightBitParameter(mail, message);
            }

            Actions(nullSender, message is null);
            var ascii = (message is null || message.All(b => b < 0x80)) && !_actions.Any(HasEightBitEscape) && mail.All(char.IsAscii) && rcpts.All(r => r.All(char.IsAscii));
            if (P(6) && (ascii || !Steer.Smtputf8OnlyOnAscii))
            {
                mail += " " + Cased("SMTPUTF8");
            }

            var transaction = new SmtpTransaction(mail, rcpts, message, ResetAfter: random.Next(15) == 0,
                EhloBefore: random.Next(30) == 0 ? Pick(random, "again.example", "client.example") : null);
            return new RandomMessage(index, _key, transaction, _actions, _strayCrs);
        }

        private bool P(int percent) => random.Next(100) < percent;

        private static string MailPathBare(string path) => path.Trim().Trim('<', '>');

        /// <summary>True when an action's argument has an 8-bit byte (\\x80 to \\xff).</summary>
        private static bool HasEightBitEscape(string action) =>
            action.Split("\\x").Skip(1).Any(hex => hex.Length > 0 && hex[0] is (>= '8' and <= '9') or (>= 'a' and <= 'f'));

        // ---------------------------------------------------------------- envelope

        private (string Mail, string[] Rcpts, bool NullSender) Envelope()
        {
            var nullSender = P(8);
            var lower = Steer.LowerCaseAddresses;
            var sender = nullSender ? "<>" : Path(Pick(random, "alice", "bob.smith", "Info", "no-reply", "user+tag", "first.last", "x_y", "MAILER-DAEMON") + "." + _key,
                Pick(random, "example.com", "example.com", "Example.COM", "mail.example.org", "sub.example.co.uk"), quotedKey: true);
            sender = lower ? sender.ToLowerInvariant() : sender;
            var mail = sender + MailParameters();
            var count = random.Next(10) switch { < 6 => 1, < 8 => 2, < 9 => 3, _ => 5 };
            for (var n = 0; n < count; n++)
            {
                var local = P(90) ? Pick(random, "bob", "carol", "dave", "Erin", "frank.z", "grace+list", "heidi", "ivan_o")
                    : Pick(random, ["o'brien", "a=b", "x/y", "!#$%&'*+-/=?^_`{|}~", new string('l', 70), "user%other", "j\u00f6rg", "\u7528\u6237", .. Steer.DotAtomLocalParts ? Array.Empty<string>() : ["first..last", ".dot", "trailing."]]);
                if (n == 0 && nullSender)
                {
                    local += "." + _key;
                }

                if (P(3) && n > 0 && Steer.DuplicateRecipientsAlike)
                {
                    _paths.Add(_paths[0]);
                    _recipients.Add(_recipients[0]); // the same recipient twice, parameters and all
                    continue;
                }

                var path = P(3) && n > 0 ? _paths[0] // the same recipient twice
                    : P(2) && n > 0 && !Steer.NoUnqualifiedRecipient ? "<postmaster>"
                    : Path(local, P(95) ? Pick(random, "example.net", "example.net", "Example.NET", "lists.example.org", "example.com")
                        : Pick(random, ["[192.0.2.1]", "[IPv6:2001:db8::1]", "xn--bcher-kva.example", "a-b.c-d.example", .. Steer.NoTrailingDot ? Array.Empty<string>() : ["example.net."]]), quotedKey: false);
                path = lower ? path.ToLowerInvariant() : path;
                var argument = path + RcptParameters(path);
                var twice = _paths.FindIndex(p => MailPathBare(p).Equals(MailPathBare(path), StringComparison.OrdinalIgnoreCase));
                _paths.Add(path);
                _recipients.Add(Steer.DuplicateRecipientsAlike && twice >= 0 ? _recipients[twice] : argument);
            }

            return (mail, [.. _recipients], nullSender);
        }

        /// <summary>An address as a client writes it: mostly in angle brackets, sometimes bare, with a space before it, a source route, a quoted local part.</summary>
        private string Path(string local, string domain, bool quotedKey)
        {
            if (P(5))
            {
                local = quotedKey ? $"\"{local.Replace(".", " ", StringComparison.Ordinal)} x\"" : $"\"{local} y\"";
            }

            var address = $"{local}@{domain}";
            return random.Next(100) switch
            {
                < 3 => Steer.BracketedPaths ? "<" + address + ">" : address,
                < 6 => " <" + address + ">",
                < 8 => Steer.NoSourceRoute ? "<" + address + ">" : $"<@relay.example:{address}>",
                _ => "<" + address + ">",
            };
        }

        private string MailParameters()
        {
            var parameters = new List<string>();
            if (P(12))
            {
                parameters.Add("SIZE=" + random.Next(0, 10_240_000).ToString(CultureInfo.InvariantCulture));
            }

            if (P(10))
            {
                parameters.Add("RET=" + Pick(random, "FULL", "HDRS"));
            }

            if (P(10))
            {
                parameters.Add("ENVID=" + Pick(random, "abc123", "id+2Bwith+3Dxtext", "QQ.42@host"));
            }

            if (P(4))
            {
                parameters.Add("AUTH=" + Pick(random, "<>", "<>", "alice+40example.com", "x"));
            }

            return string.Concat(parameters.OrderBy(_ => random.Next()).Select(p => " " + Cased(p)));
        }

        /// <summary>BODY= is chosen once the message is known: 8BITMIME mostly where it has 8-bit bytes, 7BIT or none too.</summary>
        private string EightBitParameter(string mail, byte[] message)
        {
            var eightBit = message.Any(b => b >= 0x80);
            var body = random.Next(100) switch
            {
                < 30 => eightBit ? "BODY=8BITMIME" : null,
                < 45 => "BODY=8BITMIME",
                < 52 => "BODY=7BIT",
                _ => null,
            };
            if (Steer.EightBitMimeWhereDeclared && body != "BODY=8BITMIME" && DeclaredEightBit().IsMatch(Encoding.Latin1.GetString(message)))
            {
                body = "BODY=8BITMIME";
            }

            return body is null ? mail : mail + " " + Cased(body);
        }

        private string RcptParameters(string path)
        {
            var parameters = new List<string>();
            if (P(15))
            {
                parameters.Add("NOTIFY=" + Pick(random, "NEVER", "SUCCESS", "FAILURE", "DELAY", "SUCCESS,FAILURE", "FAILURE,DELAY", "delay,success,failure"));
            }

            if (P(10))
            {
                var bare = path.Trim().Trim('<', '>');
                var address = bare.Contains(':', StringComparison.Ordinal) ? bare[(bare.IndexOf(':', StringComparison.Ordinal) + 1)..] : bare;
                parameters.Add(P(85) ? "ORCPT=" + Pick(random, "rfc822;", "RFC822;") + string.Concat(address.Select(c => c is '+' or '=' or '"' or ' ' ? $"+{(int)c:X2}" : c.ToString()))
                    : Pick(random, "ORCPT=utf-8;bob@example.net", "ORCPT=rfc822;other@example.org", "ORCPT=x-unknown;abc"));
            }

            return string.Concat(parameters.OrderBy(_ => random.Next()).Select(p => " " + Cased(p)));
        }

        /// <summary>An ESMTP parameter with its keyword (and a known value) now and then in lower case, as clients write them.</summary>
        private string Cased(string parameter) => P(15) ? parameter.ToLowerInvariant() : parameter;

        // ---------------------------------------------------------------- message

        private void Message()
        {
            if (random.Next(200) == 0)
            {
                return; // nothing at all
            }

            switch (random.Next(100))
            {
                case < 2:
                    Line("From alice@example.com  Mon Dec  7 05:00:00 2026");
                    break;
                case < 3: // no header section at all: the message starts with its empty line
                    Line(string.Empty);
                    TextLines(random.Next(0, 5));
                    return;
                case < 4: // a first line that looks folded
                    Line(Pick(random, " leading space", "\tleading tab"));
                    break;
            }

            var mime = random.Next(100) switch { < 25 => "multipart", < 35 => "8bit", < 40 => "base64", < 45 => "qp", _ => null };
            var fields = new List<Action>();
            if (P(92))
            {
                fields.Add(() => Field(Pick(random, "From", "From", "From", "FROM", "from"), Pick(random, "Alice <alice@example.com>", "alice@example.com",
                    "=?UTF-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes("Sébastien")) + "?= <alice@example.com>", "\"Doe, John\" <john@example.com>")));
            }

            foreach (var name in new[] { "To", "Subject", "Date", "Message-ID" })
            {
                if (P(80))
                {
                    fields.Add(() => Field(OddCase(name), null));
                }
            }

            if (mime is not null)
            {
                var boundary = "=_b" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
                fields.Add(() => Field(OddCase("MIME-Version"), "1.0"));
                fields.Add(() => Field(OddCase("Content-Type"), mime == "multipart" ? $"multipart/{Pick(random, "mixed", "alternative")}; boundary=\"{boundary}\"" : "text/plain; charset=" + Pick(random, "utf-8", "iso-8859-1", "us-ascii")));
                if (mime != "multipart")
                {
                    fields.Add(() => Field(OddCase("Content-Transfer-Encoding"), mime switch { "base64" => "base64", "qp" => "quoted-printable", _ => Pick(random, "8bit", "8bit", "8BIT", "binary", "7bit") }));
                }
            }

            var extra = random.Next(10) switch { < 4 => random.Next(0, 3), < 8 => random.Next(3, 8), _ => random.Next(8, 20) };
            for (var n = 0; n < extra; n++)
            {
                var name = P(30) ? Pick(random, SpecialFields) : Pick(random, CommonFields);
                if (name is "Received" && P(50))
                {
                    fields.Add(() => Field("Received", $"from relay{random.Next(9)}.example (relay [192.0.2.{random.Next(255)}]){Fold()}by mx.example.org with ESMTP id {random.Next():X}; Mon, 7 Dec 2026 05:00:00 +0000"));
                    continue;
                }

                fields.Add(() => Field(OddCase(name), null));
                if (P(8))
                {
                    fields.Add(() => Field(OddCase(name), null)); // the same name again
                }
            }

            // Mostly in the usual order, sometimes shuffled.
            foreach (var field in P(70) ? fields : [.. fields.OrderBy(_ => random.Next())])
            {
                field();
            }

            HeaderEndAndBody(mime);
        }

        /// <summary>How the header section ends and what follows.</summary>
        private void HeaderEndAndBody(string? mime)
        {
            switch (random.Next(100))
            {
                case < 3: // the message ends with its header section
                    return;
                case < 5: // its last line without a line end
                    TrimLastLineEnd();
                    return;
                case < 10: // a line that is not a header field ends the header section
                    Line(Pick(random, "this line has no colon", ": empty name", "X Bad: space in name", "S\u00fcbject: 8-bit name", "[not a field]", "X-Nul\0Name: value", "X-Ctl\u0001: value"), latin1: true);
                    if (P(50))
                    {
                        Field("X-After", "looks like a header");
                    }

                    break;
                case < 13: // CR CR LF as the empty line
                    Bytes("\r\r\n");
                    break;
                case < 15: // the last field goes on with a blank continuation line
                    Line(Pick(random, " ", "\t", "  \t"));
                    Line(string.Empty);
                    break;
                case < 16: // many fields more
                    for (var n = random.Next(100, 400); n > 0; n--)
                    {
                        var name = Pick(random, "X-Many", "Received", "X-Trace-" + n.ToString(CultureInfo.InvariantCulture));
                        Field(name == "Received" && Steer.FewerThan49Hops && _fields.Count(f => f.Equals("Received", StringComparison.OrdinalIgnoreCase)) >= 48 ? "X-Many" : name, null);
                    }

                    Line(string.Empty);
                    break;
                default:
                    Line(string.Empty);
                    break;
            }

            Body(mime);
        }

        private void Body(string? mime)
        {
            switch (mime)
            {
                case "multipart":
                    Multipart();
                    break;
                case "base64":
                    var data = new byte[random.Next(0, 3000)];
                    random.NextBytes(data);
                    foreach (var chunk in Convert.ToBase64String(data).Chunk(76))
                    {
                        Line(new string(chunk));
                    }

                    break;
                case "qp":
                    for (var n = random.Next(1, 8); n > 0; n--)
                    {
                        Line(string.Join(' ', Enumerable.Range(0, random.Next(1, 12)).Select(_ => Pick(random, "caf=C3=A9", "soft=", "=3D", "plain", "x=20", "=E9t=E9"))));
                    }

                    break;
                default:
                    TextLines(random.Next(50) switch { < 5 => 0, < 40 => random.Next(1, 15), < 49 => random.Next(15, 200), _ => 0 });
                    if (P(2))
                    {
                        for (var n = random.Next(1500, 4000); n > 0; n--) // a large body: several body packets
                        {
                            Line($"line {n} " + new string('x', n % 91));
                        }
                    }

                    break;
            }

            if (P(10))
            {
                TrimLastLineEnd(); // no final line end
                if (P(15) && !LastLineIsLongDotLine())
                {
                    Bytes("\r"); // but a CR
                }
            }
        }

        private void Multipart()
        {
            var text = Encoding.Latin1.GetString(_out.ToArray());
            var boundary = text[(text.LastIndexOf("boundary=\"", StringComparison.Ordinal) + 10)..];
            boundary = boundary[..boundary.IndexOf('"', StringComparison.Ordinal)];
            if (P(70))
            {
                Line("This is a multi-part message in MIME format.");
            }

            for (var part = random.Next(1, 4); part > 0; part--)
            {
                Line("--" + boundary);
                switch (random.Next(5))
                {
                    case 0:
                        Line("Content-Type: text/plain; charset=utf-8");
                        Line("Content-Transfer-Encoding: " + Pick(random, "8bit", "7bit", "quoted-printable"));
                        Line(string.Empty);
                        TextLines(random.Next(1, 10));
                        break;
                    case 1:
                        Line("Content-Type: text/html; charset=iso-8859-1");
                        Line("Content-Transfer-Encoding: 8bit");
                        Line(string.Empty);
                        Line("<html><body>caf\u00e9 <b>d\u00e9j\u00e0</b></body></html>", latin1: true);
                        break;
                    case 2:
                        Line("Content-Type: application/octet-stream; name=\"a.bin\"");
                        Line("Content-Transfer-Encoding: base64");
                        Line("Content-Disposition: attachment; filename=\"a.bin\"");
                        Line(string.Empty);
                        var data = new byte[random.Next(1, 600)];
                        random.NextBytes(data);
                        foreach (var chunk in Convert.ToBase64String(data).Chunk(76))
                        {
                            Line(new string(chunk));
                        }

                        break;
                    case 4 when P(30): // a multipart inside
                        Line("Content-Type: multipart/alternative; boundary=\"inner\"");
                        Line(string.Empty);
                        Line("--inner");
                        Line("Content-Type: text/plain; charset=iso-8859-1");
                        Line(string.Empty);
                        Line("caf\u00e9 inner", latin1: true);
                        Line("--inner--");
                        break;
                    case 3: // a forwarded message, with fields the top level would lose
                        Line("Content-Type: message/rfc822");
                        Line("Content-Length: 5");
                        Line(string.Empty);
                        Line("Bcc: inner@example.org");
                        Line("Return-Path: <inner@example.org>");
                        Line("Subject: inner " + Pick(random, Utf8Words), latin1: false);
                        Line(string.Empty);
                        TextLines(random.Next(1, 4));
                        break;
                    default: // a part without header fields
                        Line(string.Empty);
                        TextLines(random.Next(0, 4));
                        break;
                }
            }

            Line("--" + boundary + "--");
            if (P(30))
            {
                Line("epilogue");
            }
        }

        /// <summary>Body lines: words, 8-bit text, dots, mbox From lines, long lines, CR and LF oddities, NULs.</summary>
        private void TextLines(int count)
        {
            for (var n = 0; n < count; n++)
            {
                switch (random.Next(100))
                {
                    case < 55:
                        Text(random.Next(0, 14));
                        Eol();
                        break;
                    case < 62:
                        Line(Pick(random, ".", "..", ".leading dot", "..two dots", ". ", ".\t"));
                        break;
                    case < 65:
                        Line(Pick(random, "From here on", ">From quoted", "From: not a field in the body", "-- ", "--=_b1"));
                        break;
                    case < 72: // long lines: around 998, 2,048 and further (a dot first: never a CR or NUL in one, docs/postfix-differential.md)
                        var length = Pick(random, 997, 998, 999, 1000, 1001, 2046, 2047, 2048, 2049, 2050, 4095, 4096, 4097, 10_000);
                        var start = P(15) ? "." : string.Empty;
                        var text = string.Concat(Enumerable.Repeat(Pick(random, "x", "ab ", "caf\u00e9 "), length))[..(length - start.Length)];
                        if (start.Length == 0 && P(25)) // a CR or NUL near where Postfix cuts the line into pieces
                        {
                            var at = Math.Min(text.Length - 1, Pick(random, 2045, 2046, 2047, 2048, 2049, 4094, 4095, random.Next(text.Length)));
                            text = text[..at] + Pick(random, "\r", "\0", "\r\r") + text[(at + 1)..];
                        }

                        Line(start + text, latin1: true);
                        break;
                    case < 76: // a bare CR inside a line, CR CR LF
                        Text(random.Next(1, 4));
                        Bytes(Pick(random, "\r", "\r\r"));
                        Text(random.Next(0, 3));
                        Bytes(Pick(random, "\r\n", "\r\r\n", "\n"));
                        break;
                    case < 78: // a NUL
                        Text(random.Next(0, 3));
                        Bytes("\0");
                        Text(random.Next(0, 3));
                        Eol();
                        break;
                    case < 82: // blanks only, trailing blanks
                        Line(Pick(random, " ", "\t", "  \t ", "text with trailing blanks   ", "tab at end\t"));
                        break;
                    default:
                        Line(string.Empty);
                        break;
                }
            }
        }

        // ---------------------------------------------------------------- header fields

        /// <summary>A field: its name (blanks before the colon now and then), the blanks after the colon, a value (random when null), folded or not.</summary>
        private void Field(string name, string? value)
        {
            _fields.Add(name);
            Bytes(name);
            if (P(4))
            {
                Bytes(Pick(random, " ", "\t", "  ", " \t"));
            }

            Bytes(":");
            Bytes(random.Next(20) switch { < 15 => " ", < 17 => string.Empty, < 19 => "  ", _ => "\t" });
            if (value is not null)
            {
                Bytes(value, latin1: false);
            }
            else
            {
                Value(name);
            }

            if (P(5))
            {
                Bytes(Pick(random, " ", "  ", "\t")); // trailing blanks
            }

            if (P(2))
            {
                Bytes(Pick(random, "\r\r\n", "\r\r\r\n", "\r \r\n")); // CRs before the line end
                return;
            }

            Eol();
        }

        /// <summary>A random value: words, 8-bit bytes, RFC 2047 words, long runs, folds (spaces, tabs, blank continuation lines, trailing blanks).</summary>
        private void Value(string name)
        {
            if (name.Equals("Date", StringComparison.OrdinalIgnoreCase) && P(80))
            {
                Bytes(Pick(random, "Mon, 7 Dec 2026 05:00:00 +0000", "7 Dec 2026 05:00 -0500", "Mon, 07 Dec 2026 05:00:00 GMT (UTC)"));
                return;
            }

            if (name.Equals("Message-ID", StringComparison.OrdinalIgnoreCase) && P(80))
            {
                Bytes($"<{random.Next():x}.{random.Next():x}@example.com>");
                return;
            }

            if (P(6))
            {
                return; // empty
            }

            if (P(8)) // long: one line, or folded into many
            {
                var length = Pick(random, 990, 996, 998, 1000, 1010, 2030, 2040, 2048, 2060, 4100, 9000);
                var word = Pick(random, "w", "word ", "caf\u00e9-");
                var text = string.Concat(Enumerable.Repeat(word, length / word.Length + 1))[..length];
                if (P(20)) // a CR or NUL near where Postfix cuts the line into pieces
                {
                    var at = Math.Min(text.Length - 1, Pick(random, 2030, 2036, 2038, 2039, 2040, random.Next(text.Length)));
                    text = text[..at] + Pick(random, "\r", "\0", "\r\r") + text[(at + 1)..];
                }

                if (P(50))
                {
                    Bytes(text, latin1: true);
                }
                else
                {
                    foreach (var (piece, n) in text.Chunk(random.Next(60, 3000)).Select((c, n) => (new string(c), n)))
                    {
                        if (n > 0)
                        {
                            Bytes(Fold());
                        }

                        Bytes(piece, latin1: true);
                    }
                }

                return;
            }

            var words = random.Next(1, 12);
            for (var n = 0; n < words; n++)
            {
                if (n > 0)
                {
                    Bytes(random.Next(12) switch { 0 => Fold(), 1 => "  ", _ => " " });
                }

                Word();
            }
        }

        /// <summary>A fold: line end, then blanks; now and then a blank continuation line, or trailing blanks before it.</summary>
        private string Fold()
        {
            var eol = CurrentEol();
            return random.Next(20) switch
            {
                < 9 => eol + " ",
                < 14 => eol + "\t",
                < 16 => eol + "    ",
                < 17 => " " + eol + " ", // a trailing blank
                < 19 => eol + Pick(random, " ", "\t") + eol + " ", // a blank continuation line
                _ => eol + " \t",
            };
        }

        private void Word()
        {
            switch (random.Next(100))
            {
                case < 60:
                    Bytes(Pick(random, Words));
                    break;
                case < 70:
                    Bytes(Pick(random, Utf8Words), latin1: false);
                    break;
                case < 76:
                    Raw(Pick(random, Latin1Words));
                    break;
                case < 80:
                    Bytes("inv");
                    Raw(Pick(random, InvalidWords));
                    break;
                case < 92:
                    Bytes(random.Next(5) switch
                    {
                        0 => "=?UTF-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(Pick(random, Utf8Words))) + "?=",
                        1 => "=?ISO-8859-1?Q?caf=E9?=",
                        2 => "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus?= =?utf-8?q?_Berlin?=",
                        3 => "=?x?=",
                        _ => "=?windows-1252?B?" + Convert.ToBase64String([0x80, 0x20, 0x93, 0x94]) + "?=",
                    });
                    break;
                case < 95:
                    Bytes(Pick(random, "\u0001ctl", "del\u007f", "tab\there", "bare\rCR", "CR\r\rtwice", "nul\0byte", "\u001b[0m"), latin1: true);
                    break;
                default:
                    Bytes(Pick(random, "<alice@example.com>", "\"Doe, John\" <john@example.com>", "undisclosed-recipients:;", "(comment)"));
                    break;
            }
        }

        private string OddCase(string name) => random.Next(20) switch
        {
            0 => name.ToLowerInvariant(),
            1 => name.ToUpperInvariant(),
            _ => name,
        };

        // ---------------------------------------------------------------- bytes

        private string CurrentEol() => _eol == "mixed" ? Pick(random, "\r\n", "\r\n", "\n") : _eol;

        private void Eol() => Bytes(CurrentEol());

        private void Line(string text, bool latin1 = false)
        {
            Bytes(text, latin1);
            Eol();
        }

        private void Text(int words)
        {
            for (var n = 0; n < words; n++)
            {
                if (n > 0)
                {
                    Bytes(" ");
                }

                Word();
            }
        }

        /// <summary>Text as UTF-8, or each char as one byte (<paramref name="latin1"/>).</summary>
        private void Bytes(string text, bool latin1 = true) => Raw(latin1 ? Encoding.Latin1.GetBytes(text) : Encoding.UTF8.GetBytes(text));

        private void Raw(byte[] bytes) => _out.Write(bytes);

        /// <summary>
        /// True when the last line starts with a dot and has 2,040 bytes or more: dot-stuffed, Postfix's 2,048-byte pieces
        /// of it start a byte earlier than ours, so a CR near its end is not a case (docs/postfix-differential.md).
        /// </summary>
        private bool LastLineIsLongDotLine()
        {
            var bytes = _out.GetBuffer().AsSpan(0, (int)_out.Length);
            var start = bytes.LastIndexOf((byte)'\n') + 1;
            return start < bytes.Length && bytes[start] == '.' && bytes.Length - start >= 2040;
        }

        private void TrimLastLineEnd()
        {
            var length = _out.Length;
            var bytes = _out.GetBuffer();
            while (length > 0 && bytes[length - 1] is (byte)'\n' or (byte)'\r')
            {
                length--;
            }

            _out.SetLength(length);
        }

        // ---------------------------------------------------------------- the milter's actions

        /// <summary>Edits at the end of the message, now and then a verdict at some stage (mail-stage ones only where the sender holds the key).</summary>
        private void Actions(bool nullSender, bool noMessage)
        {
            if (P(10))
            {
                Verdict(nullSender);
            }

            if (noMessage)
            {
                return;
            }

            var edits = random.Next(10) switch { < 2 => 0, < 6 => 1, < 8 => 2, _ => random.Next(3, 8) };
            for (var n = 0; n < edits; n++)
            {
                Edit();
            }

            if (P(3))
            {
                _actions.Add("eom=quarantine:" + Pick(random, "held", "spam score 9.5"));
            }

            if (Steer.DuplicateRecipientsAlike)
            {
                var added = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                _actions.RemoveAll(a => a.StartsWith("eom=addrcpt", StringComparison.Ordinal)
                    && !added.Add(MailPathBare(a[(a.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(">:")[0])));
            }

            if (Steer.ReplacementBodyTogether)
            {
                var bodies = _actions.Where(a => a.StartsWith("eom=replbody:", StringComparison.Ordinal)).ToList();
                if (bodies.Count > 1)
                {
                    var at = _actions.IndexOf(bodies[0]);
                    _actions.RemoveAll(bodies.Contains);
                    _actions.InsertRange(Math.Min(at, _actions.Count), bodies);
                }
            }
        }

        private void Edit()
        {
            switch (random.Next(100))
            {
                case < 22:
                    var added = NewFieldName();
                    _actions.Add($"eom=addheader:{added}:{Escaped(NewFieldValue(added))}");
                    break;
                case < 36:
                    var inserted = NewFieldName();
                    _actions.Add($"eom=insheader:{Pick(random, 0, 0, 1, 1, 2, 3, random.Next(0, _fields.Count + 3), 99)}:{inserted}:{Escaped(NewFieldValue(inserted))}");
                    break;
                case < 58 when _fields.Count > 0:
                    var name = Pick(random, [.. _fields]).Trim();
                    name = P(20) ? name.ToLowerInvariant() : name;
                    _actions.Add($"eom=chgheader:{Pick(random, 1, 1, 1, 2, 3)}:{name}:{(P(35) ? string.Empty : Escaped(NewFieldValue(name)))}");
                    break;
                case < 68:
                    _actions.Add("eom=replbody:" + Escaped(NewBody()));
                    break;
                case < 76:
                    _actions.Add("eom=chgfrom:" + Pick(random, "<changed@example.org>", "<>", "<\"x y\"@example.org>", "bare@example.org",
                        "<changed@example.org>:RET=FULL ENVID=e+2B1", "<changed@example.org>:NOTIFY=NEVER", "<changed@example.org>:BODY=8BITMIME"));
                    break;
                case < 84:
                    _actions.Add("eom=addrcpt:" + Pick(random, "<added@example.org>", "added2@example.org", "<\"q r\"@example.org>", "<Added@Example.ORG>"));
                    break;
                case < 88:
                    _actions.Add("eom=addrcpt_par:" + Pick(random, "<addp@example.org>:NOTIFY=SUCCESS,DELAY", "<addp@example.org>:ORCPT=rfc822;o+2Bx@example.org",
                        "<addp@example.org>:NOTIFY=NEVER ORCPT=rfc822;addp@example.org", "<addp@example.org>"));
                    break;
                case < 96:
                    var recipient = _paths.Count > 0 && P(80) ? Pick(random, [.. _paths]).Trim() : "<nobody@example.net>";
                    _actions.Add("eom=delrcpt:" + (P(20) ? recipient.Trim('<', '>') : P(10) ? recipient.ToUpperInvariant() : recipient));
                    break;
                default:
                    _actions.Add("eom=progress");
                    break;
            }
        }

        private void Verdict(bool nullSender)
        {
            var verdict = Pick(random, "reject", "tempfail", "discard", "reply:550:5.7.1:refused by policy", "reply:451:4.7.1:try again later", "reply:554::no enhanced code");
            var rcpt = _paths.Count > 0 ? Pick(random, [.. _paths]).Trim().TrimStart('<').Split('@', '>')[0].Trim('"') : "bob";
            var stage = random.Next(9);
            _actions.Add(stage switch
            {
                0 when !nullSender => "mail=" + verdict,
                1 or 2 => $"rcpt/{Escaped(Encoding.UTF8.GetBytes(rcpt)).Replace("=", "\\x3d", StringComparison.Ordinal)}={verdict}",
                3 => "data=" + Pick(random, "reject", "tempfail", "reply:554:5.7.1:no data"),
                4 => $"header/{Pick(random, "Subject", "From", "To", "ject: ", "\\x3d?")}={Pick(random, "reject", "discard", "skip", "tempfail")}",
                5 => "eoh=" + Pick(random, "reject", "discard", "tempfail"),
                6 => "body=" + Pick(random, "reject", "skip", "discard"),
                7 => "eom=" + Pick(random, "reject", "tempfail", "discard", "mlreply:550:5.7.1:first|second line|third", "reply:421:4.7.0:closing now"),
                _ => "rcpt=" + Pick(random, "skip", "accept"),
            });
        }

        private string NewFieldName() => Pick(random, "X-Added", "X-Spam-Flag", "X-Spam-Score", "Subject", "Received", "Bcc", "Content-Length", "Return-Path",
            "x-lower", "X-Dup", "Authentication-Results", "DKIM-Signature", "Content-Transfer-Encoding", "MIME-Version", "Content-Type");

        private byte[] NewFieldValue(string name) => random.Next(14) switch
        {
            < 10 when name.Equals("Content-Transfer-Encoding", StringComparison.OrdinalIgnoreCase) => Encoding.ASCII.GetBytes(Pick(random, "8bit", "7bit", "binary", "base64")),
            < 10 when name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) => Encoding.ASCII.GetBytes(Pick(random, "text/plain; charset=utf-8", "multipart/mixed; boundary=x")),
            0 => [],
            1 => "folded\n\tsecond line"u8.ToArray(),
            2 => "crlf folded\r\n third"u8.ToArray(),
            3 => [0x63, 0x61, 0x66, 0xE9],
            4 => Encoding.UTF8.GetBytes("Grüße ☃"),
            5 => Encoding.ASCII.GetBytes(new string('v', Pick(random, 990, 2100, 3000))),
            6 => "  leading blanks"u8.ToArray(),
            7 => "trailing blank "u8.ToArray(),
            8 => "=?UTF-8?B?4piD?="u8.ToArray(),
            9 => "ends in LF\n"u8.ToArray(),
            _ => Encoding.ASCII.GetBytes(Pick(random, "yes", "no", "5.5", "value " + random.Next(1000).ToString(CultureInfo.InvariantCulture))),
        };

        /// <summary>A replacement body: lines with dots, 8-bit bytes, bare LFs, no final CRLF, now and then a CR alone (a kept difference).</summary>
        private byte[] NewBody()
        {
            var body = new MemoryStream();
            if (P(3))
            {
                for (var n = random.Next(1000, 2500); n > 0; n--) // several packets
                {
                    body.Write(Encoding.ASCII.GetBytes($"replaced line {n} {new string('q', n % 77)}\r\n"));
                }
            }

            for (var n = random.Next(0, 8); n > 0; n--)
            {
                var line = random.Next(10) switch
                {
                    0 => ".",
                    1 => ".dot first",
                    2 => "caf\u00e9",
                    3 => new string('r', Pick(random, 998, 2048, 5000)),
                    4 => "From the milter",
                    _ => "replaced " + n.ToString(CultureInfo.InvariantCulture),
                };
                body.Write(Encoding.Latin1.GetBytes(line));
                var eol = random.Next(20) switch { < 15 => "\r\n", < 18 => "\n", _ => "\r" };
                _strayCrs |= eol == "\r";
                body.Write(Encoding.Latin1.GetBytes(eol));
            }

            if (P(20) && body.Length > 0)
            {
                body.SetLength(body.Length - 1);
                if (body.Length > 0 && body.GetBuffer()[body.Length - 1] == '\r')
                {
                    body.SetLength(body.Length - 1); // a CR LF cut whole, not into a CR alone
                }
            }

            return body.ToArray();
        }

        /// <summary>Bytes as the test milter's arguments take them: \xNN for every control, 8-bit byte, backslash and colon-free parts as they are.</summary>
        private static string Escaped(byte[] bytes) =>
            string.Concat(bytes.Select(b => b is < 0x20 or >= 0x7F or (byte)'\\' ? $"\\x{b:x2}" : ((char)b).ToString()));
    }
}
