using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// A milter that answers a command twice (or answers one that takes no reply) would pair every later
/// reply with the wrong command. When the extra reply is already buffered it is refused.
/// Whole-read delivery only: with one-byte reads the extra reply is still in the socket.
/// </summary>
public class StrayReplyTests
{
    [Test]
    public async Task A_second_answer_is_refused_rather_than_paired_with_the_next_command()
    {
        await using var pair = await SessionPair.StartAsync();
        await using var session = pair.CreateSession();
        await pair.OpenAsync(session);

        var mail = SessionPair.Run(() => session.MailAsync("a@b", null));
        await pair.Milter.ExpectAsync('M');
        await pair.Milter.SendAsync(Raw.Concat(Raw.Packet('c'), Raw.Packet('c'))); // one write: one read

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => mail)!;
        Assert.That((error.Stage, error.Step), Is.EqualTo((FilterStage.Mail, "SMFIC_MAIL reply")), "caught at the answer it follows, not one command later");
        Assert.That(error.Cause, Is.EqualTo("the milter sent 5 more bytes after its answer (a second answer, or garbage)"));
    }
}
