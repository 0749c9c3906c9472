using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpamFilterMilter.Testing;

/// <summary>One line of a test milter's transcript (tests/milters/README.md §2): connection, event, fields.</summary>
public sealed record TranscriptLine(int Connection, string Event, IReadOnlyList<string> Fields)
{
    public override string ToString() => $"{Connection} {Event} {string.Join(" | ", Fields)}";
}

/// <summary>A real milter process on loopback, started for one test (or fixture) and killed afterwards.</summary>
public sealed class MilterProcess : IAsyncDisposable
{
    private static readonly string MiltersDir = Path.Combine(AppContext.BaseDirectory, "milters");
    private static readonly Lazy<string> CMilter = new(BuildCMilter, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Process _process;
    private readonly StringBuilder _stderr;
    private readonly TempFolder _folder;

    private MilterProcess(Process process, StringBuilder stderr, TempFolder folder, int port, string? transcript)
    {
        _process = process;
        _stderr = stderr;
        _folder = folder;
        Port = port;
        TranscriptPath = transcript;
    }

    public int Port { get; }

    public string? TranscriptPath { get; }

    /// <summary>A folder that lives as long as the milter (keys, configuration).</summary>
    public string WorkFolder => _folder.Path;

    /// <summary>Starts tests/milters/sfm-testmilter.c (built on first use) with these arguments after -p and -l.</summary>
    public static Task<MilterProcess> StartLibmilterAsync(params string[] arguments) =>
        StartWithReadyLineAsync(CMilter.Value, [], arguments);

    /// <summary>
    /// Starts the libmilter test milter listening where <paramref name="spec"/> says ("unix:{0}" gets a
    /// socket path in its work folder; "inet6:{1}@::1" a free port), for endpoints other than TCP on 127.0.0.1.
    /// </summary>
    public static async Task<MilterProcess> StartLibmilterAtAsync(string spec, params string[] arguments)
    {
        var folder = new TempFolder();
        var socketPath = Path.Combine(folder.Path, "milter.sock");
        var port = FreePort();
        var transcript = Path.Combine(folder.Path, "transcript.log");
        var (process, stderr) = Launch(CMilter.Value, ["-p", string.Format(System.Globalization.CultureInfo.InvariantCulture, spec, socketPath, port), "-l", transcript, .. arguments]);
        var milter = new MilterProcess(process, stderr, folder, port, transcript) { SocketPath = socketPath };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        if (await process.StandardOutput.ReadLineAsync(timeout.Token) != "READY")
        {
            var error = milter.Stderr;
            await milter.DisposeAsync();
            throw new InvalidOperationException($"sfm-testmilter -p {spec} did not start: {error}");
        }

        return milter;
    }

    /// <summary>For a milter started on a UNIX-domain socket: its path.</summary>
    public string? SocketPath { get; private init; }

    /// <summary>Starts tests/milters/sfm_testmilter.py under Debian's python3 (where python3-milter lives).</summary>
    public static Task<MilterProcess> StartPymilterAsync(params string[] arguments) =>
        StartWithReadyLineAsync("/usr/bin/python3", [Path.Combine(MiltersDir, "sfm_testmilter.py")], arguments);

    /// <summary>Starts opendkim signing for example.com with a fresh key (tests/milters/opendkim/start-opendkim.sh).</summary>
    public static async Task<MilterProcess> StartOpenDkimAsync()
    {
        var folder = new TempFolder();
        var port = FreePort();
        var (process, stderr) = Launch("/bin/bash", [Path.Combine(MiltersDir, "opendkim", "start-opendkim.sh"), folder.Path, port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var milter = new MilterProcess(process, stderr, folder, port, null);
        // opendkim says nothing when it is ready: wait until the port accepts.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                break;
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return milter;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        var error = milter.Stderr;
        await milter.DisposeAsync();
        throw new InvalidOperationException($"opendkim did not start listening on {port}: {error}");
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The transcript so far.</summary>
    public IReadOnlyList<TranscriptLine> Transcript()
    {
        if (TranscriptPath is null || !File.Exists(TranscriptPath))
        {
            return [];
        }

        using var stream = new FileStream(TranscriptPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var lines = new List<TranscriptLine>();
        while (reader.ReadLine() is { } line)
        {
            var fields = line.Split('\t').Select(Unescape).ToArray();
            lines.Add(new TranscriptLine(int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), fields[1], fields[2..]));
        }

        return lines;
    }

    /// <summary>
    /// The transcript once the milter has logged <paramref name="lastEvent"/> (the milter writes after
    /// it replied, so a test that already has its verdict may be a moment ahead of the file).
    /// </summary>
    public async Task<IReadOnlyList<TranscriptLine>> TranscriptAfterAsync(string lastEvent, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var lines = Transcript();
            if (lines.Count(l => l.Event == lastEvent) >= count || DateTime.UtcNow > deadline)
            {
                return lines;
            }

            await Task.Delay(20);
        }
    }

    /// <summary>An option file for the plug-in pointing at this milter.</summary>
    public string OptionFile(TempFolder folder, string extra = "") =>
        folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={Port}\nTIMEOUT=1000\n{extra}");

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

    private static async Task<MilterProcess> StartWithReadyLineAsync(string program, string[] script, string[] arguments)
    {
        // A free port can be taken between probing and binding: retry a few times.
        for (var attempt = 1; ; attempt++)
        {
            var folder = new TempFolder();
            var port = FreePort();
            var transcript = Path.Combine(folder.Path, "transcript.log");
            var (process, stderr) = Launch(program, [.. script, "-p", $"inet:{port}@127.0.0.1", "-l", transcript, .. arguments]);
            var milter = new MilterProcess(process, stderr, folder, port, transcript);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            string? line;
            try
            {
                line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                line = null;
            }

            if (line == "READY")
            {
                return milter;
            }

            var error = milter.Stderr;
            await milter.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} did not start: {line} {error}");
            }
        }
    }

    private static (Process Process, StringBuilder Stderr) Launch(string program, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var stderr = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginErrorReadLine();
        return (process, stderr);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Compiles the libmilter test milter once per test run, exactly as its header says.</summary>
    private static string BuildCMilter()
    {
        var output = Path.Combine(Path.GetTempPath(), $"sfm-testmilter-{Environment.ProcessId}");
        var (process, stderr) = Launch("cc", ["-O2", "-Wall", "-Werror", "-o", output, Path.Combine(MiltersDir, "sfm-testmilter.c"), "-lmilter", "-lpthread"]);
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"building sfm-testmilter.c failed (is libmilter-dev installed?): {stderr}");
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(output);
        return output;
    }

    /// <summary>Undoes the transcript escapes: \\ \t \n \r \xNN.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] != '\\' || i + 1 == field.Length)
            {
                text.Append(field[i]);
                continue;
            }

            var next = field[++i];
            switch (next)
            {
                case 't': text.Append('\t'); break;
                case 'n': text.Append('\n'); break;
                case 'r': text.Append('\r'); break;
                case 'x' when i + 2 < field.Length:
                    text.Append((char)Convert.ToByte(field.Substring(i + 1, 2), 16));
                    i += 2;
                    break;
                default: text.Append(next); break;
            }
        }

        return text.ToString();
    }
}
