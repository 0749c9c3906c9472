using System.Buffers;
using System.Text;
using SmtpServer.Mail;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// <see cref="CommandLine.Read"/>: the client's bytes from where SmtpServer parses its next command, as they come (whole,
/// in pieces, over several buffer segments), and which of them are a <c>RCPT TO:&lt;postmaster&gt;</c> without a domain or
/// an <c>EHLO</c> with an address literal.
/// </summary>
public class CommandLineTests
{
    [TestCase("RCPT TO:<postmaster>\r\n", 22, "<postmaster>", "")]
    [TestCase("rcpt to:<PostMaster>\r\nDATA\r\n", 22, "<PostMaster>", "")]
    [TestCase("RCPT TO: <postmaster> NOTIFY=NEVER ORCPT=rfc822;postmaster\r\n", 60, "<postmaster>", "NOTIFY=NEVER|ORCPT=rfc822;postmaster")]
    [TestCase("RCPT  TO:  <POSTMASTER> \r\n", 26, "<POSTMASTER>", "")]
    [TestCase("RCPT\tTO:\v<postmaster>\tNOTIFY=NEVER\r\n", 36, "<postmaster>", "NOTIFY=NEVER", TestName = "A tab or a VT is a space, as to SmtpServer's parser and Postfix")]
    public void A_bare_postmaster_is_read_with_its_line_length_its_path_as_written_and_its_parameters(string bytes, int length, string path, string parameters)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.Length, line.Path, Words(line.Parameters)), Is.EqualTo((CommandLineKind.BarePostmaster, length, path, parameters)));
    }

    [TestCase("RCPT TO:<a@example.com> ORCPT=rfc822;\"b c\"@example.com\tNOTIFY=NEVER\r\n", "ORCPT=rfc822;\"b c\"@example.com|NOTIFY=NEVER")]
    [TestCase("RCPT TO:<a@example.com> X=<b <c> d> Y=e\\ f Z=\"<\" W\r\n", "X=<b <c> d>|Y=e\\ f|Z=\"<\"|W")]
    [TestCase("RCPT TO:<a@example.com> X=\"b c\\\" d\" Y\r\n", "X=\"b c\\\" d\"|Y")]
    [TestCase("RCPT TO:<a@example.com> X=<b \"> c\"> Y\r\n", "X=<b \"> c\">|Y")]
    [TestCase("RCPT TO:<a@example.com> X=\"b c Y=1\r\n", "X=\"b c Y=1")]
    [TestCase("RCPT TO:<postmaster> X=\"b c\"\r\n", "X=\"b c\"")]
    public void A_RCPTs_parameters_are_split_as_Postfixs_smtpd_token_splits_them_not_inside_quotes_brackets_or_after_a_backslash(string bytes, string parameters) =>
        Assert.That(Words(CommandLine.Read(Whole(bytes)).Parameters), Is.EqualTo(parameters));

    [TestCase("", TestName = "Nothing yet is no command line")]
    [TestCase("NOOP\r\n")]
    [TestCase("RCPT TO:<postmaster>x\r\n", TestName = "A bare postmaster followed by anything but a space is not one (SmtpServer's 502 stays; Postfix: 501)")]
    [TestCase("RCPT TO :<postmaster>\r\n")]
    [TestCase("RCPT TO:postmaster\r\n", TestName = "A path without angle brackets is left to SmtpServer (its 502 stays)")]
    [TestCase("RCPT TO:<postmaster\r\n>\r\n", TestName = "A line end inside the path ends the line there")]
    [TestCase("RCPX", TestName = "A line that can no longer be one is told before its end")]
    [TestCase("RCPT TO:<postmastex")]
    public void Any_other_line_is_another(string bytes) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(CommandLineKind.Other));

    [TestCase("EHLO [192.0.2.1]\r\n", true)]
    [TestCase("ehlo [IPv6:2001:db8::1]\r\nMAIL FROM:<a@b>\r\n", true)]
    [TestCase("EHLO\t [192.0.2.1]\r\n", true, TestName = "An address literal after any space SmtpServer's parser skips")]
    [TestCase("EHLO [192.0.2.1]", false, TestName = "An address literal whose line has not ended yet is read when it has")]
    [TestCase("EHLO 192.0.2.1\r\n", false, TestName = "A name of digits without brackets is a domain name")]
    [TestCase("EHLO client.example\r\n", false)]
    [TestCase("EHLO\r\n[192.0.2.1]\r\n", false, TestName = "A bracket on the next line is not this line's")]
    [TestCase("HELO [192.0.2.1]\r\n", false, TestName = "HELO keeps its brackets in SmtpServer's parser")]
    public void An_EHLO_whose_name_is_an_address_literal_is_told_from_any_other(string bytes, bool addressLiteral) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(addressLiteral ? CommandLineKind.EhloAddressLiteral : CommandLineKind.Other));

    [Test]
    public void The_EHLO_name_gets_its_brackets_back_from_its_line_alone()
    {
        Assert.Multiple(() =>
        {
            Assert.That(CommandLine.Read(Whole("EHLO [192.0.2.1]\r\n")).EhloName("192.0.2.1"), Is.EqualTo("[192.0.2.1]"));
            Assert.That(CommandLine.Read(Whole("EHLO 192.0.2.1\r\n")).EhloName("192.0.2.1"), Is.EqualTo("192.0.2.1"));
        });
    }

    [Test]
    public void A_bare_postmaster_longer_than_Postfixs_line_length_limit_is_read_as_Postfix_cuts_it_whole_or_not()
    {
        var longParameters = "RCPT TO:<postmaster> NOTIFY=NEVER X-LONG=" + new string('x', 2048);
        var cut = "X-LONG=" + new string('x', 2048 - "RCPT TO:<postmaster> NOTIFY=NEVER X-LONG=".Length);

        Assert.Multiple(() =>
        {
            foreach (var line in new[] { CommandLine.Read(Whole(longParameters)), CommandLine.Read(Whole(longParameters + "\r\nQUIT\r\n")) })
            {
                Assert.That((line.Kind, line.Length, Words(line.Parameters)), Is.EqualTo((CommandLineKind.BarePostmaster, 2050, "NOTIFY=NEVER|" + cut)));
            }
        });
    }

    [Test]
    public void A_bare_postmaster_over_buffer_segments_of_one_byte_is_read_as_one_in_one_segment()
    {
        var bytes = Encoding.ASCII.GetBytes("RCPT TO:<postmaster>\r\nQUIT\r\n");

        Assert.That(CommandLine.Read(ByteSegments.OnePerSegment(bytes)), Is.EqualTo(CommandLine.Read(new ReadOnlySequence<byte>(bytes))));
        Assert.That(CommandLine.Read(ByteSegments.OnePerSegment(bytes)).Kind, Is.EqualTo(CommandLineKind.BarePostmaster));
    }

    [Test]
    public void The_path_as_written_is_given_for_the_stand_in_alone()
    {
        var line = CommandLine.Read(Whole("RCPT TO:<PostMaster>\r\n"));

        Assert.Multiple(() =>
        {
            Assert.That(line.BarePostmasterPath(new Mailbox("postmaster", "postmaster.invalid")), Is.EqualTo("<PostMaster>"));
            Assert.That(line.BarePostmasterPath(new Mailbox("postmaster", "example.com")), Is.Null);
            Assert.That(default(CommandLine).BarePostmasterPath(new Mailbox("postmaster", "postmaster.invalid")), Is.Null,
                "the stand-in's address written by the client is that address");
        });
    }

    [TestCase("RCPT TO:<a@example.com>\r\n", "")]
    [TestCase("RCPT TO:<a@example.com> NOTIFY=NEVER\r\n", "NOTIFY=NEVER")]
    [TestCase("rcpt to: <a@example.com>  NOTIFY=SUCCESS,DELAY  ORCPT=rfc822;a+2Bb@example.com \r\n", "NOTIFY=SUCCESS,DELAY|ORCPT=rfc822;a+2Bb@example.com")]
    [TestCase("RCPT TO:<a@example.com>\tNOTIFY=NEVER\vX=1\fY\rZ\r\n", "NOTIFY=NEVER|X=1|Y|Z", TestName = "Parameters are split at every byte C's isspace takes, as Postfix's smtpd splits them")]
    [TestCase("RCPT TO:<\"a>b\"@example.com> NOTIFY=NEVER\r\n", "NOTIFY=NEVER", TestName = "A closing bracket inside a quoted local part is not the path's end")]
    [TestCase("RCPT TO:<\"a\\\"> b\"@example.com> X=1\r\n", "X=1", TestName = "A quoted pair does not end the quoted local part")]
    [TestCase("RCPT TO:<@a.example,@b.example:c@example.com> NOTIFY=NEVER\r\n", "NOTIFY=NEVER")]
    [TestCase("RCPT TO:<a@example.com> NOTIFY=\u00e9\r\n", "NOTIFY=\u00e9", TestName = "Parameters are read as UTF-8")]
    [TestCase("RCPT TO:<a@example.com> <x>\r\n", "<x>", TestName = "A second path is a parameter (Postfix: 555 Unsupported option)")]
    [TestCase("RCPT TO:<\"postmaster\">\r\n", "", TestName = "A quoted postmaster is any other path (SmtpServer's parser still answers it 502)")]
    [TestCase("RCPT TO:<postmaster@example.com> X=1\r\n", "X=1")]
    [TestCase("RCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com> X=1\r\n", "", TestName = "Only the first line is the command's")]
    [TestCase("RCPT\tTO:\t<a@example.com> NOTIFY=NEVER\r\n", "NOTIFY=NEVER", TestName = "A tab before and after TO is a space, as to SmtpServer's parser and Postfix")]
    [TestCase("RCPT TO:<a@example.com> ORCPT=<\nRSET\nDATA\n>;x\r\n", "ORCPT=<",
        TestName = "A bare LF ends the line even inside brackets, so that no parameter carries a line end on (SMTP command injection at a next hop)")]
    [TestCase("RCPT TO:<a@example.com> X=\"a\rb\" Y=\\\n\r\n", "X=\"a|b\" Y=\\", TestName = "A bare CR ends a word inside quotes (the next opens a quote of its own), and a backslash does not take a line end into its word")]
    [TestCase("RCPT TO:<a@example.com> NOTIFY=NEVER\u0000FOO=1\r\n", "NOTIFY=NEVER", TestName = "A NUL ends the line's parameters, as it ends Postfix's line")]
    public void A_RCPT_line_gives_its_parameters_as_the_client_wrote_them(string bytes, string parameters)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, Words(line.Parameters)), Is.EqualTo((CommandLineKind.Rcpt, parameters)));
    }

    [TestCase("RCPT TO:<a@example.com>x\r\n")]
    [TestCase("RCPT TO:<a@example.com>\"x\"\r\n")]
    [TestCase("RCPT TO:<a@example.com>>\r\n", TestName = "A second closing bracket right after the path is text after it (Postfix, alone, takes it)")]
    [TestCase("RCPT TO:<\"a>b\"@example.com>x NOTIFY=NEVER\r\n")]
    public void A_path_with_text_right_after_it_is_told_apart(string bytes) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(CommandLineKind.RcptTextAfterPath));

    [TestCase("RCPT TO:<a@example.com> NOTIFY=NE", TestName = "A RCPT line not whole yet is another until it is (SmtpServer parses it only then)")]
    [TestCase("RCPT TO:<a@example.com\r\n", TestName = "A path whose closing bracket never comes is left to SmtpServer's parser")]
    [TestCase("RCPT TO:<\"a>@example.com\r\n", TestName = "A quoted local part that never ends is left to SmtpServer's parser")]
    [TestCase("RCPT TO:a@example.com NOTIFY=NEVER\r\n", TestName = "A path without brackets is left to SmtpServer's parser (its 502 stays)")]
    public void Other_lines_that_look_like_a_RCPT_give_no_parameters(string bytes)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.RcptParameters(new Mailbox("a", "example.com"))), Is.EqualTo((CommandLineKind.Other, Array.Empty<string>())));
    }

    [TestCase("MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=12\r\n", "BODY=8BITMIME|SIZE=12", "MAIL FROM:<a@example.com>\r\n")]
    [TestCase("mail  from: <\"a>b\"@example.com>\tRET=FULL RET=HDRS\r\nRCPT TO:<c@example.com>\r\n", "RET=FULL|RET=HDRS", "MAIL FROM:<\"a>b\"@example.com>\r\n",
        TestName = "A MAIL line's parameters, repeated or not, are taken off, and its path is given as the client wrote it")]
    [TestCase("MAIL FROM:<> SMTPUTF8 RET=\r\n", "SMTPUTF8|RET=", "MAIL FROM:<>\r\n")]
    [TestCase("MAIL FROM:<a@example.com> \r\n", "", "MAIL FROM:<a@example.com>\r\n", TestName = "A space after the path is taken off too")]
    [TestCase("MAIL FROM:<caf\u00e9@example.com> ENVID=\"a b\"\r\n", "ENVID=\"a b\"", "MAIL FROM:<caf\u00e9@example.com>\r\n", TestName = "A path of UTF-8 is given byte for byte")]
    [TestCase("MAIL\tFROM:\t<a@example.com>\tX=1 x=2\r\n", "X=1|x=2", "MAIL FROM:<a@example.com>\r\n", TestName = "A MAIL line with tabs for spaces is read as one with spaces (SmtpServer's parser would throw on X=1 x=2)")]
    public void A_MAIL_line_with_parameters_is_given_to_SmtpServer_without_them(string bytes, string parameters, string replacement)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.Length, Words(line.Parameters), Encoding.UTF8.GetString(line.Replacement ?? [])),
            Is.EqualTo((CommandLineKind.Mail, Encoding.UTF8.GetBytes(bytes).AsSpan().IndexOf("\r\n"u8) + 2, parameters, replacement)));
    }

    [Test]
    public void A_MAIL_line_without_parameters_is_given_to_SmtpServer_as_it_came()
    {
        var line = CommandLine.Read(Whole("MAIL FROM:<a@example.com>\r\n"));

        Assert.That((line.Kind, Words(line.Parameters), line.Replacement), Is.EqualTo((CommandLineKind.Mail, "", (byte[]?)null)));
    }

    [TestCase("MAIL FROM:<a@example.com>x\r\n")]
    [TestCase("MAIL FROM:<a@example.com>> BODY=8BITMIME\r\n", TestName = "A second closing bracket after a MAIL path is text after it (Postfix, alone, takes it)")]
    public void A_MAIL_path_with_text_right_after_it_is_told_apart_and_given_to_SmtpServer_alone(string bytes)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, Encoding.ASCII.GetString(line.Replacement ?? [])), Is.EqualTo((CommandLineKind.MailTextAfterPath, "MAIL FROM:<a@example.com>\r\n")));
    }

    [TestCase("MAIL FROM:a@example.com BODY=8BITMIME\r\n", TestName = "A MAIL path without brackets is left to SmtpServer's parser")]
    [TestCase("MAIL FROM:<a@example.com BODY=8BITMIME\r\n", TestName = "A MAIL path without its end is left to SmtpServer's parser")]
    public void Other_lines_that_look_like_a_MAIL_are_left_to_SmtpServer(string bytes)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.Replacement), Is.EqualTo((CommandLineKind.Other, (byte[]?)null)));
    }

    [Test]
    public void A_MAIL_line_longer_than_Postfixs_line_length_limit_is_read_as_Postfix_cuts_it_whole_or_not()
    {
        var longParameters = "MAIL FROM:<a@example.com> RET=FULL RET=HDRS X-PAD=" + new string('x', 2048);
        var cut = "X-PAD=" + new string('x', 2048 - "MAIL FROM:<a@example.com> RET=FULL RET=HDRS X-PAD=".Length);

        Assert.Multiple(() =>
        {
            foreach (var line in new[] { CommandLine.Read(Whole(longParameters)), CommandLine.Read(Whole(longParameters + "\r\n")) })
            {
                Assert.That((line.Kind, Words(line.Parameters), Encoding.ASCII.GetString(line.Replacement!)),
                    Is.EqualTo((CommandLineKind.Mail, "RET=FULL|RET=HDRS|" + cut, "MAIL FROM:<a@example.com>\r\n")));
            }
        });
    }

    [TestCase(2046, "Mail", TestName = "A MAIL line of 2,046 bytes and its CR LF is read")]
    [TestCase(2048, "Mail", TestName = "A MAIL line of 2,048 bytes and its CR LF, Postfix's whole limit, is read")]
    [TestCase(2049, "Mail", TestName = "A MAIL line of 2,049 bytes is read cut at 2,048")]
    public void A_MAIL_line_up_to_Postfixs_limit_is_read_whole(int length, string kind)
    {
        const string start = "MAIL FROM:<a@example.com> X=";
        var line = CommandLine.Read(Whole(start + new string('x', length - start.Length) + "\r\n"));

        Assert.That((line.Kind.ToString(), Words(line.Parameters)), Is.EqualTo((kind, "X=" + new string('x', Math.Min(length, 2048) - start.Length))));
    }

    [Test]
    public void A_RCPT_line_longer_than_Postfixs_line_length_limit_gives_the_parameters_of_its_first_2048_bytes()
    {
        // Postfix 3.7 reads a command line to line_length_limit and discards the rest: NOTIFY=NEVER, 2,100 spaces and FOO=1 got
        // 250; with 1,900 spaces, 555 Unsupported option: FOO=1. A word across the cut is cut with it.
        const string start = "RCPT TO:<a@example.com> NOTIFY=NEVER";
        var cutOff = start + new string(' ', 2100) + "FOO=1\r\n";
        var within = start + new string(' ', 1900) + "FOO=1\r\n";
        var across = start + new string(' ', 2048 - start.Length - 2) + "XYZ=1\r\n";

        Assert.Multiple(() =>
        {
            Assert.That(Words(CommandLine.Read(Whole(cutOff)).Parameters), Is.EqualTo("NOTIFY=NEVER"));
            Assert.That(Words(CommandLine.Read(Whole(within)).Parameters), Is.EqualTo("NOTIFY=NEVER|FOO=1"));
            Assert.That(Words(CommandLine.Read(Whole(across)).Parameters), Is.EqualTo("NOTIFY=NEVER|XY"));
        });
    }

    [Test]
    public void A_RCPT_line_over_buffer_segments_of_one_byte_gives_the_same_parameters()
    {
        var bytes = Encoding.UTF8.GetBytes("RCPT TO:<\"a>b\"@example.com> NOTIFY=NEVER ORCPT=rfc822;\u00e9@example.com\r\nQUIT\r\n");

        var line = CommandLine.Read(ByteSegments.OnePerSegment(bytes));

        Assert.That((line.Kind, Words(line.Parameters)), Is.EqualTo((CommandLineKind.Rcpt, "NOTIFY=NEVER|ORCPT=rfc822;\u00e9@example.com")));
    }

    [TestCase("MAIL FROM:<\u00ff@example.com>\r\n", TestName = "A byte that starts no UTF-8 character")]
    [TestCase("RCPT TO:<a@example.com> NOTIFY=\u00c3\r\nDATA\r\n", TestName = "A character cut short at the line end, the next line after it")]
    [TestCase("NOOP \u00c3(\r\n", TestName = "A lead byte followed by no continuation byte")]
    [TestCase("HELO \u00c0\u00af\r\n", TestName = "An overlong form of a slash")]
    [TestCase("EHLO \u00ed\u00a0\u0080\r\n", TestName = "A surrogate written as UTF-8")]
    [TestCase("VRFY \u00f5\u0080\u0080\u0080\r\n", TestName = "A character past U+10FFFF")]
    [TestCase("\u0080\r\n", TestName = "A continuation byte alone, whatever the command")]
    public void A_whole_line_that_is_not_UTF8_is_told_with_its_length_and_a_NOOP_in_its_place(string latin1)
    {
        var bytes = Encoding.Latin1.GetBytes(latin1);
        var length = latin1.IndexOf("\r\n", StringComparison.Ordinal) + 2;

        foreach (var read in new[] { CommandLine.Read(new ReadOnlySequence<byte>(bytes)), CommandLine.Read(ByteSegments.OnePerSegment(bytes)) })
        {
            Assert.That((read.Kind, read.Length, Encoding.ASCII.GetString(read.Replacement ?? [])), Is.EqualTo((CommandLineKind.NotUtf8, length, "NOOP\r\n")));
        }
    }

    [TestCase("RCPT TO:<postmaster>")]
    [TestCase("RCPT TO:<postmaster>\r", TestName = "A CR at the end may be the start of the line end")]
    [TestCase("RCPT TO:<postmaster> NOTIFY=NEV")]
    [TestCase("MAIL FROM:<a@example.com> BODY=8BIT")]
    [TestCase("MAIL FROM:<\u00ff@exam", TestName = "A line with a bad byte is judged only whole")]
    public void A_line_whose_LF_has_not_come_is_read_as_nothing_yet_the_pipe_holds_it_until_then(string latin1) =>
        Assert.That(CommandLine.Read(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(latin1))).Kind, Is.EqualTo(CommandLineKind.Other));

    [TestCase("MAIL FROM:<caf\u00c3\u00a9@example.com>\r\n", "Mail", TestName = "A MAIL in UTF-8 is read as any other")]
    [TestCase("RCPT TO:<\u00e2\u0098\u0083@example.com> NOTIFY=NEVER\r\n", "Rcpt", TestName = "A RCPT in UTF-8 is read as any other")]
    [TestCase("NOOP\r\nMAIL FROM:<\u00ff@example.com>\r\n", "Other", TestName = "Only the first line is judged")]
    public void A_line_in_UTF8_is_read_as_any_other(string latin1, string kind) =>
        Assert.That(CommandLine.Read(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(latin1))).Kind.ToString(), Is.EqualTo(kind));

    [Test]
    public void A_line_with_a_bad_byte_longer_than_Postfixs_limit_is_judged_as_Postfix_cuts_it()
    {
        var early = Encoding.Latin1.GetBytes("NOOP \u00ff" + new string('x', 2100));
        var past = Encoding.Latin1.GetBytes("NOOP " + new string('x', 2100) + "\u00ff");
        var split = Encoding.Latin1.GetBytes("NOOP " + new string('x', 2042) + "\u00c3\u00a9" + new string('x', 10)); // the cut falls inside the character

        Assert.Multiple(() =>
        {
            Assert.That(CommandLine.Read(new ReadOnlySequence<byte>(early)).Kind, Is.EqualTo(CommandLineKind.NotUtf8));
            Assert.That(CommandLine.Read(new ReadOnlySequence<byte>(past)).Kind, Is.EqualTo(CommandLineKind.NoopWithText), "the bad byte is in the part skipped");
            Assert.That(CommandLine.Read(new ReadOnlySequence<byte>(split)).Kind, Is.EqualTo(CommandLineKind.NotUtf8),
                "the line kept is judged (Postfix 3.7 judges no line it cut, and writes ? over the bad bytes: a difference on purpose)");
        });
    }

    [TestCase("NOOP x\r\n", 8)]
    [TestCase("noop\thello world\r\nQUIT\r\n", 18)]
    [TestCase("NOOP x\nRSET\r\n", 7, TestName = "A bare LF ends the NOOP's text, and what follows it is the next line")]
    public void NOOP_with_text_is_told_with_its_length_and_the_NOOP_alone_in_its_place(string bytes, int length)
    {
        var line = CommandLine.Read(Whole(bytes));

        Assert.That((line.Kind, line.Length, Encoding.ASCII.GetString(line.Replacement ?? [])), Is.EqualTo((CommandLineKind.NoopWithText, length, "NOOP\r\n")));
    }

    [TestCase("NOOP\r\n")]
    [TestCase("NOOP\nRSET\r\n", TestName = "What follows a bare LF after NOOP is no text of the NOOP's (Postfix: the next command)")]
    [TestCase("NOOP x", TestName = "NOOP with text whose line end has not come is not told yet")]
    public void A_NOOP_alone_or_a_word_that_starts_like_it_is_another(string bytes) =>
        Assert.That(CommandLine.Read(Whole(bytes)).Kind, Is.EqualTo(CommandLineKind.Other));

    [TestCase("AUTH PLAIN x", 12_288)]
    [TestCase("AUTH\fPLAIN x", 12_288, TestName = "AUTH and a form feed, a space to SmtpServer's parser")]
    [TestCase("auth\tLOGIN", 12_288)]
    [TestCase("AUTHX", 2_048)]
    [TestCase("  AUTH PLAIN x", 12_288, TestName = "AUTH after spaces is read as AUTH, as the line is read from its first word")]
    [TestCase("\tauth LOGIN", 12_288)]
    [TestCase("AUTH", 2_048, TestName = "AUTH alone, its line not come further, is read as any line until more comes")]
    [TestCase("MAIL FROM:<a@example.com>", 2_048)]
    public void An_AUTH_line_is_read_to_RFC_4954s_12288_octets_any_other_to_Postfixs_2048(string start, int longest) =>
        Assert.That(CommandLine.LongestOf(Whole(start)), Is.EqualTo(longest));

    [Test]
    public void A_cut_AUTH_line_is_refused_with_a_NOOP_in_its_place_and_any_other_cut_line_is_read_as_it_came()
    {
        var auth = CommandLine.ReadCut(Whole("AUTH PLAIN " + new string('A', 12_277) + "\r\n"));
        var mail = CommandLine.ReadCut(Whole("MAIL FROM:<a@example.com> X=" + new string('x', 2020) + "\r\n"));

        Assert.Multiple(() =>
        {
            Assert.That((auth.Kind, Encoding.ASCII.GetString(auth.Replacement!)), Is.EqualTo((CommandLineKind.AuthTooLong, "NOOP\r\n")));
            Assert.That(mail.Kind, Is.EqualTo(CommandLineKind.Mail));
        });
    }

    [TestCase("RSET\r\n", "Other", 6, null, TestName = "A line ended by a CR LF and starting with its command is given as it came")]
    [TestCase("EHLO x\n", "Other", 7, "EHLO x\r\n", TestName = "A line ended by a bare LF is given CR LF ended")]
    [TestCase("NOOP\r\r\n", "Other", 7, "NOOP\r\n", TestName = "Every CR before the LF is taken off, as Postfix's smtp_get does")]
    [TestCase("NOOP\rRSET\r\n", "NoopWithText", 11, "NOOP\r\n", TestName = "A bare CR inside the line is no line end")]
    [TestCase(" \tRSET\r\n", "Other", 8, "RSET\r\n", TestName = "Spaces before the command are taken off")]
    [TestCase("\r\n", "Blank", 2, "NOOP\r\n", TestName = "An empty line is blank, with a NOOP in its place")]
    [TestCase(" \t\v\f\r\n", "Blank", 6, "NOOP\r\n", TestName = "A line of spaces is blank")]
    [TestCase("\n", "Blank", 1, "NOOP\r\n", TestName = "An empty line ended by a bare LF is blank")]
    [TestCase("MAIL FROM:<a@example.com> RET=FULL\n", "Mail", 35, "MAIL FROM:<a@example.com>\r\n", TestName = "A MAIL with parameters ended by a bare LF is given without them")]
    [TestCase(" MAIL FROM:<a@example.com>\r\n", "Mail", 28, "MAIL FROM:<a@example.com>\r\n", TestName = "A MAIL after a space is given from its first word")]
    [TestCase(" RCPT TO:<a@example.com> NOTIFY=NEVER\n", "Rcpt", 38, "RCPT TO:<a@example.com> NOTIFY=NEVER\r\n", TestName = "A RCPT after a space and ended by a bare LF is given whole from its first word")]
    [TestCase("RCPT TO:<postmaster>\n", "BarePostmaster", 21, "RCPT TO:<postmaster@postmaster.invalid>\r\n", TestName = "A bare postmaster ended by a bare LF gets its stand-in")]
    [TestCase("EHLO [192.0.2.1]\n", "EhloAddressLiteral", 17, "EHLO [192.0.2.1]\r\n", TestName = "An EHLO literal ended by a bare LF is still told")]
    [TestCase("QUIT\nRSET\r\n", "Other", 5, "QUIT\r\n", TestName = "Only the line up to the first LF is read")]
    [TestCase("NOOP\u0000x\r\n", "Other", 8, "NOOP\r\n", TestName = "A NUL ends what is read of the line, and the line is given without the rest")]
    [TestCase("MAIL\u0000 FROM:<a@example.com>\r\n", "Other", 28, "MAIL\r\n", TestName = "A NUL after the command leaves the command alone")]
    public void A_line_ends_at_its_LF_and_starts_at_its_first_word_and_is_given_so_when_it_came_otherwise(string bytes, string kind, int length, string? replacement)
    {
        foreach (var read in new[] { CommandLine.Read(Whole(bytes)), CommandLine.Read(ByteSegments.OnePerSegment(Encoding.ASCII.GetBytes(bytes))) })
        {
            Assert.That((read.Kind.ToString(), read.Length, read.Replacement is null ? null : Encoding.ASCII.GetString(read.Replacement)), Is.EqualTo((kind, length, replacement)));
        }
    }

    [TestCase("NOOPx\r\n", "Unrecognized", TestName = "NOOPx is no command")]
    [TestCase("MAILX FROM:<a@example.com>\r\n", "Unrecognized", TestName = "MAILX is no command")]
    [TestCase("EHLOX [192.0.2.1]\r\n", "Unrecognized", TestName = "EHLOX is no command")]
    [TestCase("EHLO[192.0.2.1]\r\n", "Unrecognized", TestName = "An address literal right after EHLO makes one word, no command (SmtpServer's parser took it)")]
    [TestCase("PROXY TCP4 192.0.2.1 192.0.2.2 1111 25\r\n", "Unrecognized", TestName = "PROXY is no command of Postfix's (SmtpServer's parser took HAProxy's header from any client)")]
    [TestCase("xyzzy\r\n", "Unrecognized", TestName = "A word in lower case is no command, but a word")]
    [TestCase("VRFY postmaster\r\n", "Vrfy")]
    [TestCase("etrn example.com\r\n", "NotImplemented")]
    [TestCase("XCLIENT ADDR=192.0.2.1\r\n", "NotImplemented")]
    [TestCase("BDAT 10 LAST\r\n", "Bdat")]
    [TestCase("\u0000QUIT\r\n", "Blank", TestName = "A NUL ends the line, as it ends Postfix's C string: nothing before it is a blank line")]
    [TestCase("GET / HTTP/1.1\r\n", "NotSmtp", TestName = "GET is not SMTP")]
    [TestCase("post /x HTTP/1.1\r\n", "NotSmtp", TestName = "POST in any letter case is not SMTP")]
    [TestCase("CONNECT mx.example:25 HTTP/1.1\r\n", "NotSmtp", TestName = "CONNECT is not SMTP")]
    [TestCase("Subject: hello\r\n", "NotSmtp", TestName = "A header field is not SMTP")]
    [TestCase("RCPTTO:<postmaster>\r\n", "NotSmtp", TestName = "RCPT and TO as one word is a header name to Postfix, not SMTP")]
    [TestCase("1234\r\n", "NotSmtp", TestName = "A word that does not start with a letter is not SMTP")]
    [TestCase("\u00e9t\u00e9\r\n", "NotSmtp", TestName = "Nor one that starts with a letter outside ASCII")]
    [TestCase("QUIT now\r\n", "QuitWithText")]
    [TestCase("Quit\r\n", "Other", TestName = "QUIT in any letter case is a QUIT")]
    public void A_lines_first_word_tells_a_command_from_none_as_Postfixs_smtpd_tells_it(string text, string kind)
    {
        var read = CommandLine.Read(Whole(text));

        Assert.Multiple(() =>
        {
            Assert.That(read.Kind.ToString(), Is.EqualTo(kind));
            Assert.That(read.Replacement is null ? null : Encoding.ASCII.GetString(read.Replacement), Is.EqualTo(kind switch { "Other" => null, "QuitWithText" => "QUIT\r\n", _ => "NOOP\r\n" }));
            Assert.That(read.Length, Is.EqualTo(Encoding.UTF8.GetByteCount(text[..(text.IndexOf('\n', StringComparison.Ordinal) + 1)])), "the whole line, to its LF");
        });
    }

    [TestCase("mail FROM:<a@example.com>\r\n", "MAIL")]
    [TestCase("Rcpt TO:<a@example.com> NOTIFY=NEVER\r\n", "RCPT")]
    [TestCase(" data\n", "DATA")]
    [TestCase("starttls\r\n", "STARTTLS")]
    [TestCase("NOOPx\r\n", null)]
    [TestCase("\r\n", null)]
    public void A_lines_command_is_named_as_Postfix_names_it_whatever_its_letter_case(string text, string? verb) =>
        Assert.That(CommandLine.Read(Whole(text)).Verb, Is.EqualTo(verb));

    [TestCase("HELO x.example\r\n", true)]
    [TestCase(" EHLO x.example\n", true, TestName = "A line given from its first word is read so")]
    [TestCase("EHLO [192.0.2.1]\r\n", true)]
    [TestCase("HELO\r\n", false, TestName = "A HELO without a name is not")]
    [TestCase("EHLO  \r\n", false, TestName = "Nor one with spaces for a name")]
    [TestCase("EHLO _x\r\n", false, TestName = "Nor a name SmtpServer's parser does not take, though Postfix does")]
    [TestCase("STARTTLS x\r\n", false)]
    [TestCase("MAIL FROM:<a@example.org> SIZE=1\r\n", true, TestName = "A MAIL is read without its parameters, as it is given")]
    public void Whether_SmtpServers_parser_reads_a_line_is_told_from_what_it_is_given_of_it(string text, bool read) =>
        Assert.That(CommandLine.Read(Whole(text)).ReadBySmtpServer(Whole(text)), Is.EqualTo(read));

    [TestCase("EHLO b.example\r\nMAIL FROM:<a@example.org>\r\n", "RSET", "RSET\r\nEHLO b.example\r\n", TestName = "A line given as it came follows the command whole, and nothing after it")]
    [TestCase("  HELO b.example\n", "RSET", "RSET\r\nHELO b.example\r\n", TestName = "A line given from its first word follows the command so")]
    [TestCase("MAIL FROM:<a@example.org> SIZE=10\r\n", "HELO", "HELO unknown\r\nMAIL FROM:<a@example.org>\r\n", TestName = "A MAIL given without its parameters follows a HELO so")]
    public void A_line_given_after_a_command_the_client_did_not_send_is_that_command_then_what_SmtpServer_would_have_been_given(string text, string command, string given)
    {
        var line = CommandLine.Read(Whole(text)).After(command, Whole(text));

        Assert.Multiple(() =>
        {
            Assert.That(Encoding.ASCII.GetString(line.Replacement!), Is.EqualTo(given));
            Assert.That(line.Before, Is.EqualTo(command), "its reply is not the client's");
            Assert.That(line.Length, Is.EqualTo(text.IndexOf('\n', StringComparison.Ordinal) + 1), "the client's line alone is taken from the connection");
        });
    }

    [Test]
    public void A_bare_postmasters_parameters_are_given_for_the_stand_in_alone()
    {
        var line = CommandLine.Read(Whole("RCPT TO:<postmaster> NOTIFY=NEVER\r\n"));

        Assert.Multiple(() =>
        {
            Assert.That(line.RcptParameters(new Mailbox("postmaster", "postmaster.invalid")), Is.EqualTo(new[] { "NOTIFY=NEVER" }));
            Assert.That(line.RcptParameters(new Mailbox("postmaster", "example.com")), Is.Empty);
        });
    }

    [Test]
    public void Random_lines_are_read_alike_whole_and_byte_by_byte_only_MAIL_and_RCPT_lines_give_parameters_and_a_replacement_is_one_line_for_one()
    {
        // Seeded: a failure names its line. The bytes are drawn mostly from those the readers look for, so that most lines get
        // far into them.
        var random = new Random(20261207);
        var alphabet = Encoding.ASCII.GetBytes("RCPTO:<>@\"\\ \t\r\n=Xpostmaster.EHLOMAILFROM[]");
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(1, 40)]; // a line of no bytes is no segment
            for (var j = 0; j < bytes.Length; j++)
            {
                bytes[j] = random.Next(8) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            var prefix = random.Next(5) switch
            {
                0 => "RCPT TO:<"u8.ToArray(),
                1 => "RCPT TO:"u8.ToArray(),
                2 => "MAIL FROM:<"u8.ToArray(),
                3 => "MAIL FROM:"u8.ToArray(),
                _ => [],
            };
            byte[] line = [.. prefix, .. bytes];
            var read = CommandLine.Read(new ReadOnlySequence<byte>(line));
            var text = Encoding.Latin1.GetString(line);
            Assert.That(read, Is.EqualTo(CommandLine.Read(ByteSegments.OnePerSegment(line))).Using<CommandLine>(SameLine), "as one segment and as one byte each: " + text);
            if (read.Parameters is not null)
            {
                Assert.That(text, Does.StartWith("RCPT").IgnoreCase.Or.StartWith("MAIL").IgnoreCase, text);
                Assert.That(read.Parameters.Where(p => p.Length == 0 || " \t\v\f".Contains(p[0], StringComparison.Ordinal)), Is.Empty, text);
                Assert.That(read.Parameters.Where(p => p.AsSpan().ContainsAny('\r', '\n', '\0')), Is.Empty, "no parameter holds a line end: " + text);
            }

            if (read.Replacement is { } replacement)
            {
                // A whole line of its own in place of a whole line of the client's, which the pipe skips: never more than came.
                var replaced = Encoding.Latin1.GetString(replacement);
                var read0 = text[..(read.Length - 1)].Split('\0')[0]; // a NUL ends the line, as Postfix's C string
                var given = read0.TrimEnd('\r').TrimStart(" \t\n\v\f\r".ToCharArray()); // the client's line from its first word
                Assert.That(replaced, Does.StartWith("MAIL FROM:<").Or.EqualTo("RCPT TO:<postmaster@postmaster.invalid>\r\n").Or.EqualTo("NOOP\r\n").Or.EqualTo(given + "\r\n"), text);
                Assert.That(read.Kind == CommandLineKind.NotUtf8, Is.EqualTo(!System.Text.Unicode.Utf8.IsValid(line.AsSpan(0, read.Length - 1))), "judged whole, past a NUL: " + text);
                Assert.That(replaced.IndexOf('\n', StringComparison.Ordinal), Is.EqualTo(replaced.Length - 1), text);
                Assert.That(replaced[^2], Is.EqualTo('\r'), text);
                Assert.That(text.IndexOf('\n', StringComparison.Ordinal), Is.EqualTo(read.Length - 1), text);
            }
        }
    }

    /// <summary>Two lines read alike: the same kind, length and path, and the same parameters.</summary>
    private static bool SameLine(CommandLine a, CommandLine b) =>
        (a.Kind, a.Length, a.Path, Words(a.Parameters)) == (b.Kind, b.Length, b.Path, Words(b.Parameters))
        && (a.Replacement ?? []).AsSpan().SequenceEqual(b.Replacement);

    private static ReadOnlySequence<byte> Whole(string bytes) => new(Encoding.UTF8.GetBytes(bytes));

    /// <summary>Parameters as one string, each ended by <c>|</c> but the last; null for none at all.</summary>
    private static string? Words(IReadOnlyList<string>? parameters) => parameters is null ? null : string.Join('|', parameters);
}
