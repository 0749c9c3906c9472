using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Tests.Verdicts;

/// <summary>
/// A replaced body is written into the action string in base64 up to 64 KiB in memory
/// (<see cref="ActionStringDialect.MaxInlineBody"/>); a larger one, or one in a file, is <c>replacebody :verdict;</c>,
/// so that the action string never holds a copy of a large body.
/// </summary>
public class ActionStringBodyTests
{
    private static byte[] Body(int length) => Enumerable.Range(0, length).Select(i => (byte)i).ToArray();

    private static string? Text(MessageBody body) =>
        Support.Verdicts.Decided(FilterAction.Accept, null, [new ReplaceBody(body)], null, null).Text;

    [Test]
    public void A_body_of_64_KiB_in_memory_is_written_in_base64()
    {
        var body = Body(64 * 1024);

        Assert.That(Text(body), Is.EqualTo($"require \"vnd.spamfiltermilter\";\nreplacebody \"{Convert.ToBase64String(body)}\";"));
    }

    [Test]
    public void A_body_one_byte_over_64_KiB_is_the_verdict_s_own()
    {
        Assert.That(Text(Body((64 * 1024) + 1)), Is.EqualTo("require \"vnd.spamfiltermilter\";\nreplacebody :verdict;"));
    }

    [Test]
    public void A_small_body_in_a_file_is_the_verdict_s_own_too()
    {
        using var folder = new TempFolder();
        using var builder = new MessageBodyBuilder(memoryLimit: 0, folder.Path);
        builder.Write(Body(10));
        using var body = builder.Build();

        Assert.That(Text(body), Is.EqualTo("require \"vnd.spamfiltermilter\";\nreplacebody :verdict;"), "reading a file into the script would be the copy this avoids");
    }

    [Test]
    public void Other_edits_keep_their_place_around_a_body_written_as_verdict()
    {
        var verdict = Support.Verdicts.Decided(FilterAction.Accept, null,
            [new AddHeader("X-A", " 1"), new ReplaceBody(Body(100_000)), new AddHeader("X-B", " 2")], "held", null);

        Assert.That(verdict.Text, Is.EqualTo(string.Join('\n',
            "require [\"editheader\", \"vnd.spamfiltermilter\"];",
            "addheader :last \"X-A\" \"1\";",
            "replacebody :verdict;",
            "addheader :last \"X-B\" \"2\";",
            "quarantine \"held\";")));
    }
}
