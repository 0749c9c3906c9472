using System.Globalization;
using System.Text.RegularExpressions;

namespace SpamFilterMilter.Testing.Postfix;

/// <summary>
/// A private Postfix instance (Debian's postfix package) on loopback, for one test fixture: its configuration, queue
/// and log in a folder of its own (tests/postfix/start.sh), <c>smtpd_milters</c> pointing at the milter under test
/// and every message relayed to an smtp-sink that dumps each transaction to a file. Nothing outside its folder is
/// touched; disposing stops it (tests/postfix/stop.sh) and deletes the folder.
/// </summary>
public sealed partial class PostfixInstance : IAsyncDisposable
{
    private static readonly string Scripts = Path.Combine(AppContext.BaseDirectory, "postfix");
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(60);

    private readonly TempFolder _folder;

    private PostfixInstance(TempFolder folder, int smtpPort, int sinkPort)
    {
        _folder = folder;
        SmtpPort = smtpPort;
        SinkPort = sinkPort;
    }

    /// <summary>The host name Postfix gives itself (<c>myhostname</c>): in its Received header, <c>j</c> and <c>{daemon_name}</c>.</summary>
    public const string HostName = "mta.example";

    /// <summary>The port Postfix's smtpd listens on (127.0.0.1).</summary>
    public int SmtpPort { get; }

    /// <summary>The port of its next hop, the smtp-sink.</summary>
    public int SinkPort { get; }

    /// <summary>The folder smtp-sink writes one file per transaction into.</summary>
    public string SinkFolder => Path.Combine(_folder.Path, "sink");

    /// <summary>Postfix's log (<c>maillog_file</c>).</summary>
    public string LogPath => Path.Combine(_folder.Path, "log", "maillog");

    /// <summary>
    /// Starts Postfix with <paramref name="milter"/> as its smtpd_milters (e.g. <c>inet:127.0.0.1:8890</c>) and the
    /// given extra main.cf settings (<c>name=value</c>); returns once smtpd and smtp-sink listen.
    /// </summary>
    public static async Task<PostfixInstance> StartAsync(string milter, params string[] settings)
    {
        for (var attempt = 1; ; attempt++)
        {
            var folder = new TempFolder();
            var basePort = ServerProcess.FreePortBlock(2);
            var instance = new PostfixInstance(folder, basePort + 1, basePort + 2);
            var (exitCode, output) = await ServerProcess.RunAsync("/bin/bash",
                [Path.Combine(Scripts, "start.sh"), folder.Path, Number(instance.SmtpPort), Number(instance.SinkPort), milter, .. settings],
                ScriptTimeout).ConfigureAwait(false);
            if (exitCode == 0)
            {
                return instance;
            }

            await instance.DisposeAsync().ConfigureAwait(false);
            if (attempt == 3 || !output.Contains("already in use", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"Postfix did not start (start.sh exit {exitCode}): {output}");
            }
        }
    }

    /// <summary>Postfix's log so far (for failure messages).</summary>
    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : string.Empty;

    /// <summary>
    /// Waits until Postfix has finished with every message it queued: none is left in its incoming, active or deferred
    /// queue (each was delivered, discarded, bounced, or held). A message is in its incoming queue before smtpd answers
    /// its end of DATA, so any message a client saw queued is counted.
    /// </summary>
    public async Task WaitUntilQueueEmptyAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        string[] queues = ["maildrop", "incoming", "active", "deferred"];
        while (DateTime.UtcNow < deadline)
        {
            if (!queues.Select(queue => Path.Combine(_folder.Path, "queue", queue)).Any(folder => Directory.Exists(folder)
                && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any()))
            {
                return;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        throw new TimeoutException($"Postfix's queue was not empty within {within.TotalSeconds} s:\n{Log}");
    }

    /// <summary>True when the message queued as <paramref name="queueId"/> is in Postfix's hold queue (a milter quarantined it).</summary>
    public bool IsHeld(string queueId)
    {
        var hold = Path.Combine(_folder.Path, "queue", "hold");
        return Directory.Exists(hold) && Directory.EnumerateFiles(hold, queueId, SearchOption.AllDirectories).Any();
    }

    /// <summary>The queue id in Postfix's reply to the end of DATA (<c>250 2.0.0 Ok: queued as 4Xyz</c>); null if there is none.</summary>
    public static string? QueueIdOf(string reply) => QueuedAs().Match(reply) is { Success: true } match ? match.Groups[1].Value : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ServerProcess.RunAsync("/bin/bash", [Path.Combine(Scripts, "stop.sh"), _folder.Path], ScriptTimeout).ConfigureAwait(false);
        }
        finally
        {
            _folder.Dispose();
        }
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"queued as ([0-9A-Za-z]+)")]
    private static partial Regex QueuedAs();
}
