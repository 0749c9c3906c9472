using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Sieve;

/// <summary>One test (at least) per Sieve command the host runs, each edit checked against MessageEditor.</summary>
public class SieveCommandTests
{
    private const string Message =
        "From: Alice <alice@example.org>\r\n" +
        "To: Bob <bob@example.com>, carol@example.com\r\n" +
        "Subject: hello\r\n" +
        "X-Spam: one\r\n" +
        "X-Spam: two\r\n" +
        "X-Spam: three\r\n" +
        "\r\n" +
        "Body\r\n";

    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("<carol@example.com>")]);

    private static SieveOutcome Run(string script, string message = Message) =>
        SieveScript.Parse(script).Run(Encoding.UTF8.GetBytes(message), Envelope);

    private static string Text(SieveOutcome outcome) => Encoding.UTF8.GetString(outcome.Message);

    /// <summary>The script's edits are exactly what MessageEditor makes of the same MessageEdit records.</summary>
    private static void AssertEdits(SieveOutcome outcome, params MessageEdit[] edits)
    {
        Assert.That(outcome.Edits, Is.EqualTo(edits).Using<MessageEdit>(SameEdit));
        var expected = MessageEditor.Apply(Encoding.UTF8.GetBytes(Message), Envelope, edits);
        Assert.That(Text(outcome), Is.EqualTo(Encoding.UTF8.GetString(expected.Message)));
        Assert.That(outcome.Envelope.MailFrom, Is.EqualTo(expected.Envelope.MailFrom));
        Assert.That(outcome.Envelope.Recipients.Select(r => (r.Address, string.Join(' ', r.Parameters ?? []))),
            Is.EqualTo(expected.Envelope.Recipients.Select(r => (r.Address, string.Join(' ', r.Parameters ?? [])))));
    }

    private static bool SameEdit(MessageEdit a, MessageEdit b) =>
        a is ReplaceBody x && b is ReplaceBody y ? x.Body.ToArray().SequenceEqual(y.Body.ToArray()) : a.Equals(b);

    [Test]
    public void An_empty_script_keeps_the_message_unchanged_in_the_inbox()
    {
        var outcome = Run("");

        Assert.That((outcome.Disposition, outcome.Keep, outcome.ExplicitKeep), Is.EqualTo((SieveDisposition.Deliver, true, false)));
        Assert.That(Text(outcome), Is.EqualTo(Message));
    }

    [Test]
    public void require_accepts_every_supported_capability()
    {
        Assert.DoesNotThrow(() => SieveScript.Parse(
            "require [\"fileinto\", \"reject\", \"ereject\", \"editheader\", \"addheader\", \"envelope\", \"vnd.spamfiltermilter\", \"comparator-i;octet\"];\nrequire \"comparator-i;ascii-casemap\";"));
    }

    [Test]
    public void require_of_an_unsupported_capability_is_an_error()
    {
        var e = Assert.Throws<SieveException>(() => SieveScript.Parse("require [\"fileinto\", \"vacation\"];"))!;

        Assert.That(e.Message, Is.EqualTo("line 1, column 9: unsupported capability \"vacation\""));
    }

    [Test]
    public void require_after_another_command_is_an_error()
    {
        var e = Assert.Throws<SieveException>(() => SieveScript.Parse("keep;\nrequire \"fileinto\";"))!;

        Assert.That(e.Message, Is.EqualTo("line 2, column 1: require must come before every other command"));
    }

    [Test]
    public void An_extension_command_without_its_require_is_an_error()
    {
        var e = Assert.Throws<SieveException>(() => SieveScript.Parse("fileinto \"Junk\";"))!;

        Assert.That(e.Message, Is.EqualTo("line 1, column 1: command \"fileinto\" needs require \"fileinto\""));
    }

    [Test]
    public void keep_keeps_explicitly()
    {
        var outcome = Run("keep;");

        Assert.That((outcome.Disposition, outcome.Keep, outcome.ExplicitKeep), Is.EqualTo((SieveDisposition.Deliver, true, true)));
    }

    [Test]
    public void discard_drops_the_message()
    {
        var outcome = Run("discard;");

        Assert.That((outcome.Disposition, outcome.Keep), Is.EqualTo((SieveDisposition.Discard, false)));
    }

    [Test]
    public void discard_only_cancels_the_implicit_keep_so_an_explicit_keep_still_delivers()
    {
        Assert.That(Run("discard; keep;").Disposition, Is.EqualTo(SieveDisposition.Deliver));
        Assert.That(Run("require \"fileinto\"; discard; fileinto \"Junk\";").Folders, Is.EqualTo(new[] { "Junk" }));
    }

    [Test]
    public void fileinto_files_into_each_folder_once_and_cancels_the_implicit_keep()
    {
        var outcome = Run("require \"fileinto\";\nfileinto \"Junk\";\nfileinto \"Archive\";\nfileinto \"Junk\";");

        Assert.That((outcome.Disposition, outcome.Keep), Is.EqualTo((SieveDisposition.Deliver, false)));
        Assert.That(outcome.Folders, Is.EqualTo(new[] { "Junk", "Archive" }));
    }

    [Test]
    public void redirect_records_the_address_and_cancels_the_implicit_keep()
    {
        var outcome = Run("redirect \"abuse@example.com\";");

        Assert.That(outcome.Redirects, Is.EqualTo(new[] { "abuse@example.com" }));
        Assert.That(outcome.Keep, Is.False);
        Assert.That(Assert.Throws<SieveException>(() => Run("redirect \"<>\";"))!.Message, Is.EqualTo("line 1, column 1: \"<>\" is not an address"));
    }

    [Test]
    public void reject_refuses_with_550_5_7_1_and_the_reason()
    {
        var outcome = Run("require \"reject\";\nreject \"Message contained a virus [Eicar]\";");

        Assert.That(outcome.Disposition, Is.EqualTo(SieveDisposition.Reject));
        Assert.That(outcome.Reply, Is.EqualTo(new SmtpReply(550, "5.7.1", "Message contained a virus [Eicar]")));
    }

    [Test]
    public void reject_with_several_lines_gives_a_multi_line_reply()
    {
        var outcome = Run("require \"reject\";\nreject text:\nNot here.\nNot now.\n.\n;");

        Assert.That(outcome.Reply, Is.EqualTo(new SmtpReply(550, "5.7.1", ["Not here.", "Not now."])));
    }

    [Test]
    public void ereject_uses_a_full_SMTP_reply_as_given()
    {
        var outcome = Run("require \"ereject\";\nereject \"554 5.7.1 Virus found: EICAR-Test-File (sample milter)\";");

        Assert.That(outcome.Disposition, Is.EqualTo(SieveDisposition.Reject));
        Assert.That(outcome.Reply, Is.EqualTo(new SmtpReply(554, "5.7.1", "Virus found: EICAR-Test-File (sample milter)")));
    }

    [Test]
    public void ereject_with_plain_text_refuses_with_550_5_7_1_and_the_text()
    {
        Assert.That(Run("require \"ereject\"; ereject \"go away\";").Reply, Is.EqualTo(new SmtpReply(550, "5.7.1", "go away")));
    }

    [Test]
    public void ereject_with_a_4xx_reply_is_a_temporary_failure()
    {
        var outcome = Run("require \"ereject\"; ereject \"452 4.3.1 Insufficient system storage\";");

        Assert.That((outcome.Disposition, outcome.Reply), Is.EqualTo((SieveDisposition.TempFail, new SmtpReply(452, "4.3.1", "Insufficient system storage"))));
    }

    [Test]
    public void A_refusal_ends_the_script_and_drops_its_edits()
    {
        var outcome = Run("require [\"ereject\", \"editheader\"];\naddheader \"X-Before\" \"1\";\nereject \"550 5.7.1 no\";\naddheader \"X-After\" \"2\";");

        Assert.That(outcome.Disposition, Is.EqualTo(SieveDisposition.Reject));
        Assert.That(Text(outcome), Is.EqualTo(Message), "a refused message is not delivered, so it is left as it came");
        Assert.That(outcome.Envelope, Is.SameAs(Envelope));
    }

    [Test]
    public void addheader_puts_the_field_on_top_as_RFC_5293_says()
    {
        AssertEdits(Run("require \"editheader\"; addheader \"X-Top\" \"first\";"), new InsertHeader(0, "X-Top", " first"));
    }

    [Test]
    public void addheader_last_puts_the_field_at_the_end_of_the_header()
    {
        AssertEdits(Run("require \"editheader\"; addheader :last \"X-Spam-Flag\" \"YES\";"), new AddHeader("X-Spam-Flag", " YES"));
    }

    [Test]
    public void addheader_with_one_argument_is_Messaging_Servers_form_and_appends()
    {
        AssertEdits(Run("require [\"addheader\"];addheader \"Spam-test: True ; 18.3 / 5.0\";"), new AddHeader("Spam-test", " True ; 18.3 / 5.0"));
    }

    [Test]
    public void addheader_keeps_a_folded_value_and_writes_its_lines_with_the_messages_line_ends()
    {
        var outcome = Run("require \"editheader\"; addheader :last \"X-Folded\" \"a\n\tb\";");

        AssertEdits(outcome, new AddHeader("X-Folded", " a\n\tb"));
        Assert.That(Text(outcome), Does.Contain("X-Spam: three\r\nX-Folded: a\r\n\tb\r\n\r\n"));
    }

    [TestCase("addheader :last \"X-A\" \"v\nBcc: victim@example.net\";", "X-A: v\r\n\tBcc: victim@example.net\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \"v\r\nBcc: victim@example.net\";", "X-A:v\r\n\tBcc: victim@example.net\r\n")]
    [TestCase("addheader :last \"X-A\" \"v\r\n\r\nbody\";", "X-A: v\r\n\t\r\n\tbody\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \"v\r\n\";", "X-A:v\r\n\t\r\n")]
    public void A_line_break_that_does_not_fold_gets_a_tab_as_Postfix_writes_a_milters_header(string command, string field)
    {
        var outcome = Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + command);

        Assert.That(Text(outcome), Is.EqualTo(Message.Replace("\r\n\r\n", "\r\n" + field + "\r\n", StringComparison.Ordinal)),
            "no header line, and no end of the header, of the script's making");
    }

    [TestCase("addheader \"Bad Name\" \"v\";", "\"Bad Name\" is not a header field name")]
    [TestCase("addheader \"X-Ok\" \"a\rb\";", "a header value may not hold a bare CR or a NUL")]
    [TestCase("addheader \"no colon\";", "addheader with one argument needs \"Name: value\", not \"no colon\"")]
    public void addheader_refuses_what_would_break_the_header(string command, string problem)
    {
        var e = Assert.Throws<SieveException>(() => Run("require \"editheader\";\n" + command))!;

        Assert.That((e.Line, e.Problem), Is.EqualTo((2, problem)));
    }

    [TestCase("addheader :last :raw \"X-A\" \"nospace\";", "X-A:nospace\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \"\tv\";", "X-A:\tv\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \"  v\";", "X-A:  v\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \"\";", "X-A:\r\n")]
    [TestCase("addheader :last :raw \"X-A\" \" a\r\n\tb\";", "X-A: a\r\n\tb\r\n")]
    [TestCase("addheader :last \"X-A\" \"v\";", "X-A: v\r\n")]
    public void raw_writes_the_value_exactly_after_the_colon_and_without_it_one_space_is_added(string command, string field)
    {
        var outcome = Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + command);

        Assert.That(Text(outcome), Is.EqualTo(Message.Replace("\r\n\r\n", "\r\n" + field + "\r\n", StringComparison.Ordinal)));
    }

    [Test]
    public void raw_works_on_insertheader_replaceheader_and_addheader_on_top()
    {
        AssertEdits(Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\naddheader :raw \"X-Top\" \"t\";\ninsertheader :index 2 :raw \"X-Mid\" \"m\";\nreplaceheader :raw :index 1 \"Subject\" \"\tnew\";"),
            new InsertHeader(0, "X-Top", "t"), new InsertHeader(2, "X-Mid", "m"), new ChangeHeader(1, "Subject", "\tnew"));
    }

    [TestCase("require \"editheader\"; addheader :raw \"X-A\" \"v\";", ":raw needs require \"vnd.spamfiltermilter\"")]
    [TestCase("require [\"editheader\", \"vnd.spamfiltermilter\"]; addheader :raw \"X-A: v\";", ":raw needs the field name and the value as two arguments")]
    [TestCase("require [\"editheader\", \"vnd.spamfiltermilter\"]; deleteheader :raw \"X-A\";", "unsupported tag :raw for deleteheader")]
    public void raw_needs_its_extension_and_both_arguments(string script, string problem)
    {
        Assert.That(Assert.Throws<SieveException>(() => SieveScript.Parse(script))!.Problem, Is.EqualTo(problem));
    }

    [TestCase("addheader :last :raw \"X-A\" \"v\rBcc: victim@example.net\";")]
    [TestCase("insertheader :index 1 \"X-A\" \"v\r\";")]
    [TestCase("replaceheader :index 1 \"Subject\" \"v\r\r\n Bcc: victim@example.net\";")]
    [TestCase("addheader :last :raw \"X-A\" \"v\0w\";")]
    [TestCase("addheader :last :base64 \"X-A\" \"dg1C\";")] // "v\rB" in base64
    public void A_bare_CR_or_a_NUL_is_refused_with_or_without_raw_or_base64(string command)
    {
        var e = Assert.Throws<SieveException>(() => Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + command))!;

        Assert.That(e.Problem, Is.EqualTo("a header value may not hold a bare CR or a NUL"));
    }

    [TestCase("addheader :last :base64 \"X-L\" \"Y2Fm6Q==\";", new byte[] { 0x20, 0x63, 0x61, 0x66, 0xE9 })]          // Latin-1 "café", one space added
    [TestCase("addheader :last :raw :base64 \"X-L\" \"IMMo/w==\";", new byte[] { 0x20, 0xC3, 0x28, 0xFF })]            // broken UTF-8, exact
    [TestCase("replaceheader :base64 :index 1 \"Subject\" \"6Q==\";", new byte[] { 0x20, 0xE9 })]
    public void base64_gives_the_exact_bytes_of_a_value_that_is_not_UTF8(string command, byte[] value)
    {
        var outcome = Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + command);

        var edit = outcome.Edits.Single();
        Assert.That(edit is AddHeader { Value: var added } ? added : ((ChangeHeader)edit).Value!.Value, Is.EqualTo(new RawText(value)));
        var name = edit is AddHeader a ? a.Name : "Subject";
        var written = Encoding.Latin1.GetString(outcome.Message);
        Assert.That(written, Does.Contain("\r\n" + name + ":" + Encoding.Latin1.GetString(value) + "\r\n"), "the bytes, unchanged, in the message");
    }

    [TestCase("require \"editheader\"; addheader :base64 \"X-A\" \"dg==\";", ":base64 needs require \"vnd.spamfiltermilter\"")]
    [TestCase("require [\"editheader\", \"vnd.spamfiltermilter\"]; addheader :base64 \"X-A: v\";", ":base64 needs the field name and the value as two arguments")]
    public void base64_needs_its_extension_and_both_arguments(string script, string problem)
    {
        Assert.That(Assert.Throws<SieveException>(() => SieveScript.Parse(script))!.Problem, Is.EqualTo(problem));
    }

    [Test]
    public void base64_that_is_not_base64_is_an_error_at_its_command()
    {
        var e = Assert.Throws<SieveException>(() => Run("require [\"editheader\", \"vnd.spamfiltermilter\"];\naddheader :base64 \"X-A\" \"not base64!\";"))!;

        Assert.That((e.Line, e.Problem), Is.EqualTo((2, ":base64 needs the header value in base64")));
    }

    [Test]
    public void deleteheader_deletes_every_field_of_that_name()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader \"x-spam\";"),
            new ChangeHeader(3, "X-Spam", null), new ChangeHeader(2, "X-Spam", null), new ChangeHeader(1, "X-Spam", null));
    }

    [Test]
    public void deleteheader_index_deletes_the_nth_field_of_that_name()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader :index 2 \"X-Spam\";"), new ChangeHeader(2, "X-Spam", null));
    }

    [Test]
    public void deleteheader_index_last_counts_from_the_end()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader :index 1 :last \"X-Spam\";"), new ChangeHeader(3, "X-Spam", null));
    }

    [Test]
    public void deleteheader_index_0_means_1_as_in_libmilter()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader :index 0 \"X-Spam\";"), new ChangeHeader(1, "X-Spam", null));
    }

    [Test]
    public void deleteheader_with_value_patterns_deletes_only_the_fields_that_match()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader :contains \"X-Spam\" [\"ONE\", \"hree\"];"),
            new ChangeHeader(3, "X-Spam", null), new ChangeHeader(1, "X-Spam", null));
        AssertEdits(Run("require \"editheader\"; deleteheader :matches \"X-Spam\" \"t*\";"),
            new ChangeHeader(3, "X-Spam", null), new ChangeHeader(2, "X-Spam", null));
        AssertEdits(Run("require \"editheader\"; deleteheader :index 2 \"X-Spam\" \"one\";"));
    }

    [Test]
    public void deleteheader_of_a_missing_field_does_nothing_and_last_needs_index()
    {
        AssertEdits(Run("require \"editheader\"; deleteheader \"X-Missing\";"));
        Assert.That(Assert.Throws<SieveException>(() => SieveScript.Parse("require \"editheader\"; deleteheader :last \"X\";"))!.Problem, Is.EqualTo(":last needs :index here"));
    }

    [Test]
    public void addtag_collects_tags_and_leaves_the_Subject_to_the_host()
    {
        var outcome = Run("addtag \"[SPAM detected: True]\";\naddtag \"[VIRUS]\";");

        Assert.That(outcome.Tags, Is.EqualTo(new[] { "[SPAM detected: True]", "[VIRUS]" }));
        Assert.That(Text(outcome), Is.EqualTo(Message), "the host prefixes the tags once every slot has run");
    }

    [TestCase("addtag \"[SPAM]\\r\\nBcc: victim@example.net\";")]
    [TestCase("addtag \"[SPAM]\nBcc: victim@example.net\";")]
    [TestCase("addtag \"[SPAM]|[VIRUS]\";")]
    [TestCase("addtag \"a\0b\";")]
    public void addtag_refuses_a_tag_with_a_line_break_a_NUL_or_a_bar(string script)
    {
        var e = Assert.Throws<SieveException>(() => SieveScript.Parse(script.Replace("\\r\\n", "\r\n", StringComparison.Ordinal)))!;

        Assert.That(e.Problem, Is.EqualTo("a tag may not hold a line break, a NUL or '|'"));
    }

    [Test]
    public void stop_ends_the_script()
    {
        var outcome = Run("require \"fileinto\"; fileinto \"A\"; stop; fileinto \"B\";");

        Assert.That(outcome.Folders, Is.EqualTo(new[] { "A" }));
    }

    [Test]
    public void stop_inside_an_if_ends_the_whole_script_not_only_the_block()
    {
        var outcome = Run("require \"fileinto\";\nif true { fileinto \"A\"; stop; fileinto \"B\"; }\nfileinto \"C\";");

        Assert.That(outcome.Folders, Is.EqualTo(new[] { "A" }));
    }

    [Test]
    public void if_elsif_else_nest_inside_a_block_and_each_chain_takes_its_own_branch()
    {
        const string script = "require \"fileinto\";\n" +
            "if exists \"Subject\" {\n" +
            "  if header :is \"Subject\" \"bye\" { fileinto \"Bye\"; }\n" +
            "  elsif header :is \"X-Spam\" \"two\" { fileinto \"Two\"; }\n" +
            "  else { fileinto \"Else\"; }\n" +
            "  if false { fileinto \"Never\"; } else { fileinto \"Inner\"; }\n" +
            "}\n" +
            "elsif true { fileinto \"Outer-elsif\"; }\n" +
            "else { fileinto \"Outer-else\"; }";

        Assert.That(Run(script).Folders, Is.EqualTo(new[] { "Two", "Inner" }));
        Assert.That(Run(script, "From: a@example.org\r\n\r\nBody\r\n").Folders, Is.EqualTo(new[] { "Outer-elsif" }));
    }

    [Test]
    public void if_elsif_else_take_the_first_branch_whose_test_holds()
    {
        const string script = "require \"fileinto\";\n" +
            "if header :contains \"Subject\" \"lottery\" { fileinto \"Scam\"; }\n" +
            "elsif header :is \"Subject\" \"hello\" { fileinto \"Greetings\"; }\n" +
            "elsif true { fileinto \"Never\"; }\n" +
            "else { fileinto \"Other\"; }";

        Assert.That(Run(script).Folders, Is.EqualTo(new[] { "Greetings" }));
        Assert.That(Run(script, Message.Replace("Subject: hello", "Subject: bye", StringComparison.Ordinal)).Folders, Is.EqualTo(new[] { "Never" }));
    }

    [Test]
    public void tempfail_refuses_for_now_with_the_4xx_reply()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Service unavailable - try again later\";");

        Assert.That((outcome.Disposition, outcome.Reply), Is.EqualTo((SieveDisposition.TempFail, new SmtpReply(451, "4.7.1", "Service unavailable - try again later"))));
    }

    [Test]
    public void tempfail_with_plain_text_uses_451_4_7_1_and_a_5xx_reply_is_an_error()
    {
        Assert.That(Run("require \"vnd.spamfiltermilter\"; tempfail \"busy\";").Reply, Is.EqualTo(new SmtpReply(451, "4.7.1", "busy")));
        Assert.That(Assert.Throws<SieveException>(() => Run("require \"vnd.spamfiltermilter\"; tempfail \"550 5.7.1 no\";"))!.Problem,
            Is.EqualTo("tempfail needs a 4xx reply, not 550"));
    }

    [Test]
    public void quarantine_holds_with_the_first_reason()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; quarantine \"looks like a scam\"; quarantine \"second\";");

        Assert.That((outcome.Disposition, outcome.QuarantineReason, outcome.Keep), Is.EqualTo((SieveDisposition.Deliver, "looks like a scam", true)));
    }

    [Test]
    public void insertheader_puts_the_field_before_the_field_at_that_index()
    {
        AssertEdits(Run("require \"vnd.spamfiltermilter\"; insertheader :index 2 \"X-Middle\" \"m\";"), new InsertHeader(2, "X-Middle", " m"));
    }

    [Test]
    public void replaceheader_replaces_the_nth_field_of_that_name_and_adds_beyond_the_count()
    {
        AssertEdits(Run("require \"vnd.spamfiltermilter\"; replaceheader :index 1 \"Subject\" \"[SPAM] hello\";"), new ChangeHeader(1, "Subject", " [SPAM] hello"));
        AssertEdits(Run("require \"vnd.spamfiltermilter\"; replaceheader :index 5 \"X-Spam\" \"five\";"), new ChangeHeader(5, "X-Spam", " five"));
    }

    [Test]
    public void insertheader_and_replaceheader_need_an_index()
    {
        var e = Assert.Throws<SieveException>(() => SieveScript.Parse("require \"vnd.spamfiltermilter\"; replaceheader \"Subject\" \"x\";"))!;

        Assert.That(e.Problem, Is.EqualTo("replaceheader needs :index"));
    }

    [Test]
    public void addrecipient_adds_an_envelope_recipient_with_or_without_ESMTP_arguments()
    {
        AssertEdits(Run("require \"vnd.spamfiltermilter\"; addrecipient \"<new@example.com>\"; addrecipient \"<par@example.com>\" \"NOTIFY=NEVER\";"),
            new AddRecipient("<new@example.com>"), new AddRecipient("<par@example.com>", ["NOTIFY=NEVER"]));
    }

    [Test]
    public void addrecipient_of_the_null_address_adds_nothing_and_says_so_as_Postfix_ignores_a_milters_ADDRCPT_of_it()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; addrecipient \"<>\";");

        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com", "<carol@example.com>" }));
        Assert.That(outcome.Actions, Is.EqualTo(new[] { "addrecipient \"<>\"", "  the recipient \"<>\" is not added: it is the null address, which Postfix ignores too" }));
    }

    [TestCase("[\"NOTIFY=SUCCESS,DELAY\", \"ORCPT=rfc822;x@example.com\"]")] // as the plug-in writes them
    [TestCase("\"NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@example.com\"")]            // one string, as a person may write them
    [TestCase("[\"NOTIFY=SUCCESS,DELAY  ORCPT=rfc822;x@example.com\"]")]
    public void ESMTP_parameters_are_a_string_list_or_one_space_separated_string(string parameters)
    {
        var outcome = Run($"require \"vnd.spamfiltermilter\"; addrecipient \"<par@example.com>\" {parameters};");

        AssertEdits(outcome, new AddRecipient("<par@example.com>", ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;x@example.com"]));
    }

    [Test]
    public void deleterecipient_removes_an_envelope_recipient()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; deleterecipient \"<carol@example.com>\"; deleterecipient \"<BOB@example.com>\";");

        AssertEdits(outcome, new DeleteRecipient("<carol@example.com>"), new DeleteRecipient("<BOB@example.com>"));
        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }), "compared exactly, as Postfix compares them");
    }

    [Test]
    public void changesender_changes_the_envelope_sender_and_its_arguments()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; changesender \"<bounces@example.org>\" \"RET=HDRS\";");

        AssertEdits(outcome, new ChangeSender("<bounces@example.org>", ["RET=HDRS"]));
        Assert.That((outcome.Envelope.MailFrom, outcome.Envelope.MailParameters), Is.EqualTo(("bounces@example.org", new[] { "RET=HDRS" })));
    }

    [Test]
    public void replacebody_replaces_the_body_with_the_base64_bytes()
    {
        var body = new byte[] { (byte)'N', (byte)'e', (byte)'w', 0xFF, 0x00, (byte)'\r', (byte)'\n' };

        var outcome = Run($"require \"vnd.spamfiltermilter\"; replacebody \"{Convert.ToBase64String(body)}\";");

        AssertEdits(outcome, new ReplaceBody(body));
        Assert.That(outcome.Message.AsSpan(outcome.Message.Length - body.Length).ToArray(), Is.EqualTo(body));
        Assert.That(Assert.Throws<SieveException>(() => Run("require \"vnd.spamfiltermilter\"; replacebody \"not base64!\";"))!.Problem,
            Is.EqualTo("replacebody needs the new body in base64"));
    }

    [Test]
    public void rejectrecipient_refuses_one_recipient_with_its_reply_and_keeps_the_others()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; rejectrecipient \"carol@example.com\" \"550 5.1.1 No such user here\";");

        Assert.That(outcome.Disposition, Is.EqualTo(SieveDisposition.Deliver));
        Assert.That(outcome.RefusedRecipients, Is.EqualTo(new[] { new RefusedRecipient("carol@example.com", new SmtpReply(550, "5.1.1", "No such user here")) }));
        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
    }

    [Test]
    public void rejectrecipient_of_an_address_not_in_the_envelope_is_ignored()
    {
        var outcome = Run("require \"vnd.spamfiltermilter\"; rejectrecipient \"stranger@example.com\" \"550 5.1.1 No such user here\";");

        Assert.That(outcome.RefusedRecipients, Is.Empty);
        Assert.That(outcome.Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com", "<carol@example.com>" }));
        Assert.That(outcome.Actions.Single(), Does.EndWith("not a recipient, ignored"));
    }

    [Test]
    public void Each_action_taken_is_listed_for_the_log()
    {
        var outcome = Run("require [\"fileinto\", \"editheader\"]; addheader :last \"X-A\" \"1\"; fileinto \"Junk\";");

        Assert.That(outcome.Actions, Is.EqualTo(new[] { "addheader :last \"X-A\" \"1\"", "fileinto \"Junk\"" }));
    }
}
