using NUnit.Framework;

namespace SpamFilterMilter.Testing;

/// <summary>For tests that write files: a fresh folder per test, deleted afterwards.</summary>
public abstract class TempFolderTest
{
    public TempFolder Folder { get; private set; } = null!;

    [SetUp]
    public void CreateFolder() => Folder = new TempFolder();

    [TearDown]
    public void DeleteFolder() => Folder.Dispose();
}
