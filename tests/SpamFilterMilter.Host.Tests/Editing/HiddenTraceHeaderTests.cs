using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// The MTA's own trace header, put on top before filtering and not shown to the milter, counted as Postfix counts its
/// own Received: header (cleanup_milter.c; the lab's captures 10 to 13): InsertHeader indexes count it, ChangeHeader
/// indexes skip it.
/// </summary>
public class HiddenTraceHeaderTests
{
    private const string Ours = "Received: from client.example (unknown [127.0.0.1])\r\n\tby postfix-lab.example (Postfix) with ESMTP id A66BDB280A3\r\n\tfor <b@example.net>; Sat,  5 Dec 2026 01:24:11 +0000 (UTC)\r\n";

    private const string Message = Ours + "Received: from earlier.example by client.example\r\nSubject: ins1 only\r\nX-Lab-Actions: ins1\r\n\r\nbody\r\n";

    private static readonly HeaderField Hidden = MessageEditor.ReadFields(Encoding.ASCII.GetBytes(Message))[0];

    private static string Apply(HeaderField? hidden, params MessageEdit[] edits) =>
        Encoding.ASCII.GetString(MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), edits, hidden));

    [Test]
    public void An_insert_at_index_1_goes_right_below_the_hidden_header_as_in_capture_12()
    {
        Assert.That(Apply(Hidden, new InsertHeader(1, "X-Lab-Ins1", " inserted at index 1")),
            Is.EqualTo(Ours + "X-Lab-Ins1: inserted at index 1\r\n" + Message[Ours.Length..]));
    }

    [Test]
    public void Inserts_at_index_0_then_1_go_above_the_hidden_header_as_in_capture_10()
    {
        Assert.That(Apply(Hidden, new InsertHeader(0, "X-Lab-Ins0", " inserted at index 0"), new InsertHeader(1, "X-Lab-Ins1", " inserted at index 1")),
            Is.EqualTo("X-Lab-Ins0: inserted at index 0\r\nX-Lab-Ins1: inserted at index 1\r\n" + Message));
    }

    [Test]
    public void A_change_or_deletion_of_Received_1_is_of_the_first_one_the_milter_saw()
    {
        var changed = Apply(Hidden, new ChangeHeader(1, "Received", " changed"));
        var deleted = Apply(Hidden, new ChangeHeader(0, "Received", null), new ChangeHeader(1, "Received", null));

        Assert.That(changed, Is.EqualTo(Message.Replace("Received: from earlier.example by client.example\r\n", "Received: changed\r\n", StringComparison.Ordinal)));
        Assert.That(deleted, Is.EqualTo(Message.Replace("Received: from earlier.example by client.example\r\n", "", StringComparison.Ordinal)),
            "the second deletion finds no Received: but ours, which it may not touch");
    }

    [Test]
    public void Without_a_hidden_header_every_field_counts_for_both()
    {
        Assert.That(Apply(null, new ChangeHeader(1, "Received", null)), Is.EqualTo(Message[Ours.Length..]));
    }

    [Test]
    public void The_hidden_header_is_found_by_its_bytes_even_after_an_insert_moved_it_down()
    {
        // A second slot (or milter) gets the message the first one edited: the header is no longer on top.
        var first = MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), [new InsertHeader(0, "Authentication-Results", " x")], Hidden);

        var second = MessageEditor.Apply(first, [new ChangeHeader(1, "Received", " changed")], Hidden);

        Assert.That(Encoding.ASCII.GetString(second), Is.EqualTo("Authentication-Results: x\r\n" + Message.Replace("Received: from earlier.example by client.example\r\n", "Received: changed\r\n", StringComparison.Ordinal)));
    }

    [Test]
    public void A_Sieve_action_counts_it_the_same_way()
    {
        var script = SieveScript.Parse("require [\"editheader\", \"vnd.spamfiltermilter\"];\ninsertheader :index 1 \"X-Below\" \"b\";\ndeleteheader \"Received\";\nreplaceheader :index 1 \"Received\" \"new\";");

        var outcome = script.Run(Encoding.ASCII.GetBytes(Message), new Envelope("a@example.com", null, [new EnvelopeRecipient("b@example.net")]), verdictBody: null, Hidden);

        Assert.That(Encoding.ASCII.GetString(outcome.Message), Is.EqualTo(Ours + "X-Below: b\r\nSubject: ins1 only\r\nX-Lab-Actions: ins1\r\nReceived: new\r\n\r\nbody\r\n"),
            "deleteheader deletes every Received: the milter could see, and replaceheader then adds one (none left to replace)");
    }
}
