using SpamFilterMilter.ReferenceHost;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>Files of the repository (etc/, option.dat.sample, README.md) from the test's build folder.</summary>
internal static class Repository
{
    public static string Path(string relative) =>
        System.IO.Path.Combine(RepositoryPaths.Find("etc").Parent!.FullName, relative);
}
