using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// The relay as an administrator runs it, a process of its own: SIGHUP reads option.dat and the slots' option files
/// again, logs what changed, and leaves the settings in effect when a file is broken. Each step waits for the line the
/// relay logs, never for time.
/// </summary>
[Category("Integration")]
public sealed partial class RelayReloadTests : TempFolderTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private string MilterOptions(int port, string extra = "") =>
        Folder.Write("milter.opt", string.Create(CultureInfo.InvariantCulture, $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=1000\n{extra}"));

    [Test]
    public async Task SIGHUP_moves_new_messages_to_the_milter_the_option_file_now_names_and_a_broken_file_keeps_it_there()
    {
        await using var oldMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:old");
        await using var newMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:new");
        var optionFile = MilterOptions(oldMilter.Port);
        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
        using var relay = RelayProcess.Start(
            "--options", optionDat, "--plugins", Path.Combine(AppContext.BaseDirectory, "plugins"), "--channels", Path.Combine(Folder.Path, "relay.cnf"),
            "--source-channel", "tcp_relay", "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--server-name", "relay.example");
        var port = int.Parse((await relay.WaitForAsync(ListeningLine())).Groups[1].Value, CultureInfo.InvariantCulture);

        Assert.That(await SendAsync(port), Is.EqualTo("old"));

        MilterOptions(newMilter.Port);
        relay.Signal("HUP");
        await relay.WaitForAsync(ReloadedLine());
        var changed = await relay.WaitForAsync(PortChangedLine());

        Assert.That(changed.Value, Does.Contain($"reload: slot 1 ({optionFile}): PORT: \"{oldMilter.Port}\" -> \"{newMilter.Port}\""));
        Assert.That(await SendAsync(port), Is.EqualTo("new"), "after SIGHUP new messages go to the new PORT");

        MilterOptions(oldMilter.Port, "BOGUS=1\n");
        relay.Signal("HUP");
        var refused = await relay.WaitForAsync(RefusedLine());

        Assert.That(refused.Value, Does.Contain($"{optionFile}:4: option BOGUS: "));
        Assert.That(await SendAsync(port), Is.EqualTo("new"), "a broken option file leaves the settings in effect");

        relay.Signal("TERM");
        Assert.That(await relay.ExitCodeAsync(), Is.Zero, "SIGTERM stops the relay with exit status 0, as docs/relay.md says (a service manager counts 143 as a failure)");
        Assert.That(relay.Output, Does.Match(@"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} "), "log lines carry the date");
    }

    /// <summary>Sends one message through the relay and returns the X-Milter value of the copy it stored.</summary>
    private async Task<string> SendAsync(int port)
    {
        var mail = Path.Combine(Folder.Path, "mail", "new");
        var before = Directory.Exists(mail) ? Directory.GetFiles(mail).ToHashSet() : [];
        var exchanges = await SmtpScriptClient.RunAsync(port, new SmtpDialogue("client.example",
            [new SmtpTransaction("<alice@example.org>", ["<bob@example.com>"], Encoding.ASCII.GetBytes("Subject: reload\r\n\r\nBody\r\n"))]));
        Assert.That(exchanges.Select(e => e.Code), Is.EqualTo(new[] { 220, 250, 250, 250, 354, 250, 221 }));
        var stored = Directory.GetFiles(mail).Single(f => !before.Contains(f));
        return MilterHeader().Match(await File.ReadAllTextAsync(stored)).Groups[1].Value;
    }

    [GeneratedRegex(@"spamfilter-relay listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"option\.dat reloaded: \d+ option\(s\) changed")]
    private static partial Regex ReloadedLine();

    [GeneratedRegex(@"reload: slot 1 .*: PORT: .*")]
    private static partial Regex PortChangedLine();

    [GeneratedRegex(@"option\.dat not reloaded: .*")]
    private static partial Regex RefusedLine();

    [GeneratedRegex(@"^X-Milter: (\S+)", RegexOptions.Multiline)]
    private static partial Regex MilterHeader();

    /// <summary>The relay's own executable, its standard output and error read line by line as they come.</summary>
    private sealed class RelayProcess : IDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly List<(Regex Pattern, TaskCompletionSource<Match> Seen)> _waiting = [];

        private RelayProcess(Process process) => _process = process;

        /// <summary>Everything it wrote so far, for a failure's message.</summary>
        public string Output
        {
            get
            {
                lock (_lines)
                {
                    return string.Join('\n', _lines);
                }
            }
        }

        public static RelayProcess Start(params string[] arguments)
        {
            var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "spamfilter-relay"))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            var relay = new RelayProcess(new Process { StartInfo = start });
            relay._process.OutputDataReceived += (_, e) => relay.Read(e.Data);
            relay._process.ErrorDataReceived += (_, e) => relay.Read(e.Data);
            relay._process.Start();
            relay._process.BeginOutputReadLine();
            relay._process.BeginErrorReadLine();
            return relay;
        }

        /// <summary>The first line <paramref name="pattern"/> matches, read already or to come (each pattern here matches one line only).</summary>
        public Task<Match> WaitForAsync(Regex pattern)
        {
            var seen = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lines)
            {
                if (_lines.Select(l => pattern.Match(l)).FirstOrDefault(m => m.Success) is { } match)
                {
                    return Task.FromResult(match);
                }

                _waiting.Add((pattern, seen));
            }

            return seen.Task.WaitAsync(Patience);
        }

        /// <summary>The exit status, once the process has ended (bounded by the test's patience).</summary>
        public async Task<int> ExitCodeAsync()
        {
            await _process.WaitForExitAsync().WaitAsync(Patience);
            return _process.ExitCode;
        }

        /// <summary>Sends the signal, as <c>kill -HUP</c> would.</summary>
        public void Signal(string name)
        {
            using var kill = Process.Start("kill", ["-" + name, _process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }

            _process.Dispose();
        }

        private void Read(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_lines)
            {
                _lines.Add(line);
                foreach (var waiter in _waiting.ToList())
                {
                    if (waiter.Pattern.Match(line) is { Success: true } match)
                    {
                        waiter.Seen.TrySetResult(match);
                        _waiting.Remove(waiter);
                    }
                }
            }
        }
    }
}
