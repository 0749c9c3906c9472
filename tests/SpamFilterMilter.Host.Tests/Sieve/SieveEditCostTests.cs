using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Sieve;

/// <summary>
/// Many edits on a large message cost one parse and one copy of it, not one per edit: measured in bytes
/// allocated by this thread (deterministic), never in time.
/// </summary>
public class SieveEditCostTests
{
    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]);

    [Test]
    public void A_thousand_header_edits_on_an_8_MB_message_allocate_less_than_three_times_its_size()
    {
        var line = Encoding.ASCII.GetBytes(new string('x', 998) + "\r\n");
        var message = new byte[8 << 20];
        var header = "From: alice@example.org\r\nSubject: hello\r\n\r\n"u8;
        header.CopyTo(message);
        for (var at = header.Length; at < message.Length; at += line.Length)
        {
            line.AsSpan(0, Math.Min(line.Length, message.Length - at)).CopyTo(message.AsSpan(at));
        }

        var commands = Enumerable.Range(0, 1000).Select(i => (i % 4) switch
        {
            0 => $"addheader :last \"X-Add\" \"{i}\";",
            1 => $"addheader \"X-Top\" \"{i}\";",
            2 => $"insertheader :index 2 :raw \"X-Mid\" \"{i}\";",
            _ => $"replaceheader :index 1 \"Subject\" \"edit {i}\";",
        });
        var script = SieveScript.Parse("require [\"editheader\", \"vnd.spamfiltermilter\"];\n" + string.Join('\n', commands) + "\ndeleteheader :index 1 \"X-Top\";");
        script.Run(message, Envelope); // once first, so that the JIT's own allocations are not counted

        var before = GC.GetAllocatedBytesForCurrentThread();
        var outcome = script.Run(message, Envelope);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.LessThan(3L * message.Length), $"{allocated} bytes allocated for a {message.Length}-byte message");
        Assert.That(outcome.Edits, Has.Count.EqualTo(1001));
        var expected = MessageEditor.Apply(message, Envelope, outcome.Edits).Message;
        Assert.That(outcome.Message.AsSpan().SequenceEqual(expected), Is.True, "the same bytes as the editor applying every edit");
        Assert.That(outcome.Message.AsSpan(outcome.Message.Length - (message.Length - header.Length)).SequenceEqual(message.AsSpan(header.Length)), Is.True, "the body is intact");
    }
}
