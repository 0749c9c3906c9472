using System.Globalization;

namespace SpamFilterMilter.Testing.Postfix;

/// <summary>
/// Postfix's smtp-sink on loopback, dumping each transaction it receives to a file (<see cref="SinkDump"/>), started
/// with the same options as the private Postfix instance's next hop, so that what reaches each is read the same way.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly ServerProcess _server;

    private SmtpSink(ServerProcess server) => _server = server;

    /// <summary>The port it listens on (127.0.0.1).</summary>
    public int Port => _server.Port;

    /// <summary>The folder with one dump file per transaction.</summary>
    public string Folder => Path.Combine(_server.Folder.Path, "sink");

    /// <summary>
    /// Starts smtp-sink on a free port (needs root and the postfix user, as the Postfix instance does), with
    /// <paramref name="options"/> of its own before the usual ones (e.g. <c>-f RCPT</c>: refuse every RCPT with a 5xx).
    /// </summary>
    public static async Task<SmtpSink> StartAsync(params string[] options)
    {
        var server = await ServerProcess.StartOnFreePortAsync(
            (folder, port) =>
            {
                var dumps = Path.Combine(folder.Path, "sink");
                Directory.CreateDirectory(dumps);
                if (OperatingSystem.IsWindows())
                {
                    throw new PlatformNotSupportedException("smtp-sink runs on Linux");
                }

                File.SetUnixFileMode(folder.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                File.SetUnixFileMode(dumps, (UnixFileMode)0x1FF); // smtp-sink runs as the postfix user
                return ServerProcess.Launch("/usr/sbin/smtp-sink",
                    [.. options, "-u", "postfix", "-4", "-h", "smtp-sink", "-d", Path.Combine(dumps, "%Y%m%d%H%M%S."),
                        "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture), "100"],
                    folder, port);
            },
            server => server.WaitUntilListeningAsync(TimeSpan.FromSeconds(10)),
            "smtp-sink");
        return new SmtpSink(server);
    }

    /// <summary>The dumps written so far, oldest first.</summary>
    public static IReadOnlyList<string> DumpsIn(string folder) =>
        Directory.Exists(folder) ? [.. Directory.GetFiles(folder).OrderBy(File.GetLastWriteTimeUtc).ThenBy(path => path, StringComparer.Ordinal)] : [];

    /// <summary>Waits for a dump that is not in <paramref name="seen"/> and returns it once smtp-sink has closed it.</summary>
    public static async Task<SinkDump> WaitForNewDumpAsync(string folder, ISet<string> seen, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (DumpsIn(folder).FirstOrDefault(path => !seen.Contains(path)) is { } path)
            {
                // smtp-sink writes the dump while the transaction runs; it is complete once the file stops growing.
                long size;
                do
                {
                    size = new FileInfo(path).Length;
                    await Task.Delay(30).ConfigureAwait(false);
                }
                while (new FileInfo(path).Length != size);

                seen.Add(path);
                return SinkDump.Read(path);
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        throw new TimeoutException($"smtp-sink wrote nothing new in {folder} within {within.TotalSeconds} s");
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
