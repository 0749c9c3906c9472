using SpamFilterMilter.Protocol.Codec;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// The commands a session sends across transactions are Postfix's (smtpd.c helo_reset and mail_reset, milter8.c
/// milter8_abort; the Postfix lab's captures show "EOB, reply, A, A, Q"): SMFIC_ABORT after a refused MAIL, after RSET
/// only in a transaction, after every finished transaction, a second HELO before its ABORT, no DATA for a transaction
/// without recipients; and nothing in front of SMFIC_QUIT_NC, which libmilter would ignore after an ABORT.
/// </summary>
public class MilterSessionSequencingTests(int delivery, bool blocking) : ScriptedSessionTest(delivery, blocking)
{
    /// <summary>Makes <paramref name="call"/> and reads what it sends (macros left out) up to and including <paramref name="last"/>, answered with CONTINUE.</summary>
    private async Task<string> SendsAsync<T>(Func<ValueTask<T>> call, char last)
    {
        var running = SessionPair.Run(call);
        var seen = new StringBuilder();
        while (true)
        {
            var (packet, _) = await Milter.ReadSkippingMacrosAsync();
            seen.Append(packet.Code);
            if (packet.Code == last)
            {
                break;
            }
        }

        await Milter.SendAsync(Raw.Packet('c'));
        await running;
        return seen.ToString();
    }

    /// <summary>The end of headers and the end of the message, both answered with CONTINUE.</summary>
    private async Task FinishMessageAsync()
    {
        await ExchangeAsync(() => Session.EndOfHeadersAsync(), 'N');
        await ExchangeAsync(async () => (await Session.EndOfMessageAsync()).Response, 'E');
    }

    [Test]
    public async Task A_second_HELO_goes_out_before_its_ABORT_and_inside_a_transaction_before_two()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.HeloAsync("first.example.net"), 'H');
        await ExchangeAsync(() => Session.MailAsync("a@b", null), 'M');

        var second = await SendsAsync(() => Session.HeloAsync("second.example.net"), 'H');
        var next = await SendsAsync(() => Session.MailAsync("c@d", null), 'M');

        Assert.That((second, next), Is.EqualTo(("H", "AAM")), "HELO, then helo_reset's ABORT and mail_reset's");
    }

    [Test]
    public async Task A_second_HELO_after_a_message_brings_one_ABORT_of_its_own()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.HeloAsync("first.example.net"), 'H');
        await ReachHeadersAsync();
        await FinishMessageAsync();

        var second = await SendsAsync(() => Session.HeloAsync("second.example.net"), 'H');
        var next = await SendsAsync(() => Session.MailAsync("c@d", null), 'M');

        Assert.That((second, next), Is.EqualTo(("AH", "AM")), "the finished transaction's ABORT, the HELO, the HELO's ABORT");
    }

    [Test]
    public async Task A_refused_MAIL_is_reset_with_an_ABORT_in_front_of_the_next_command()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.MailAsync("spam@b", null), 'M', Raw.Packet('r'));

        var next = await SendsAsync(() => Session.MailAsync("c@d", null), 'M');

        Assert.That(next, Is.EqualTo("AM"));
    }

    [Test]
    public async Task A_MAIL_inside_an_open_transaction_ends_it_with_an_ABORT()
    {
        await OpenAsync();
        await ReachHeadersAsync();
        await ExchangeAsync(() => Session.HeaderAsync("Subject", " half"), 'L');

        var next = await SendsAsync(() => Session.MailAsync("c@d", null), 'M');

        Assert.That(next, Is.EqualTo("AM"));
    }

    [Test]
    public async Task RSET_outside_a_transaction_and_after_a_finished_one_adds_no_ABORT()
    {
        await OpenAsync();
        await Session.AbortAsync();
        var first = await SendsAsync(() => Session.MailAsync("a@b", null), 'M');
        await ExchangeAsync(() => Session.RcptAsync("c@d", null), 'R');
        await ExchangeAsync(() => Session.DataAsync(), 'T');
        await FinishMessageAsync();
        await Session.AbortAsync();
        await Session.AbortAsync();

        var next = await SendsAsync(() => Session.MailAsync("e@f", null), 'M');

        Assert.That((first, next), Is.EqualTo(("M", "AM")), "only the finished transaction's own ABORT");
    }

    [Test]
    public async Task DATA_for_a_transaction_without_an_accepted_recipient_is_not_sent_and_a_later_one_is()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.MailAsync("a@b", null), 'M');
        await ExchangeAsync(() => Session.RcptAsync("nobody@d", null), 'R', Raw.Packet('r'));

        var early = await Session.DataAsync();
        var rcpt = await SendsAsync(() => Session.RcptAsync("c@d", null), 'R');
        var data = await SendsAsync(() => Session.DataAsync(), 'T');

        Assert.That(early, Is.EqualTo(MilterResponse.Continue));
        Assert.That((rcpt, data), Is.EqualTo(("R", "T")), "nothing went out for the first DATA");
    }

    [Test]
    public async Task At_the_end_of_the_session_the_ABORTs_Postfix_sends_go_before_QUIT()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.HeloAsync("client.example.net"), 'H');
        await ReachHeadersAsync();
        await FinishMessageAsync();

        await Session.QuitAsync();
        var seen = new StringBuilder();
        for (var packet = await Milter.ReadAsync(); ; packet = await Milter.ReadAsync())
        {
            seen.Append(packet.Code);
            if (packet.Code == 'Q')
            {
                break;
            }
        }

        Assert.That(seen.ToString(), Is.EqualTo("AAQ"), "the transaction's reset, the HELO's, QUIT (Postfix lab: EOB, reply, A, A, Q)");
    }

    [Test]
    public async Task A_connection_parked_for_reuse_gets_QUIT_NC_with_no_ABORT_in_front()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.HeloAsync("client.example.net"), 'H');
        await ReachHeadersAsync();
        await FinishMessageAsync();

        var parked = await Session.QuitForReuseAsync();

        Assert.That(parked, Is.True);
        Assert.That((await Milter.ReadAsync()).Code, Is.EqualTo('K'));
    }

    [Test]
    public async Task An_UNKNOWN_answered_with_CONTINUE_lets_libmilter_take_QUIT_NC()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.HeloAsync("client.example.net"), 'H');
        await ExchangeAsync(() => Session.UnknownAsync("XFOO"), 'U');

        var parked = await Session.QuitForReuseAsync();

        Assert.That(parked, Is.True, "libmilter's UNKNOWN state takes QUIT_NC");
        Assert.That((await Milter.ReadAsync()).Code, Is.EqualTo('K'));
    }

    [Test]
    public async Task An_UNKNOWN_the_milter_asked_not_to_get_leaves_libmilter_where_it_was_and_the_connection_not_reusable()
    {
        await OpenAsync(protocol: 0x100); // SMFIP_NOUNKNOWN
        await ExchangeAsync(() => Session.HeloAsync("client.example.net"), 'H');

        var response = await Session.UnknownAsync("XFOO");
        var parked = await Session.QuitForReuseAsync();

        Assert.That(response, Is.EqualTo(MilterResponse.Continue));
        Assert.That(parked, Is.False, "nothing was sent: libmilter is still in its HELO state, which ignores QUIT_NC");
    }
}
