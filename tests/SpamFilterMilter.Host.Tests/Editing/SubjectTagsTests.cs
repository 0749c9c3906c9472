using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>addtag: every slot's tags go in front of the Subject once all slots have run, RFC 2047 encoded when not ASCII.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class SubjectTagsTests : SlotHostTest
{
    [Test]
    public async Task Tags_of_every_slot_are_prefixed_to_the_Subject_once_all_slots_have_run()
    {
        var result = await FilterThroughAsync("addtag \"[SPAM]\";", "addtag \"[BULK]\";");

        Assert.That(Plugins.Calls[1].Message, Does.Contain("Subject: hello\r\n"), "slot 2 sees the Subject untagged");
        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo(Text.Replace("Subject: hello", "Subject: [SPAM] [BULK] hello", StringComparison.Ordinal)));
        Assert.That(result.Deliveries.Single().Tags, Is.EqualTo(new[] { "[SPAM]", "[BULK]" }));
    }

    [Test]
    public async Task A_tag_with_non_ASCII_characters_is_RFC_2047_encoded_and_the_Subject_keeps_its_own_bytes()
    {
        Plugins.Add("a", FakePlugins.Verdict("addtag \"[Pourriel détecté]\";"));
        byte[] latin1 = [.. "From: a@example.org\r\nSubject: caf"u8, 0xE9, .. "\r\n\r\nBody\r\n"u8];

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), new HostMessage { Message = latin1, Envelope = Message().Envelope, SourceChannel = "tcp_local" });

        var message = result.Deliveries.Single().Message;
        byte[] expected = [.. "From: a@example.org\r\nSubject: =?UTF-8?B?W1BvdXJyaWVsIGTDqXRlY3TDqV0=?= caf"u8, 0xE9, .. "\r\n\r\nBody\r\n"u8];
        Assert.That(message, Is.EqualTo(expected), "the tag in an encoded word, the old Subject byte for byte");
        Assert.That(message.Take(latin1.Length - 9).All(b => b < 0x80), Is.True, "nothing 8-bit added");
    }

    [Test]
    public async Task A_non_ASCII_tag_before_an_encoded_Subject_keeps_its_space_when_decoded()
    {
        var result = await FilterThroughAsync(Message("Subject: =?UTF-8?B?aGVsbG8=?=\r\n\r\nBody\r\n"), "addtag \"[é]\";");

        var subject = SpamFilterMilter.Host.Sieve.HeaderText.TestValue(MessageEditor.ReadFields(result.Deliveries.Single().Message).Single().Value);
        Assert.That(subject, Is.EqualTo("[é] hello"));
    }

    [Test]
    public async Task A_tag_on_a_message_without_a_Subject_adds_one()
    {
        var result = await FilterThroughAsync(Message("From: a@example.org\r\n\r\nBody\r\n"), "addtag \"[SPAM]\";");

        Assert.That(Body(result.Deliveries.Single()), Is.EqualTo("From: a@example.org\r\nSubject: [SPAM]\r\n\r\nBody\r\n"));
    }
}
