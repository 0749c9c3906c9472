using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Codec;

/// <summary><see cref="EditCollector"/> on its own: the order of one answer's edits and the MAX_EDITS and MAX_REPLACEMENT_BODY limits.</summary>
public class EditCollectorTests
{
    private static readonly AddHeader Header = new("X-A", " 1");

    private static MilterProtocolException LimitExceeded(TestDelegate add)
    {
        var error = Assert.Throws<MilterProtocolException>(add)!;
        Assert.That((error.Kind, error.Stage, error.Step), Is.EqualTo((MilterFailureKind.LimitExceeded, FilterStage.EndOfMessage, "SMFIC_BODYEOB reply")));
        return error;
    }

    [Test]
    public void Edits_come_out_in_the_order_sent_with_the_body_at_the_place_of_its_first_piece()
    {
        var edits = new EditCollector(maxEdits: 10, maxReplacementBodyBytes: 100);

        edits.Add(Header);
        edits.AddBody("first "u8);
        edits.AddBody("second"u8);
        edits.Add(new DeleteRecipient("<a@b>"));

        var built = edits.Build();
        Assert.That(built, Has.Count.EqualTo(3));
        Assert.That((built[0], built[2]), Is.EqualTo(((MessageEdit)Header, (MessageEdit)new DeleteRecipient("<a@b>"))));
        Assert.That(((ReplaceBody)built[1]).Body.ToArray(), Is.EqualTo("first second"u8.ToArray()), "the pieces of the body, joined");
    }

    [Test]
    public void A_body_piece_after_another_edit_followed_the_body_is_refused_as_Postfix_refuses_it()
    {
        var edits = new EditCollector(maxEdits: 10, maxReplacementBodyBytes: 100);
        edits.AddBody("first "u8);
        edits.Add(Header);

        var error = Assert.Throws<MilterProtocolException>(() => edits.AddBody("second"u8))!;

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Unexpected,
            "SMFIR_REPLBODY after another edit had followed the replacement body: a body's packets must come together")));
    }

    [Test]
    public void No_edits_build_an_empty_list()
    {
        Assert.That(new EditCollector(10, 100).Build(), Is.Empty);
    }

    [Test]
    public void Exactly_MAX_EDITS_are_taken_and_one_more_exceeds_the_limit()
    {
        var edits = new EditCollector(maxEdits: 3, maxReplacementBodyBytes: 100);
        edits.Add(Header);
        edits.Add(Header);
        edits.AddBody("body"u8);

        var error = LimitExceeded(() => edits.Add(Header));

        Assert.That(error.Cause, Is.EqualTo("more than 3 modifications to one message"));
        Assert.That(edits.Build(), Has.Count.EqualTo(3));
    }

    [Test]
    public void The_pieces_of_one_replacement_body_count_as_one_edit()
    {
        var edits = new EditCollector(maxEdits: 2, maxReplacementBodyBytes: 1000);
        edits.Add(Header);
        edits.AddBody("a"u8);

        for (var i = 0; i < 100; i++)
        {
            edits.AddBody("b"u8); // more of the body begun: no new edit
        }

        Assert.That(LimitExceeded(() => edits.Add(Header)).Cause, Is.EqualTo("more than 2 modifications to one message"), "but the body did count once");
    }

    [Test]
    public void A_body_begun_when_MAX_EDITS_is_reached_exceeds_the_limit()
    {
        var edits = new EditCollector(maxEdits: 1, maxReplacementBodyBytes: 1000);
        edits.Add(Header);

        Assert.That(LimitExceeded(() => edits.AddBody("a"u8)).Cause, Is.EqualTo("more than 1 modifications to one message"));
    }

    [Test]
    public void A_replacement_body_of_exactly_MAX_REPLACEMENT_BODY_is_taken_and_one_byte_more_exceeds_it()
    {
        var edits = new EditCollector(maxEdits: 10, maxReplacementBodyBytes: 10);
        edits.AddBody("123456"u8);
        edits.AddBody("7890"u8);

        var error = LimitExceeded(() => edits.AddBody("!"u8));

        Assert.That(error.Cause, Is.EqualTo("the replacement body is larger than the 10 bytes allowed"));
        Assert.That(((ReplaceBody)edits.Build().Single()).Body.ToArray(), Is.EqualTo("1234567890"u8.ToArray()));
    }

    [Test]
    public void One_piece_larger_than_MAX_REPLACEMENT_BODY_exceeds_it()
    {
        var edits = new EditCollector(maxEdits: 10, maxReplacementBodyBytes: 10);

        Assert.That(LimitExceeded(() => edits.AddBody(new byte[11])).Cause, Is.EqualTo("the replacement body is larger than the 10 bytes allowed"));
    }

    [Test]
    public void Reset_starts_a_new_answer_and_leaves_the_edits_handed_out_before_as_they_were()
    {
        var edits = new EditCollector(maxEdits: 2, maxReplacementBodyBytes: 100);
        edits.Add(Header);
        edits.AddBody("old"u8);
        var first = edits.Build();

        edits.Reset();
        edits.AddBody("new"u8);
        edits.Add(new DeleteRecipient("<a@b>"));
        var second = edits.Build();

        Assert.That(first, Has.Count.EqualTo(2));
        Assert.That(((ReplaceBody)first[1]).Body.ToArray(), Is.EqualTo("old"u8.ToArray()));
        Assert.That(((ReplaceBody)second[0]).Body.ToArray(), Is.EqualTo("new"u8.ToArray()), "the count and the body start again");
        Assert.That(second[1], Is.EqualTo(new DeleteRecipient("<a@b>")));
    }
}
