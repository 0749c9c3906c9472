using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>The reactors the transport tests use; a test that needs one is ignored where there is none (no epoll).</summary>
internal static class TestReactors
{
    /// <summary>The reactor a connection without <c>IO_THREADS</c> is served by.</summary>
    public static IoReactor Default => OrIgnore(IoReactor.For(IoReactor.DefaultThreadCount));

    /// <summary><paramref name="reactor"/>, or the test is ignored.</summary>
    public static IoReactor OrIgnore(IoReactor? reactor) =>
        reactor ?? throw new IgnoreException("no epoll here: .NET's sockets serve async I/O");
}
