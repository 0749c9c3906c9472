using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Codec;

/// <summary>SMFIC_OPTNEG: what the session offers, and how it judges the milter's answer.</summary>
public class NegotiationTests(int delivery, bool blocking) : ScriptedSessionTest(delivery, blocking)
{
    /// <summary>Starts the negotiation, reads the offer and answers it with <paramref name="reply"/>: the offer and the negotiation under way.</summary>
    private async Task<(ReceivedPacket Offer, Task<NegotiatedOptions> Negotiation)> AnswerOfferAsync(byte[] reply)
    {
        var negotiation = SessionPair.Run(() => Session.NegotiateAsync());
        var offer = await Milter.ExpectAsync('O');
        await Milter.SendAsync(reply);
        return (offer, negotiation);
    }

    [Test]
    public async Task The_offer_is_version_6_with_every_action_and_every_step()
    {
        var (offer, negotiation) = await AnswerOfferAsync(Raw.OptNeg(6, 0, 0));
        await negotiation;

        Assert.That(Raw.Packet(offer.Code, offer.Payload),
            Is.EqualTo(new byte[] { 0x00, 0x00, 0x00, 0x0D, 0x4F, 0, 0, 0, 6, 0, 0, 0x01, 0xFF, 0x00, 0x1F, 0xFF, 0xFF }));
    }

    [TestCase(2u, 0x100u | 0x200u)] // NOUNKNOWN | NODATA forced
    [TestCase(3u, 0x200u)]          // NODATA forced
    [TestCase(4u, 0u)]
    [TestCase(5u, 0u)]
    [TestCase(6u, 0u)]
    public async Task An_older_milter_is_accepted_and_the_events_its_version_lacks_are_masked(uint version, uint forced)
    {
        var options = await NegotiateAsync(Raw.OptNeg(version, 0x3F, 0));

        Assert.That(options.Version, Is.EqualTo(version));
        Assert.That((uint)options.Protocol, Is.EqualTo(forced));
    }

    [TestCase(1u)]
    [TestCase(7u)]
    [TestCase(0x01000001u)]
    public async Task A_version_outside_2_to_6_is_a_negotiation_failure(uint version)
    {
        var (_, negotiation) = await AnswerOfferAsync(Raw.OptNeg(version, 0, 0));

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => negotiation)!;

