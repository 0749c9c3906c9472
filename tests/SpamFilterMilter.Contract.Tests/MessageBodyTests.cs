using System.Runtime.CompilerServices;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Testing;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>
/// A body in memory while small, in a file of its own past the builder's limit, read the same either way; equal by
/// content; its file private to this user, nameless on Unix, and gone once the body is disposed (or, as a net,
/// finalised) or the builder is discarded.
/// </summary>
public class MessageBodyTests : TempFolderTest
{
    private static readonly byte[] Text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 2000).Select(i => $"line {i}\r\n")));

    private string Spill => Directory.CreateDirectory(Path.Combine(Folder.Path, "spill")).FullName;

    private MessageBody Build(byte[] bytes, int memoryLimit, int piece = 1000)
    {
        using var builder = new MessageBodyBuilder(memoryLimit, Spill);
        for (var at = 0; at < bytes.Length; at += piece)
        {
            builder.Write(bytes.AsSpan(at, Math.Min(piece, bytes.Length - at)));
        }

        Assert.That(builder.Length, Is.EqualTo(bytes.Length));
        return builder.Build();
    }

    [Test]
    public void A_body_up_to_the_limit_stays_in_memory_and_is_handed_out_uncopied()
    {
        using var body = Build(Text, memoryLimit: Text.Length);

        Assert.That(body.IsInMemory, Is.True);
        Assert.That(body.TryGetMemory(out var memory), Is.True);
        Assert.That(memory.ToArray(), Is.EqualTo(Text));
        Assert.That(SpillFiles.Open(Spill), Is.Empty, "no file for a body in memory");
    }

    [Test]
    public void A_body_over_the_limit_lives_in_a_file_only_its_user_reads_and_the_file_is_gone_after_Dispose()
    {
        var body = Build(Text, memoryLimit: Text.Length - 1);

        var open = SpillFiles.Open(Spill);
        Assert.That(body.IsInMemory, Is.False);
        Assert.That(body.TryGetMemory(out _), Is.False);
        Assert.That(open, Has.Count.EqualTo(1), "one file per body");
        Assert.That(new FileInfo(open[0]).LinkTarget ?? open[0], Does.Contain("spamfiltermilter-body-"));
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(open[0]), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(Directory.GetFileSystemEntries(Spill), Is.Empty, "on Unix the file has no name: a process that dies leaves nothing behind");
        }

        Assert.That(body.ToArray(), Is.EqualTo(Text));
        body.Dispose();

        Assert.That(SpillFiles.Open(Spill), Is.Empty);
        Assert.That(Directory.GetFileSystemEntries(Spill), Is.Empty);
        Assert.Throws<ObjectDisposedException>(() => body.OpenRead());
        Assert.Throws<ObjectDisposedException>(() => body.ToArray());
        Assert.That(body.Length, Is.EqualTo(Text.Length), "the length is still known");
        body.Dispose(); // twice is harmless
    }

    [TestCase(int.MaxValue, TestName = "Every way of reading gives the same bytes, for a body in memory")]
    [TestCase(0, TestName = "Every way of reading gives the same bytes, for a body in a file")]
    public async Task Every_way_of_reading_gives_the_same_bytes(int memoryLimit)
    {
        using var body = Build(Text, memoryLimit);
        using var first = body.OpenRead();
        using var second = body.OpenRead();
        var fromFirst = new byte[Text.Length];
        var fromSecond = new MemoryStream();

        first.ReadExactly(fromFirst.AsSpan(0, 10)); // two streams, each with a position of its own
        await second.CopyToAsync(fromSecond);
        first.ReadExactly(fromFirst.AsSpan(10));
        var copied = new MemoryStream();
        body.CopyTo(copied);
        var copiedAsync = new MemoryStream();
        await body.CopyToAsync(copiedAsync);
        first.Seek(-6, SeekOrigin.End);

        Assert.That(fromFirst, Is.EqualTo(Text));
        Assert.That(fromSecond.ToArray(), Is.EqualTo(Text));
        Assert.That(copied.ToArray(), Is.EqualTo(Text));
        Assert.That(copiedAsync.ToArray(), Is.EqualTo(Text));
        Assert.That(body.ToArray(), Is.EqualTo(Text));
        Assert.That((first.CanRead, first.CanSeek, first.CanWrite, first.Length), Is.EqualTo((true, true, false, (long)Text.Length)));
        Assert.That(first.ReadByte(), Is.EqualTo('1'), "\"1999\\r\\n\" ends the body");
        Assert.Throws<NotSupportedException>(() => first.WriteByte(0));
    }

    [Test]
    public void Bodies_are_equal_when_their_bytes_are_wherever_they_are()
    {
        using var inFile = Build(Text, memoryLimit: 0);
        using var alsoInFile = Build(Text, memoryLimit: 0, piece: 333);
        var changed = (byte[])Text.Clone();
        changed[^3] ^= 1;
        using var changedInFile = Build(changed, memoryLimit: 0);

        MessageBody inMemory = Text.ToArray(); // the implicit conversion: new ReplaceBody(bytes) keeps compiling
        Assert.That(inFile, Is.EqualTo(inMemory));
        Assert.That(inMemory, Is.EqualTo(inFile));
        Assert.That(inFile, Is.EqualTo(alsoInFile));
        Assert.That(inFile.GetHashCode(), Is.EqualTo(inMemory.GetHashCode()));
        Assert.That(inFile == alsoInFile && inFile != changedInFile, Is.True);
        Assert.That(changedInFile, Is.Not.EqualTo(inFile));
        Assert.That(MessageBody.FromBytes(Text.AsMemory(1)), Is.Not.EqualTo(inMemory), "another length");
        Assert.That(new ReplaceBody(Text.ToArray()), Is.EqualTo(new ReplaceBody(inFile)), "edits compare their bodies' bytes");
        Assert.That(new ReplaceBody(Text.ToArray()), Is.Not.EqualTo(new ReplaceBody(changed)));
    }

    [Test]
    public void A_builder_discarded_before_Build_leaves_no_file()
    {
        var builder = new MessageBodyBuilder(memoryLimit: 10, Spill);
        builder.Write(Text);
        Assert.That((builder.IsSpilled, SpillFiles.Open(Spill).Count), Is.EqualTo((true, 1)));

        builder.Dispose();

        Assert.That(SpillFiles.Open(Spill), Is.Empty);
        Assert.Throws<ObjectDisposedException>(() => builder.Write(Text));
    }

    [Test]
    public void A_body_nobody_disposes_still_goes_when_its_handle_is_finalised()
    {
        // Counted while the body is still held: once it is unreachable, a collection the test did not ask for (another
        // test's allocations, a background GC) may finalise it before any count here (seen once in CI).
        Assert.That(BuildAndForget(Spill), Is.EqualTo(1), "the body's file, open while it lives");

        // A collection finds the body unreachable, but when its finalisers run is the runtime's to choose (a background
        // GC may be under way): a few rounds, as many as it takes, never a guess of one.
        for (var round = 0; round < 10 && SpillFiles.Open(Spill).Count > 0; round++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.That(SpillFiles.Open(Spill), Is.Empty);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    /// <summary>Builds a spilled body and drops it; the spill files open while it was still held.</summary>
    private static int BuildAndForget(string spill)
    {
        var builder = new MessageBodyBuilder(memoryLimit: 0, spill);
        builder.Write(Text);
        var body = builder.Build();
        var open = SpillFiles.Open(spill).Count;
        GC.KeepAlive(body);
        return open;
    }

    [Test]
    public void A_spill_folder_that_is_gone_is_an_IOException_when_the_body_outgrows_memory()
    {
        using var builder = new MessageBodyBuilder(memoryLimit: 100, Path.Combine(Folder.Path, "missing"));
        builder.Write(Text.AsSpan(0, 100));

        Assert.Throws<DirectoryNotFoundException>(() => builder.Write(Text.AsSpan(100, 1)));
        Assert.That(builder.Length, Is.EqualTo(100), "nothing was added");
    }

    [Test]
    public void FilterVerdict_DisposeBodies_disposes_its_replacement_bodies_and_ReplacementBody_is_the_last()
    {
        var first = Build(Text, memoryLimit: 0);
        var last = Build(Text.AsSpan(0, 50).ToArray(), memoryLimit: 0);
        var verdict = new FilterVerdict { Kind = VerdictKind.String, Edits = [new ReplaceBody(first), new AddHeader("X", " y"), new ReplaceBody(last)] };

        Assert.That(verdict.ReplacementBody, Is.SameAs(last));
        Assert.That(FilterVerdict.Default.ReplacementBody, Is.Null);
        verdict.DisposeBodies();

        Assert.That(SpillFiles.Open(Spill), Is.Empty);
    }
}
