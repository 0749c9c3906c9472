using System.Text;

namespace SpamFilterMilter.Testing;

/// <summary>One line of a test milter's transcript (tests/milters/README.md §2): connection, event, fields.</summary>
public sealed record TranscriptLine(int Connection, string Event, IReadOnlyList<string> Fields)
{
    public override string ToString() => $"{Connection} {Event} {string.Join(" | ", Fields)}";

    /// <summary>Each event of <paramref name="transcript"/> but its macro lines, in order, with the macros the milter could read there.</summary>
    public static List<(string Event, Dictionary<string, string> Macros)> EventsWithMacros(IReadOnlyList<TranscriptLine> transcript)
    {
        var events = new List<(string Event, Dictionary<string, string> Macros)>();
        foreach (var line in transcript)
        {
            if (line.Event != "macro")
            {
                events.Add((line.Event, []));
            }
            else if (events.Count > 0)
            {
                events[^1].Macros[line.Fields[1]] = line.Fields[2];
            }
        }

        return events;
    }
}

/// <summary>A real milter process on loopback, started for one test (or fixture) and killed afterwards.</summary>
public sealed class MilterProcess : IAsyncDisposable
{
    private static readonly string MiltersDir = Path.Combine(AppContext.BaseDirectory, "milters");
    private static readonly Lazy<string> CMilter = new(BuildCMilter, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly ServerProcess _server;

    private MilterProcess(ServerProcess server, string? transcript, string? socketPath = null)
    {
        _server = server;
        TranscriptPath = transcript;
        SocketPath = socketPath;
    }

    public int Port => _server.Port;

    public string? TranscriptPath { get; }

    /// <summary>For a milter started on a UNIX-domain socket: its path.</summary>
    public string? SocketPath { get; }

    /// <summary>A folder that lives as long as the milter (keys, configuration).</summary>
    public string WorkFolder => _server.Folder.Path;

    /// <summary>What the milter wrote to standard error.</summary>
    public string Stderr => _server.Output;

    /// <summary>Starts tests/milters/sfm-testmilter.c (built on first use) with these arguments after -p and -l.</summary>
    public static Task<MilterProcess> StartLibmilterAsync(params string[] arguments) =>
        StartWithReadyLineAsync(CMilter.Value, [], "inet:{1}@127.0.0.1", arguments);

    /// <summary>
    /// Starts the libmilter test milter listening where <paramref name="spec"/> says ("unix:{0}" gets a
    /// socket path in its work folder; "inet6:{1}@::1" a free port), for endpoints other than TCP on 127.0.0.1.
    /// </summary>
    public static Task<MilterProcess> StartLibmilterAtAsync(string spec, params string[] arguments) =>
        StartWithReadyLineAsync(CMilter.Value, [], spec, arguments);

    /// <summary>Starts tests/milters/sfm_testmilter.py under Debian's python3 (where python3-milter lives).</summary>
    public static Task<MilterProcess> StartPymilterAsync(params string[] arguments) =>
        StartWithReadyLineAsync("/usr/bin/python3", [Path.Combine(MiltersDir, "sfm_testmilter.py")], "inet:{1}@127.0.0.1", arguments);

    /// <summary>Starts opendkim signing for example.com with a fresh key (tests/milters/opendkim/start-opendkim.sh).</summary>
    public static async Task<MilterProcess> StartOpenDkimAsync()
    {
        var server = await ServerProcess.StartOnFreePortAsync(
            (folder, port) => ServerProcess.Launch("/bin/bash",
                [Path.Combine(MiltersDir, "opendkim", "start-opendkim.sh"), folder.Path, port.ToString(System.Globalization.CultureInfo.InvariantCulture)], folder, port),
            server => server.WaitUntilListeningAsync(StartTimeout), // opendkim says nothing when it is ready
            "opendkim");
        return new MilterProcess(server, null);
    }

    /// <summary>
    /// Starts a test milter that prints READY once it listens where <paramref name="spec"/> says
    /// ({0}: a socket path in its folder, {1}: a free port), writing its transcript in its folder.
    /// </summary>
    private static async Task<MilterProcess> StartWithReadyLineAsync(string program, string[] script, string spec, string[] arguments)
    {
        var server = await ServerProcess.StartOnFreePortAsync(
            (folder, port) => ServerProcess.Launch(program,
                [.. script, "-p", string.Format(System.Globalization.CultureInfo.InvariantCulture, spec, SocketIn(folder), port), "-l", TranscriptIn(folder), .. arguments],
                folder, port, readsStandardOutput: true),
            async server => await server.ReadLineAsync(StartTimeout) == "READY",
            $"{Path.GetFileName(program)} {string.Join(' ', [.. script.Select(Path.GetFileName), .. arguments])}");
        return new MilterProcess(server, TranscriptIn(server.Folder), spec.Contains("{0}", StringComparison.Ordinal) ? SocketIn(server.Folder) : null);
    }

    private static string SocketIn(TempFolder folder) => Path.Combine(folder.Path, "milter.sock");

    private static string TranscriptIn(TempFolder folder) => Path.Combine(folder.Path, "transcript.log");

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

    /// <summary>An option file for the plug-in pointing at this milter (TIMEOUT in hundredths of a second: 10 s unless a test needs it short).</summary>
    public string OptionFile(TempFolder folder, string extra = "", int timeout = 1000) =>
        folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={Port}\nTIMEOUT={timeout}\n{extra}");

    /// <summary>Stops the milter where it is (SIGSTOP): a wedged milter, whose kernel still accepts connections.</summary>
    public void Pause() => _server.Pause();

    /// <summary>Lets a paused milter go on (SIGCONT).</summary>
    public void Resume() => _server.Resume();

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>Compiles the libmilter test milter once per test run, exactly as its header says.</summary>
    private static string BuildCMilter()
    {
        var output = Path.Combine(Path.GetTempPath(), $"sfm-testmilter-{Environment.ProcessId}");
        var (exitCode, messages) = ServerProcess.RunAsync("cc",
            ["-O2", "-Wall", "-Werror", "-o", output, Path.Combine(MiltersDir, "sfm-testmilter.c"), "-lmilter", "-lpthread"], TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"building sfm-testmilter.c failed (is libmilter-dev installed?): {messages}");
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
