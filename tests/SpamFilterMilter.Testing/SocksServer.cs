using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
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

    private readonly Process _process;
    private readonly StringBuilder _output;
    private readonly TempFolder _folder;

    private SocksServer(Process process, StringBuilder output, TempFolder folder, int port)
    {
        _process = process;
        _output = output;
        _folder = folder;
        Port = port;
    }

    public int Port { get; }

    /// <summary>What the server wrote (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>microsocks; with <paramref name="user"/> and <paramref name="password"/> it requires them.</summary>
    public static Task<SocksServer> StartMicrosocksAsync(string? user = null, string? password = null)
    {
        var port = FreePort();
        List<string> arguments = ["-i", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)];
        if (user is not null)
        {
            arguments.AddRange(["-u", user, "-P", password ?? string.Empty]);
        }

        return StartAsync("microsocks", arguments, new TempFolder(), port);
    }

    /// <summary>dante-server requiring username authentication as <see cref="DanteUser"/>.</summary>
    public static async Task<SocksServer> StartDanteAsync()
    {
        EnsureDanteUser();
        var folder = new TempFolder();
        var port = FreePort();
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
        return await StartAsync("danted", ["-f", config, "-p", Path.Combine(folder.Path, "danted.pid")], folder, port);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _folder.Dispose();
    }

    private static async Task<SocksServer> StartAsync(string program, IEnumerable<string> arguments, TempFolder folder, int port)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = info };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += collect;
        process.ErrorDataReceived += collect;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new SocksServer(process, output, folder, port);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        var error = server.Output;
        await server.DisposeAsync();
        throw new InvalidOperationException($"{program} did not start listening on {port}: {error}");
    }

    /// <summary>dante checks the system password database: the test user must exist with the test password.</summary>
    private static void EnsureDanteUser()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore($"dante's username authentication needs a system user {DanteUser}; creating it needs root");
        }

        Run("sh", "-c", $"id {DanteUser} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {DanteUser}");
        Run("sh", "-c", $"echo '{DanteUser}:{DantePassword}' | chpasswd");
    }

    private static void Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed: {error}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