        Assert.That(error.Kind, Is.EqualTo(MilterFailureKind.Negotiation));
        Assert.That(error.Cause, Does.Contain($"protocol version {version}; versions 2 to 6 are supported"));
        Assert.That(await Milter.SessionClosedAsync(TimeSpan.FromSeconds(2)), Is.True, "a failed negotiation drops the connection");
    }

    [TestCase(0x200u, 0u, "actions we did not offer: bit9")]
    [TestCase(0u, 0x00200000u, "protocol steps we did not offer: bit21")]
    [TestCase(0u, 0x80000000u, "protocol steps we did not offer: bit31")]
    public async Task Asking_for_more_than_was_offered_is_a_negotiation_failure(uint actions, uint protocol, string cause)
    {
        var (_, negotiation) = await AnswerOfferAsync(Raw.OptNeg(6, actions, protocol));

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => negotiation)!;

        Assert.That(error.Cause, Does.Contain(cause));
    }

    [TestCase(0x10000000u, 262143)]
    [TestCase(0x20000000u, 1048575)]
    public async Task An_accepted_MDS_offer_raises_the_packet_size_both_ways(uint bit, int size)
    {
        UseSession(Pair.Settings with { OfferedProtocol = Negotiation.OfferedProtocol | (ProtocolFlags)bit });
        var (offer, negotiation) = await AnswerOfferAsync(Raw.OptNeg(6, 0x1FF, bit | 0x400)); // libmilter echoes the bit it took

        var options = await negotiation;

        Assert.That(Raw.Packet(offer.Code, offer.Payload)[13..17], Is.EqualTo(Raw.UInt32(0x1FFFFF | bit)));
        Assert.That((options.MaxPayload, (uint)options.Protocol), Is.EqualTo((size, 0x400u)));
    }

    [Test]
    public async Task Echoed_MDS_bits_that_were_not_offered_are_masked_not_refused()
    {
        var options = await NegotiateAsync(Raw.OptNeg(6, 0, 0x10000000 | 0x20000000 | 0x80));

        Assert.That((uint)options.Protocol, Is.EqualTo(0x80u));
        Assert.That(options.MaxPayload, Is.EqualTo(65535), "MDS was not offered, so the limit stays 64 KiB - 1");
    }

    [Test]
    public async Task Macro_lists_are_honoured_per_stage_with_names_in_canonical_form()
    {
        var options = await NegotiateAsync(
            Raw.OptNeg(6, 0x100, 0, (0, "j {client_addr}"), (2, "{i} mail_addr"), (5, ""), (4, " ")));

        Assert.Multiple(() =>
        {
            Assert.That(options.MacroLists[0], Is.EqualTo(new[] { "j", "{client_addr}" }));
            Assert.That(options.MacroLists[2], Is.EqualTo(new[] { "i", "{mail_addr}" }));
            Assert.That(options.MacroLists[5], Is.Null, "an empty list is no list: our default applies (Postfix, milter.c MILTER_MACRO_EVAL)");
            Assert.That(options.MacroLists[4], Is.Empty, "a list of spaces names no macro: none are sent for that stage");
            Assert.That(options.MacroLists[1], Is.Null, "no list: our default applies");
            Assert.That(options.Warnings, Is.Empty);
        });
    }

    [TestCase(9u, "macro list for unknown stage 9 ignored")]
    public async Task A_macro_list_for_an_unknown_stage_is_only_a_warning(uint stage, string warning)
    {
        var options = await NegotiateAsync(Raw.OptNeg(6, 0x100, 0, (stage, "j")));

        Assert.That(options.Warnings, Has.Some.Contains(warning));
    }

    [Test]
    public async Task A_truncated_macro_list_is_only_a_warning()
    {
        var reply = Raw.Packet('O', Raw.UInt32(6), Raw.UInt32(0x100), Raw.UInt32(0), Raw.UInt32(1), "{cipher"u8.ToArray());

        var options = await NegotiateAsync(reply);

        Assert.That(options.Warnings, Has.Some.Contains("malformed macro list ignored"));
        Assert.That(options.MacroLists.All(l => l is null), Is.True);
    }

    [Test]
    public async Task Macro_lists_without_SETSYMLIST_are_honoured_with_a_warning()
    {
        var options = await NegotiateAsync(Raw.OptNeg(6, 0, 0, (3, "{rcpt_addr}")));

        Assert.That(options.MacroLists[3], Is.EqualTo(new[] { "{rcpt_addr}" }));
        Assert.That(options.Warnings, Has.Some.Contains("without asking for SMFIF_SETSYMLIST"));
    }

    [Test]
    public async Task A_reply_other_than_OPTNEG_is_a_negotiation_failure()
    {
        var (_, negotiation) = await AnswerOfferAsync(Raw.Packet('c'));

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => negotiation)!;

        Assert.That(error.Cause, Does.Contain("answered with SMFIR_CONTINUE instead of SMFIC_OPTNEG"));
    }

    [Test]
    public async Task A_short_OPTNEG_reply_is_malformed()
    {
        var (_, negotiation) = await AnswerOfferAsync(Raw.Packet('O', Raw.UInt32(6), Raw.UInt32(0)));

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => negotiation)!;

        Assert.That((error.Kind, error.Cause), Is.EqualTo((MilterFailureKind.Malformed, "SMFIC_OPTNEG: protocol: needs 4 bytes, 0 left")));
    }

    [Test]
    public async Task Hanging_up_during_negotiation_is_reported_as_a_refused_offer()
    {
        var negotiation = SessionPair.Run(() => Session.NegotiateAsync());
        await Milter.ExpectAsync('O');
        Milter.Close();

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => negotiation)!;

        Assert.That(error.Kind, Is.EqualTo(MilterFailureKind.Negotiation));
        Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Connect, "SMFIC_OPTNEG reply")));
        Assert.That(error.Cause, Does.Contain("a milter that cannot accept what we offer hangs up during negotiation"));
    }
}
