namespace SpamFilterMilter.Tests.Support;

/// <summary>For tests that write files: a fresh folder per test, deleted afterwards.</summary>
public abstract class TempFolderTest
{
    internal TempFolder Folder { get; private set; } = null!;

    [SetUp]
    public void CreateFolder() => Folder = new TempFolder();

    [TearDown]
    public void DeleteFolder() => Folder.Dispose();
}
