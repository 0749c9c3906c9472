using System.Globalization;
using NUnit.Framework;

namespace SpamFilterMilter.Testing;

/// <summary>
/// A real SOCKS5 server on loopback, started for a test: microsocks (no authentication, or its own
/// user and password) or dante-server (username authentication against the system's password
/// database, with a dedicated system user).
/// </summary>
public sealed class SocksServer : IAsyncDisposable
{
    /// <summary>The system user dante authenticates; created on first use (needs root).</summary>
    public const string DanteUser = "sfmsocks";

    /// <summary>Its password.</summary>
    public const string DantePassword = "s0cks-Test-Pass";

    private readonly ServerProcess _server;

    private SocksServer(ServerProcess server) => _server = server;

    public int Port => _server.Port;

    /// <summary>What the server wrote (for failure messages).</summary>
    public string Output => _server.Output;

    /// <summary>microsocks; with <paramref name="user"/> and <paramref name="password"/> it requires them.</summary>
    public static Task<SocksServer> StartMicrosocksAsync(string? user = null, string? password = null) =>
        StartAsync("microsocks", (_, port) =>
        {
            List<string> arguments = ["-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)];
            if (user is not null)
            {
                arguments.AddRange(["-u", user, "-P", password ?? string.Empty]);
            }

            return arguments;
        });

    /// <summary>dante-server requiring username authentication as <see cref="DanteUser"/>.</summary>
    public static Task<SocksServer> StartDanteAsync()
    {
        EnsureDanteUser();
        return StartAsync("danted", (folder, port) =>
        {
            var config = folder.Write("danted.conf", $$"""
                logoutput: stderr
                internal: 127.0.0.1 port = {{port}}
                external: 127.0.0.1
                socksmethod: username
                clientmethod: none
                user.privileged: root
                user.unprivileged: nobody
                client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
                socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
                """);
            return ["-f", config, "-p", Path.Combine(folder.Path, "danted.pid")];
        });
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private static async Task<SocksServer> StartAsync(string program, Func<TempFolder, int, IEnumerable<string>> arguments) =>
        new(await ServerProcess.StartOnFreePortAsync(
            (folder, port) => ServerProcess.Launch(program, arguments(folder, port), folder, port),
            server => server.WaitUntilListeningAsync(TimeSpan.FromSeconds(10)),
            program).ConfigureAwait(false));

    /// <summary>dante checks the system password database: the test user must exist with the test password.</summary>
    private static void EnsureDanteUser()
    {
        if (Environment.UserName != "root")
        {
            Assert.Fail($"dante's username authentication needs a system user {DanteUser}; creating it needs root (run the tests as root, as CI does)");
        }

        Run("sh", "-c", $"id {DanteUser} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {DanteUser}");
        Run("sh", "-c", $"echo '{DanteUser}:{DantePassword}' | chpasswd");
    }

    private static void Run(string program, params string[] arguments)
    {
        var (exitCode, output) = ServerProcess.RunAsync(program, arguments, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed: {output}");
        }
    }
}
