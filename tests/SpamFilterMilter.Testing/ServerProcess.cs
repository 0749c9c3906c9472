using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace SpamFilterMilter.Testing;

/// <summary>
/// A real server process on loopback (a milter, a SOCKS server, slapd) started for a test: its output
/// collected for failure messages, and on disposal the process tree killed and its folder deleted.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output;

    private ServerProcess(Process process, StringBuilder output, TempFolder folder, int port)
    {
        _process = process;
        _output = output;
        Folder = folder;
        Port = port;
    }

    /// <summary>The port the server was told to listen on.</summary>
    public int Port { get; }

    /// <summary>A folder that lives as long as the server (configuration, sockets, transcripts).</summary>
    public TempFolder Folder { get; }

    /// <summary>What the server wrote to standard error (and standard output, unless the caller reads that).</summary>
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

    /// <summary>A loopback port nothing listens on at the moment (something may take it before the server does).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A base port for scripts that put their servers on base+1 to base+<paramref name="count"/> (tools/bench/run.sh,
    /// miltertest's run-all.sh): all of them free now, and below the kernel's ephemeral range, so that no outgoing
    /// connection of another test can be given one of them meanwhile (only a listener that asks for it by number).
    /// </summary>
    public static int FreePortBlock(int count)
    {
        var ephemeralLow = 32768;
        if (File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
            && int.TryParse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0],
                System.Globalization.CultureInfo.InvariantCulture, out var low))
        {
            ephemeralLow = low;
        }

        for (var attempt = 0; attempt < 100; attempt++)
        {
            var basePort = Random.Shared.Next(10_000, ephemeralLow - count - 1);
            if (Enumerable.Range(basePort + 1, count).All(IsFree))
            {
                return basePort;
            }
        }

        throw new InvalidOperationException($"no {count} free ports in a row below {ephemeralLow}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Starts a server on a free port and waits until <paramref name="ready"/> says it is; a port taken
    /// between probing and binding is retried with another, up to three times.
    /// </summary>
    /// <param name="launch">Starts the server with a fresh folder and a free port (see <see cref="Launch"/>).</param>
    /// <param name="ready">True once the server serves; false when it did not start.</param>
    /// <param name="what">Names the server in the exception when it never starts.</param>
    public static async Task<ServerProcess> StartOnFreePortAsync(Func<TempFolder, int, ServerProcess> launch, Func<ServerProcess, Task<bool>> ready, string what)
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = launch(new TempFolder(), FreePort());
            bool started;
            try
            {
                started = await ready(server).ConfigureAwait(false);
            }
            catch
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            if (started)
            {
                return server;
            }

            var output = server.Output;
            await server.DisposeAsync().ConfigureAwait(false);
            if (attempt == 3)
            {
                throw new InvalidOperationException($"{what} did not start: {output}");
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="program"/>. Standard error is collected, and standard output too unless
    /// <paramref name="readsStandardOutput"/> (the caller then reads it, e.g. for a READY line).
    /// </summary>
    public static ServerProcess Launch(string program, IEnumerable<string> arguments, TempFolder folder, int port, bool readsStandardOutput = false)
    {
        var output = new StringBuilder();
        return new ServerProcess(Start(program, arguments, output, collectStandardOutput: !readsStandardOutput), output, folder, port);
    }

    /// <summary>Polls the port until it accepts a connection; false if the server exits or <paramref name="within"/> passes first.</summary>
    public async Task<bool> WaitUntilListeningAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, Port).ConfigureAwait(false);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(25).ConfigureAwait(false);
            }
        }

        return false;
    }

    /// <summary>The next line of standard output (when the caller reads it); null at its end or after <paramref name="within"/>.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            return await _process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs a program to its end (a compiler, ldapadd, useradd), in <paramref name="workingDirectory"/> when given: its
    /// exit code and everything it wrote.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan within, string? workingDirectory = null)
    {
        var output = new StringBuilder();
        using var process = Start(program, arguments, output, collectStandardOutput: true, workingDirectory);
        await WaitOrKillAsync(process, program, arguments, within).ConfigureAwait(false);
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>
    /// Runs a command-line tool to its end with <paramref name="input"/> on its standard input: its exit code, and its
    /// standard output and standard error apart (a report and its errors); past <paramref name="within"/> it is killed
    /// with everything it started, and the test fails rather than leave it running.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunToEndAsync(string program, IEnumerable<string> arguments, TimeSpan within,
        string input = "")
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input).ConfigureAwait(false);
        process.StandardInput.Close();
        await WaitOrKillAsync(process, program, arguments, within).ConfigureAwait(false);
        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    /// <summary>Waits for <paramref name="process"/> to end; past <paramref name="within"/> kills it and all it started, and throws.</summary>
    private static async Task WaitOrKillAsync(Process process, string program, IEnumerable<string> arguments, TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {within.TotalSeconds} s");
        }
    }

    /// <summary>
    /// The first line of its output that <paramref name="pattern"/> matches, written already or to come, within
    /// <paramref name="within"/> (a server that logs what it did: a test waits for the line, not for a time).
    /// </summary>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            // Exited or out of time: one more look, as the line may have come with the process's last output.
            var last = DateTime.UtcNow > deadline || _process.HasExited;
            if (Output.Split('\n').Select(line => pattern.Match(line)).FirstOrDefault(m => m.Success) is { } match)
            {
                return match;
            }

            if (last)
            {
                throw new TimeoutException(
                    $"no line matching {pattern} {(_process.HasExited ? "before it exited" : $"within {within.TotalSeconds} s")}; the output was:\n{Output}");
            }

            await Task.Delay(25).ConfigureAwait(false);
        }
    }

    /// <summary>The exit status, once the process has ended by itself (within <paramref name="within"/>).</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        await _process.WaitForExitAsync().WaitAsync(within).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>
    /// Stops the process where it is (SIGSTOP), as a wedged server: the kernel still completes TCP handshakes into its
    /// listen queue, but nothing reads or answers. Disposal kills it all the same.
    /// </summary>
    public void Pause() => Signal(SigStop);

    /// <summary>Lets a paused process go on (SIGCONT).</summary>
    public void Resume() => Signal(SigCont);

    /// <summary>SIGHUP, as an administrator's <c>kill -HUP</c>: a daemon reads its configuration again.</summary>
    public void HangUp() => Signal(SigHup);

    /// <summary>SIGTERM, as a service manager stops a daemon.</summary>
    public void Terminate() => Signal(SigTerm);

    private const int SigHup = 1;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;

    private void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }

        _process.Dispose();
        Folder.Dispose();
    }

    private static Process Start(string program, IEnumerable<string> arguments, StringBuilder output, bool collectStandardOutput, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? string.Empty };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        void Collect(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        }

        process.ErrorDataReceived += Collect;
        process.Start();
        process.BeginErrorReadLine();
        if (collectStandardOutput)
        {
            process.OutputDataReceived += Collect;
            process.BeginOutputReadLine();
        }

        return process;
    }
}
