using SpamFilterMilter.Protocol;
using SpamFilterMilter.Tests.Support;

namespace SpamFilterMilter.Tests.Protocol;

/// <summary>
/// A milter that answers a command twice (or answers one that takes no reply) would pair every later
/// reply with the wrong command. When the extra reply is already buffered it is refused.
/// Whole-read delivery only: with one-byte reads the extra reply is still in the socket.
/// </summary>
public class StrayReplyTests
{
    [Test]
    public async Task Bytes_nobody_asked_for_are_refused_rather_than_paired_with_the_wrong_command()
    {
        await using var milter = await ScriptedMilter.StartAsync();
        await using var session = milter.CreateSession();
        await milter.OpenAsync(session);

        var first = ScriptedMilter.Run(() => session.MailAsync("a@b", null));
        await milter.ExpectAsync('M');
        await milter.SendAsync(Wire.Concat(Wire.Packet('c'), Wire.Packet('c'))); // one write: one read
        await first;
        var rcpt = ScriptedMilter.Run(() => session.RcptAsync("c@d", null));

        var error = Assert.ThrowsAsync<MilterProtocolException>(() => rcpt)!;
        Assert.That(error.Cause, Is.EqualTo("the milter sent 5 bytes nobody asked for (a reply to a command that takes none?)"));
    }
}
