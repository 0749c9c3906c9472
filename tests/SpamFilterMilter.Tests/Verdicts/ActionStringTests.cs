using SpamFilterMilter.Options;

namespace SpamFilterMilter.Tests.Verdicts;

/// <summary>One test per row of the action-string table (docs/action-string.md).</summary>
public class ActionStringTests
{
    private static FilterVerdict Map(FilterAction action, SmtpReply? reply = null, string? quarantine = null,
        IReadOnlyList<RecipientDecision>? recipients = null, params MessageEdit[] edits) =>
        Support.Verdicts.Decided(action, reply, edits, quarantine, recipients);

    [TestCase(FilterAction.Accept)]
    [TestCase(FilterAction.Continue)]
    public void Accepting_without_edits_is_the_default_verdict(FilterAction action)
    {
        var verdict = Map(action);

        Assert.That((verdict.Kind, verdict.Text, verdict.Action), Is.EqualTo((VerdictKind.Default, (string?)null, FilterAction.Accept)));
    }

    [Test]
    public void An_added_header_is_an_editheader_addheader_at_the_end()
    {
        var verdict = Map(FilterAction.Accept, edits: new AddHeader("X-Spam-Flag", " YES"));

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.String));
        Assert.That(verdict.Text, Is.EqualTo("require \"editheader\";\naddheader :last \"X-Spam-Flag\" \"YES\";"));
        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Spam-Flag", " YES") }));
    }

    [TestCase("nospace")]    // a milter with HDR_LEADSPC wrote "X-A:nospace"
    [TestCase("\tvalue")]
    [TestCase("  two spaces")]
    public void A_header_value_the_standard_form_cannot_say_exactly_travels_raw(string value)
    {
        var verdict = Map(FilterAction.Accept, edits: [new AddHeader("X-A", value), new InsertHeader(2, "X-B", value), new ChangeHeader(1, "X-C", value)]);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            $"addheader :last :raw \"X-A\" {ActionStringDialect.Quote(value)};",
            $"insertheader :index 2 :raw \"X-B\" {ActionStringDialect.Quote(value)};",
            $"replaceheader :index 1 :raw \"X-C\" {ActionStringDialect.Quote(value)};")));
    }

    [Test]
    public void An_empty_value_travels_raw_when_added_and_is_a_deletion_when_changed()
    {
        var verdict = Map(FilterAction.Accept, edits: [new AddHeader("X-A", ""), new InsertHeader(2, "X-B", ""), new ChangeHeader(1, "X-C", "")]);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last :raw \"X-A\" \"\";",
            "insertheader :index 2 :raw \"X-B\" \"\";",
            "deleteheader :index 1 \"X-C\";")));
    }

    [Test]
    public void A_header_value_that_is_not_UTF8_travels_in_base64_and_UTF8_stays_readable()
    {
        byte[] latin1 = [0x20, 0x63, 0x61, 0x66, 0xE9];   // " café" in Latin-1
        byte[] leadspc = [0xC3, 0x28, 0xFF];               // no space after the colon, broken UTF-8
        var verdict = Map(FilterAction.Accept, edits:
            [new AddHeader("X-A", new RawText(latin1)), new InsertHeader(0, "X-B", new RawText(latin1)), new InsertHeader(2, "X-C", new RawText(leadspc)),
             new ChangeHeader(1, "X-D", new RawText(latin1)), new AddHeader("X-E", " caf\u00e9")]);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last :base64 \"X-A\" \"Y2Fm6Q==\";",
            "addheader :base64 \"X-B\" \"Y2Fm6Q==\";",
            "insertheader :index 2 :raw :base64 \"X-C\" \"wyj/\";",
            "replaceheader :index 1 :base64 \"X-D\" \"Y2Fm6Q==\";",
            "addheader :last \"X-E\" \"caf\u00e9\";")));
    }

    [TestCase(" ", "\"\"")]
    [TestCase(" v", "\"v\"")]
    public void One_space_then_no_blank_is_the_standard_form(string value, string quoted)
    {
        Assert.That(Map(FilterAction.Accept, edits: new AddHeader("X-A", value)).Text, Is.EqualTo($"require \"editheader\";\naddheader :last \"X-A\" {quoted};"));
    }

    [Test]
    public void A_header_inserted_at_the_top_is_a_plain_addheader()
    {
        var verdict = Map(FilterAction.Accept, edits: new InsertHeader(0, "Received", " from x"));

        Assert.That(verdict.Text, Is.EqualTo("require \"editheader\";\naddheader \"Received\" \"from x\";"));
    }

    [Test]
    public void A_header_inserted_further_down_is_an_insertheader_with_its_index()
    {
        var verdict = Map(FilterAction.Accept, edits: new InsertHeader(3, "X-Mid", " m"));

        Assert.That(verdict.Text, Is.EqualTo("require \"vnd.spamfiltermilter\";\ninsertheader :index 3 \"X-Mid\" \"m\";"));
    }

    [Test]
    public void A_deleted_header_is_a_deleteheader_with_its_index()
    {
        var verdict = Map(FilterAction.Accept, edits: new ChangeHeader(2, "X-Old", null));

        Assert.That(verdict.Text, Is.EqualTo("require \"editheader\";\ndeleteheader :index 2 \"X-Old\";"));
    }

    [Test]
    public void A_changed_header_is_a_replaceheader_in_place()
    {
        var verdict = Map(FilterAction.Accept, edits: new ChangeHeader(1, "Subject", " [SPAM] \"quoted\" \\ back"));

        Assert.That(verdict.Text, Is.EqualTo("require \"vnd.spamfiltermilter\";\nreplaceheader :index 1 \"Subject\" \"[SPAM] \\\"quoted\\\" \\\\ back\";"));
    }

    [Test]
    public void A_folded_header_value_keeps_its_line_breaks()
    {
        var verdict = Map(FilterAction.Accept, edits: new AddHeader("DKIM-Signature", " v=1;\r\n\tb=abc"));

        Assert.That(verdict.Text, Is.EqualTo("require \"editheader\";\naddheader :last \"DKIM-Signature\" \"v=1;\r\n\tb=abc\";"));
    }

    [Test]
    public void A_reject_is_an_ereject_with_the_whole_SMTP_reply()
    {
        var verdict = Map(FilterAction.Reject, new SmtpReply(554, "5.7.1", "Virus found"), edits: new AddHeader("X-Ignored", " y"));

        Assert.That(verdict.Text, Is.EqualTo("require \"ereject\";\nereject \"554 5.7.1 Virus found\";"));
        Assert.That((verdict.Action, verdict.Reply!.Code, verdict.Edits.Count), Is.EqualTo((FilterAction.Reject, 554, 0)), "a refused message has no edits to apply");
    }

    [Test]
    public void A_reject_without_text_gets_Postfix_reply()
    {
        Assert.That(Map(FilterAction.Reject).Text, Does.EndWith("ereject \"550 5.7.1 Command rejected\";"));
    }

    [Test]
    public void A_tempfail_keeps_its_4xx_reply_in_a_tempfail_command()
    {
        var verdict = Map(FilterAction.TempFail, new SmtpReply(451, "4.7.1", "Try later"));

        Assert.That(verdict.Text, Is.EqualTo("require \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Try later\";"));
        Assert.That(verdict.Action, Is.EqualTo(FilterAction.TempFail));
    }

    [Test]
    public void A_multi_line_reply_keeps_its_lines()
    {
        var reply = new SmtpReply(550, "5.7.0", ["one", "two"]);

        Assert.That(Map(FilterAction.Reject, reply).Text, Does.EndWith("ereject \"550-5.7.0 one\r\n550 5.7.0 two\";"));
    }

    [Test]
    public void A_discard_is_a_discard()
    {
        var verdict = Map(FilterAction.Discard, edits: new AddHeader("X-Ignored", " y"));

        Assert.That((verdict.Text, verdict.Action), Is.EqualTo(("discard;", FilterAction.Discard)));
    }

    [Test]
    public void A_quarantine_comes_after_the_edits()
    {
        var verdict = Map(FilterAction.Accept, quarantine: "spam score 12", edits: new AddHeader("X-Spam", " yes"));

        Assert.That(verdict.Text, Is.EqualTo("require [\"editheader\", \"vnd.spamfiltermilter\"];\naddheader :last \"X-Spam\" \"yes\";\nquarantine \"spam score 12\";"));
        Assert.That(verdict.QuarantineReason, Is.EqualTo("spam score 12"));
    }

    [Test]
    public void Recipient_changes_reach_the_host_exactly()
    {
        var verdict = Map(FilterAction.Accept, edits:
        [
            new AddRecipient("<new@example.com>"),
            new AddRecipient("<par@example.com>", ["NOTIFY=NEVER"]),
            new DeleteRecipient("<old@example.com>"),
            new ChangeSender("<bounces@example.com>"),
            new ChangeSender("<b@example.com>", ["RET=HDRS", "ENVID=x"]),
        ]);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require \"vnd.spamfiltermilter\";",
            "addrecipient \"<new@example.com>\";",
            "addrecipient \"<par@example.com>\" [\"NOTIFY=NEVER\"];",
            "deleterecipient \"<old@example.com>\";",
            "changesender \"<bounces@example.com>\";",
            "changesender \"<b@example.com>\" [\"RET=HDRS\", \"ENVID=x\"];")));
    }

    [Test]
    public void A_replaced_body_travels_in_base64_so_no_byte_is_lost()
    {
        byte[] body = [0x00, 0xFF, (byte)'"', (byte)'\r', (byte)'\n'];

        var verdict = Map(FilterAction.Accept, edits: new ReplaceBody(body));

        Assert.That(verdict.Text, Is.EqualTo($"require \"vnd.spamfiltermilter\";\nreplacebody \"{Convert.ToBase64String(body)}\";"));
    }

    [Test]
    public void Recipients_refused_at_RCPT_are_rejectrecipient_lines_with_their_replies()
    {
        var verdict = Map(FilterAction.Accept, recipients:
        [
            new RecipientDecision("good@example.com", FilterAction.Continue, null),
            new RecipientDecision("nobody@example.com", FilterAction.Reject, new SmtpReply(550, "5.1.1", "No such user")),
            new RecipientDecision("full@example.com", FilterAction.TempFail, null),
        ]);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require \"vnd.spamfiltermilter\";",
            "rejectrecipient \"nobody@example.com\" \"550 5.1.1 No such user\";",
            "rejectrecipient \"full@example.com\" \"451 4.7.1 Service unavailable - try again later\";")));
    }

    [TestCase("TempFail", FilterAction.TempFail, "require \"vnd.spamfiltermilter\";\ntempfail \"451 4.7.1 Service unavailable - try again later\";")]
    [TestCase("Reject", FilterAction.Reject, "require \"ereject\";\nereject \"550 5.7.1 Service unavailable\";")]
    [TestCase("Accept", FilterAction.Accept, "keep;")]
    public void A_failure_is_its_own_verdict_kind_carrying_the_failure_action(string policy, FilterAction action, string script)
    {
        var failure = new FilterFailure("milter 127.0.0.1:8890", FilterStage.EndOfMessage, "SMFIC_BODYEOB reply: can't read packet header: the milter closed the connection");

        var verdict = Support.Verdicts.Failed(failure, Enum.Parse<FailureAction>(policy));

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Action, Is.EqualTo(action));
        Assert.That(verdict.Failure, Is.EqualTo(failure));
        Assert.That(verdict.Text, Is.EqualTo("# milter failure: milter 127.0.0.1:8890: eom: SMFIC_BODYEOB reply: can't read packet header: the milter closed the connection\n" + script));
    }

    [Test]
    public void A_failure_cause_cannot_break_out_of_its_comment()
    {
        var failure = new FilterFailure("milter m", FilterStage.Data, "evil\nrequire \"x\"; discard;");

        var verdict = Support.Verdicts.Failed(failure, FailureAction.Accept);

        Assert.That(verdict.Text!.Split('\n'), Is.EqualTo(new[] { "# milter failure: milter m: data: evil require \"x\"; discard;", "keep;" }));
    }
}
