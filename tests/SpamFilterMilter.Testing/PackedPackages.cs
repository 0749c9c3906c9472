namespace SpamFilterMilter.Testing;

/// <summary>
/// The packages tests/run-tests.sh packed from this very build (its full lane packs the solution into
/// artifacts/packages and names the folder in SFM_PACKAGES), so that package tests use them instead of packing again;
/// null when the tests run on their own, and then each packs what it needs.
/// </summary>
public static class PackedPackages
{
    public static string? Folder =>
        Environment.GetEnvironmentVariable("SFM_PACKAGES") is { Length: > 0 } folder && Directory.Exists(folder) ? folder : null;
}
