using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// The relay as an administrator runs it, a process of its own: SIGHUP reads option.dat, the slots' option files and
/// the channel table again, logs what changed, and leaves the settings in effect when a file is broken. Each step waits for the line the
/// relay logs, never for time.
/// </summary>
[Category("Integration")]
public sealed partial class RelayReloadTests : TempFolderTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private string MilterOptions(int port, string extra = "") =>
        Folder.Write("milter.opt", string.Create(CultureInfo.InvariantCulture, $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=1000\n{extra}"));

    // Under nohup as well: nohup sets SIGHUP to ignored and execs the relay, which inherits that, and .NET installs no
    // handler for a signal inherited as ignored unless the relay takes it back (HangUpSignal).
    [TestCase(false, TestName = "{m}")]
    [TestCase(true, TestName = "{m}_also_when_started_under_nohup_which_ignores_SIGHUP")]
    public async Task SIGHUP_moves_new_messages_to_the_milter_the_option_file_now_names_and_a_broken_file_keeps_it_there(bool underNohup)
    {
        await using var oldMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:old");
        await using var newMilter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:new");
        var optionFile = MilterOptions(oldMilter.Port);
        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
        string[] command = [Path.Combine(AppContext.BaseDirectory, "spamfilter-relay"),
            "--options", optionDat, "--plugins", Path.Combine(AppContext.BaseDirectory, "plugins"), "--channels", Path.Combine(Folder.Path, "relay.cnf"),
            "--source-channel", "tcp_relay", "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--server-name", "relay.example"];
        await using var relay = underNohup ? ServerProcess.Launch("nohup", command, new TempFolder(), port: 0)
            : ServerProcess.Launch(command[0], command[1..], new TempFolder(), port: 0);
        var port = int.Parse((await relay.WaitForLineAsync(ListeningLine(), Patience)).Groups[1].Value, CultureInfo.InvariantCulture);

        Assert.That(await SendAsync(port), Is.EqualTo("old"));

        MilterOptions(newMilter.Port);
        relay.HangUp();
        await relay.WaitForLineAsync(ReloadedLine(), Patience);
        var changed = await relay.WaitForLineAsync(PortChangedLine(), Patience);

        Assert.That(changed.Value, Does.Contain($"reload: slot 1 ({optionFile}): PORT: \"{oldMilter.Port}\" -> \"{newMilter.Port}\""));
        Assert.That(await SendAsync(port), Is.EqualTo("new"), "after SIGHUP new messages go to the new PORT");

        MilterOptions(oldMilter.Port, "BOGUS=1\n");
        relay.HangUp();
        var refused = await relay.WaitForLineAsync(RefusedLine(), Patience);

        Assert.That(refused.Value, Does.Contain($"{optionFile}:4: option BOGUS: "));
        Assert.That(await SendAsync(port), Is.EqualTo("new"), "a broken option file leaves the settings in effect");

        relay.Terminate();
        Assert.That(await relay.ExitCodeAsync(Patience), Is.Zero, "SIGTERM stops the relay with exit status 0, as docs/relay.md says (a service manager counts 143 as a failure)");
        Assert.That(relay.Output, Does.Match(@"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} "), "log lines carry the date");
        Assert.That(relay.Output, Does.Contain("[7005] stopping (SIGTERM): new connections and messages are answered 421 4.3.2 (their clients try again later); 0 message(s) under way may finish within 20 s (a second SIGTERM or SIGINT stops at once)")
            .And.Contain("[7007] every message under way has finished").And.Contain("[7006] stopped"),
            "the journal says the relay ended as asked");
    }

    // The administrator's walkthrough: relay.cnf forgot the relay's channel, so slot 1 filters nothing (7014); mended,
    // SIGHUP puts it to use without a restart; a typo in it later is refused by file and line, and the table in use stays.
    [Test]
    public async Task SIGHUP_reads_the_channel_table_again_so_a_mended_relay_cnf_takes_effect_and_a_broken_one_keeps_the_table_in_use()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Milter:filtered");
        MilterOptions(milter.Port);
        var table = Folder.Write("relay.cnf", "tcp_intranet sourcespamfilter1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
        await using var relay = ServerProcess.Launch(Path.Combine(AppContext.BaseDirectory, "spamfilter-relay"),
            ["--options", optionDat, "--plugins", Path.Combine(AppContext.BaseDirectory, "plugins"), "--channels", table,
            "--source-channel", "tcp_relay", "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--server-name", "relay.example"],
            new TempFolder(), port: 0);
        var port = int.Parse((await relay.WaitForLineAsync(ListeningLine(), Patience)).Groups[1].Value, CultureInfo.InvariantCulture);

        await relay.WaitForLineAsync(SlotNeverChosenLine(), Patience); // the start warns of the slot nothing opts in to
        Assert.That(await SendAsync(port), Is.Empty, "tcp_relay has no keyword: the milter is not asked");

        Folder.Write("relay.cnf", "tcp_intranet sourcespamfilter1\n\ntcp_relay sourcespamfilter1\n");
        relay.HangUp();
        var changed = await relay.WaitForLineAsync(ChannelChangedLine(), Patience);

        Assert.That(changed.Value, Does.Contain($"reload: {table}: channel tcp_relay: sourcespamfilter1 added"));
        Assert.That(await SendAsync(port), Is.EqualTo("filtered"), "after SIGHUP the mended relay.cnf opts the relay's messages in");

        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1 \\\n  destinationspamfilter9\n");
        relay.HangUp();
        var refused = await relay.WaitForLineAsync(RefusedLine(), Patience);

        Assert.That(refused.Value, Does.Contain($"not reloaded: {table}:2: option destinationspamfilter9: ").And.EndWith("the settings in effect stay"));
        Assert.That(await SendAsync(port), Is.EqualTo("filtered"), "a broken relay.cnf leaves the table in use");
        Assert.That(relay.Output.Split('\n').Count(line => SlotNeverChosenLine().IsMatch(line)), Is.EqualTo(1), "the mended table leaves no slot unchosen");
    }

    // systemctl stop while a milter is still working on a message: the message is finished and stored, the relay exits 0;
    // a second SIGTERM does not wait for it (its client gets 421 and keeps it).
    [TestCase(false, 250, TestName = "{m}")]
    [TestCase(true, 421, TestName = "{m}_unless_a_second_SIGTERM_says_not_to_wait")]
    public async Task SIGTERM_lets_a_message_under_way_finish_before_the_relay_exits(bool secondSignal, int expected)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=sleep:5000");
        MilterOptions(milter.Port);
        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
        await using var relay = ServerProcess.Launch(Path.Combine(AppContext.BaseDirectory, "spamfilter-relay"),
            ["--options", optionDat, "--plugins", Path.Combine(AppContext.BaseDirectory, "plugins"), "--channels", Path.Combine(Folder.Path, "relay.cnf"),
            "--source-channel", "tcp_relay", "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--server-name", "relay.example"],
            new TempFolder(), port: 0);
        var port = int.Parse((await relay.WaitForLineAsync(ListeningLine(), Patience)).Groups[1].Value, CultureInfo.InvariantCulture);
        await using var client = await SmtpLineClient.ConnectAsync(port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<alice@example.org>");
        await client.SendAsync("RCPT TO:<bob@example.com>");
        await client.SendAsync("DATA");
        var reply = client.SendMessageAsync("Subject: under way\r\n\r\nBody\r\n"); // counted from its MAIL on; the milter sleeps 5 s at its end

        relay.Terminate();
        await relay.WaitForLineAsync(StoppingLine(), Patience);
        if (secondSignal)
        {
            relay.Terminate();
        }

        Assert.That((await reply.WaitAsync(Patience)).Code, Is.EqualTo(expected));
        Assert.That(await relay.ExitCodeAsync(Patience), Is.Zero);
        var stored = Directory.Exists(Path.Combine(Folder.Path, "mail", "new")) ? Directory.GetFiles(Path.Combine(Folder.Path, "mail", "new")).Length : 0;
        Assert.Multiple(() =>
        {
            Assert.That(stored, Is.EqualTo(secondSignal ? 0 : 1));
            Assert.That(relay.Output, secondSignal ? Does.Contain("[7008] 1 message(s) still under way at a second SIGTERM") : Does.Contain("[7007] every message under way has finished"));
            Assert.That(relay.Output, Does.Contain("[7006] stopped"));
        });
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

    /// <summary>The line a relay process prints once it listens on loopback, its port the first group.</summary>
    [GeneratedRegex(@"spamfilter-relay listening on 127\.0\.0\.1:(\d+)")]
    internal static partial Regex ListeningLine();

    [GeneratedRegex(@"\[7005\] stopping \(SIGTERM\): .* 1 message\(s\) under way")]
    private static partial Regex StoppingLine();

    [GeneratedRegex(@"option\.dat reloaded: \d+ option\(s\) changed")]
    private static partial Regex ReloadedLine();

    [GeneratedRegex(@"reload: slot 1 .*: PORT: .*")]
    private static partial Regex PortChangedLine();

    [GeneratedRegex(@"\[7014\] slot 1 filters no message")]
    private static partial Regex SlotNeverChosenLine();

    [GeneratedRegex(@"reload: .*: channel tcp_relay: .*")]
    private static partial Regex ChannelChangedLine();

    [GeneratedRegex(@"option\.dat not reloaded: .*")]
    private static partial Regex RefusedLine();

    [GeneratedRegex(@"^X-Milter: (\S+)", RegexOptions.Multiline)]
    private static partial Regex MilterHeader();
}
