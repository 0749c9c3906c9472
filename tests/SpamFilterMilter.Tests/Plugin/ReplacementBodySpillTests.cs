using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Testing;
using SpamFilterMilter.Tests.Support;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// A replacement body past 1 MiB goes to a file in BODY_SPILL_DIRECTORY as its packets arrive, and comes back whole
/// in the verdict, written <c>replacebody :verdict;</c>; a body no verdict carries (the message refused, the
/// connection lost) leaves no file behind; a spill folder that fails is a failure of the message, not an exception.
/// In both I/O modes.
/// </summary>
[TestFixture("async")]
[TestFixture("blocking")]
public class ReplacementBodySpillTests(string io) : TempFolderTest
{
    /// <summary>1.5 MiB of CRLF lines: past the 1 MiB kept in memory.</summary>
    private static readonly byte[] LargeBody = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 100_000).Select(i => $"line {i:D9}\r\n")))[..(1536 * 1024)];

    private string Spill => Directory.CreateDirectory(Path.Combine(Folder.Path, "spill")).FullName;

    private static MessageSubmission Message() => new()
    {
        Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25),
        MailFrom = "alice@example.org",
        Recipients = [new EnvelopeRecipient("bob@example.com")],
        Message = new MemoryStream("Subject: hello\r\n\r\nThe original body.\r\n"u8.ToArray()),
    };

    /// <summary>The body as libmilter sends it: SMFIR_REPLBODY packets of at most 65,535 bytes.</summary>
    private static byte[][] BodyPackets(byte[] body) =>
        body.Chunk(65_535).Select(piece => Raw.Packet('b', piece)).ToArray();

    private async Task<FilterVerdict> FilterAsync(Func<ReceivedPacket, byte[][]?> answer, string spill, bool closeAfterBody = false)
    {
        using var listener = new ScriptedMilterListener();
        var milter = closeAfterBody ? ClosingAfterBodyAsync(listener) : MilterScripts.RunAsync(listener, answer);
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\nBODY_SPILL_DIRECTORY={spill}\n"));
        var verdict = await plugin.FilterMessageAsync(Message());
        await milter;
        return verdict;
    }

    /// <summary>A milter that sends the large body at the end of the message, then hangs up without a decision.</summary>
    private static Task ClosingAfterBodyAsync(ScriptedMilterListener listener) => Task.Run(async () =>
    {
        await using var milter = await listener.AcceptAsync();
        await milter.ExpectAsync('O');
        await milter.SendAsync(Raw.OptNeg(6, 0x1FF, 0));
        for (var packet = await milter.ReadAsync(); packet.Code != 'E'; packet = await milter.ReadAsync())
        {
            if (packet.Code != 'D') // macros take no answer; every other command before the end, CONTINUE
            {
                await milter.SendAsync(Raw.Packet('c'));
            }
        }

        await milter.SendAsync(BodyPackets(LargeBody));
        milter.Close();
    });

    private static byte[][]? AtEndOfMessage(ReceivedPacket packet, params byte[][] packets) => packet.Code == 'E' ? packets : null;

    [Test]
    public async Task A_body_over_1_MiB_is_kept_in_a_file_and_reaches_the_verdict_whole()
    {
        var spill = Spill;

        var verdict = await FilterAsync(p => AtEndOfMessage(p, [.. BodyPackets(LargeBody), Raw.Packet('c')]), spill);

        var body = verdict.Edits.OfType<ReplaceBody>().Single().Body;
        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        Assert.That((body.IsInMemory, body.Length), Is.EqualTo((false, (long)LargeBody.Length)));
        Assert.That(body.ToArray(), Is.EqualTo(LargeBody));
        Assert.That(SpillFiles.Open(spill), Has.Count.EqualTo(1), "the body's file, in BODY_SPILL_DIRECTORY");
        Assert.That(verdict.Text, Is.EqualTo("require \"vnd.spamfiltermilter\";\nreplacebody :verdict;"), "no copy of the body in the action string");

        verdict.DisposeBodies();

        Assert.That(SpillFiles.Open(spill), Is.Empty);
    }

    [Test]
    public async Task A_spill_folder_that_fails_gives_the_failure_verdict()
    {
        var spill = Spill;
        using var listener = new ScriptedMilterListener();
        var milter = MilterScripts.RunAsync(listener, p => AtEndOfMessage(p, [.. BodyPackets(LargeBody), Raw.Packet('c')]));
        await using var plugin = TestPlugins.Create(Folder, TestPlugins.Loopback(listener.Port, $"IO_MODE={io}\nBODY_SPILL_DIRECTORY={spill}\n"));
        Directory.Delete(spill); // the folder goes away after the plug-in started (an unmounted disk, a cleaner)

        var verdict = await plugin.FilterMessageAsync(Message());
        await milter;

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That(verdict.Failure!.Stage, Is.EqualTo(FilterStage.EndOfMessage));
        Assert.That(verdict.Failure.Cause, Does.StartWith($"SMFIC_BODYEOB reply: can't keep the replacement body in {spill}: "));
        Assert.That(verdict.Action, Is.EqualTo(FilterAction.TempFail), "the configured failure action");
    }

    [TestCase('r', FilterAction.Reject)]
    [TestCase('d', FilterAction.Discard)]
    public async Task A_body_the_verdict_does_not_carry_leaves_no_file(char decision, FilterAction action)
    {
        var spill = Spill;

        var verdict = await FilterAsync(p => AtEndOfMessage(p, [.. BodyPackets(LargeBody), Raw.Packet(decision)]), spill);

        Assert.That((verdict.Action, verdict.Edits.Count), Is.EqualTo((action, 0)));
        Assert.That(SpillFiles.Open(spill), Is.Empty, "the refused message's body was discarded with its file");
    }

    [Test]
    public async Task A_body_cut_short_by_a_lost_connection_leaves_no_file()
    {
        var spill = Spill;

        var verdict = await FilterAsync(_ => null, spill, closeAfterBody: true);

        Assert.That((verdict.Kind, verdict.Failure?.Stage), Is.EqualTo((VerdictKind.Failure, (FilterStage?)FilterStage.EndOfMessage)));
        Assert.That(verdict.Edits, Is.Empty);
        Assert.That(SpillFiles.Open(spill), Is.Empty);
    }
}
