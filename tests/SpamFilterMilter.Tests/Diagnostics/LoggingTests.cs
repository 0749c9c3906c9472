using Microsoft.Extensions.Logging;
using SpamFilterMilter.Diagnostics;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Diagnostics;

/// <summary>DEBUG=0 warnings and failures only; 1 one line per message; 2 every packet. Never the SOCKS password.</summary>
public class LoggingTests
{
    private static async Task<IReadOnlyList<LogEntry>> FilterTwoMessagesAsync(int debug, LogLevel hostLevel = LogLevel.Trace)
    {
        using var folder = new TempFolder();
        using var listener = new ScriptedMilterListener();
        using var logs = new CapturedLogs(hostLevel);
        await using (var plugin = TestPlugins.Create(folder, TestPlugins.Loopback(listener.Port, $"DEBUG={debug}\n"), logs))
        {
            for (var i = 0; i < 2; i++)
            {
                var milter = MilterScripts.RunAsync(listener, p => p.Code == 'E' ? [Raw.Packet('h', Raw.CString("X-A"), Raw.CString("b")), Raw.Packet('c')] : null);
                await plugin.FilterMessageAsync(new MessageSubmission
                {
                    Client = ClientInfo.Tcp(IPAddress.Loopback, 1),
                    MailFrom = "alice@example.org",
                    Recipients = [new EnvelopeRecipient("bob@example.com")],
                    Message = new MemoryStream(Encoding.ASCII.GetBytes("Subject: s\r\n\r\nbody\r\n")),
                });
                await milter;
            }
        }

        return logs.Entries.Where(e => e.Category == Log.Category).ToList();
    }

    [Test]
    public async Task DEBUG_0_writes_nothing_for_messages_that_go_well()
    {
        var entries = await FilterTwoMessagesAsync(0);

        Assert.That(entries.Where(e => e.Level >= LogLevel.Information), Is.Empty);
        Assert.That(entries.Where(e => e.EventId.Id is 3001 or 3002), Is.Empty);
    }

    [Test]
    public async Task DEBUG_1_writes_one_line_per_message_with_stages_verdict_and_time()
    {
        var entries = await FilterTwoMessagesAsync(1);

        var summaries = entries.Where(e => e.EventId.Id == 2001).ToList();
        Assert.That(summaries, Has.Count.EqualTo(2));
        Assert.That(summaries[0].Level, Is.EqualTo(LogLevel.Information));
        Assert.That(summaries[0].Message, Does.Match(
            @"^milter 127\.0\.0\.1:\d+: message [0-9A-F]+: connect=continue mail=continue rcpt=continue data=continue header=continue eoh=continue body=continue eom=accept; verdict accept, 1 edit\(s\); \d+\.\d ms$"));
        Assert.That(entries.Where(e => e.EventId.Id is 3001 or 3002), Is.Empty);
    }

    [Test]
    public async Task The_message_summary_of_a_plug_in_made_for_a_slot_names_the_slot_as_its_other_lines_do()
    {
        using var folder = new TempFolder();
        using var listener = new ScriptedMilterListener();
        using var logs = new CapturedLogs();
        await using (var plugin = new MilterPlugin(MilterOptions.Load(folder.Write("milter.opt", TestPlugins.Loopback(listener.Port, "DEBUG=1\n"))), logs, null, slot: 3))
        {
            var milter = MilterScripts.RunAsync(listener, _ => null);
            await plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = ClientInfo.Tcp(IPAddress.Loopback, 1),
                MailFrom = "alice@example.org",
                Recipients = [new EnvelopeRecipient("bob@example.com")],
                Message = new MemoryStream("Subject: s\r\n\r\nbody\r\n"u8.ToArray()),
            });
            await milter;
        }

        Assert.That(logs.Entries.Single(e => e.EventId.Id == 2001).Message, Does.StartWith($"milter 127.0.0.1:{listener.Port} (slot 3): message "));
    }

    [Test]
    public async Task DEBUG_2_adds_every_packet_decoded_and_in_hex()
    {
        var entries = await FilterTwoMessagesAsync(2);

        var sent = entries.Where(e => e.EventId.Id == 3001).Select(e => e.Message).ToList();
        var received = entries.Where(e => e.EventId.Id == 3002).Select(e => e.Message).ToList();
        Assert.That(sent, Has.Some.Match(@"> SMFIC_OPTNEG len=13 version=6 actions=ADDHDRS\|.*SETSYMLIST steps=NOCONNECT\|.*HDR_LEADSPC \| 00000006000001ff001fffff$"));
        Assert.That(sent, Has.Some.EndsWith("> SMFIC_HEADER len=11 \"Subject\" \"s\" | 5375626a656374007300"));
        Assert.That(sent, Has.Some.EndsWith("> SMFIC_CONNECT len=26 \"[127.0.0.1]\" family=4 port=1 address=\"127.0.0.1\" | 5b3132372e302e302e315d003400013132372e302e302e3100"));
        Assert.That(sent, Has.Some.Contains("> SMFIC_MAIL len=21 \"<alice@example.org>\""));
        Assert.That(received, Has.Some.Contains("< SMFIR_ADDHEADER len=7 \"X-A\" \"b\" | 582d410062"));
        Assert.That(entries.Count(e => e.EventId.Id == 2001), Is.EqualTo(2));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [Category("Integration")]
    public async Task The_SOCKS_password_is_never_logged_though_the_connection_used_it(int debug)
    {
        const string user = "milteruser";
        const string password = "Sup3r-Secret-Pw";
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var socks = await SocksServer.StartMicrosocksAsync(user, password); // lets only this user with this password through
        using var folder = new TempFolder();
        using var logs = new CapturedLogs();
        FilterVerdict verdict;
        await using (var plugin = DeployedPlugin.Create(milter.OptionFile(folder,
            $"DEBUG={debug}\nSOCKS_HOST=127.0.0.1\nSOCKS_PORT={socks.Port}\nSOCKS_USER={user}\nSOCKS_PASSWORD={password}\n"), logs))
        {
            verdict = await plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = ClientInfo.Tcp(IPAddress.Loopback, 1),
                MailFrom = "alice@example.org",
                Recipients = [new EnvelopeRecipient("bob@example.com")],
                Message = new MemoryStream("Subject: s\r\n\r\nbody\r\n"u8.ToArray()),
            });
        }

        Assert.That(verdict.Failure, Is.Null, $"the milter was reached through the SOCKS server, so the password was sent: {verdict.Failure}");
        if (debug > 0)
        {
            Assert.That(logs.Entries.Select(e => e.Message), Has.Some.Contains($"through SOCKS server 127.0.0.1:{socks.Port}"), "the connection logged went through SOCKS");
        }

        if (debug == 2)
        {
            Assert.That(logs.Entries.Select(e => e.Message), Has.Some.Contains("> SMFIC_"), "every packet was logged, in hex too");
        }

        Assert.That(logs.Entries.Where(e => e.Reveals(password)), Is.Empty, "no log line or exception holds the password, as text or as hex");
    }

    [TestCase(0, LogLevel.Warning, LogLevel.Information)]
    [TestCase(1, LogLevel.Information, LogLevel.Debug)]
    [TestCase(2, LogLevel.Debug, LogLevel.Trace)]
    public void The_plug_ins_own_standard_error_log_follows_DEBUG(int debug, LogLevel lowestShown, LogLevel highestHidden)
    {
        using var output = new StringWriter();
        using var factory = new StandardErrorLoggerFactory(new MilterOptions { Debug = debug }.DebugLogLevel, output);
        var logger = factory.CreateLogger(Log.Category);

        logger.Log(lowestShown, new EventId(4001), "shown", null, (s, _) => s);
        logger.Log(highestHidden, new EventId(4001), "hidden", null, (s, _) => s);

        Assert.That((logger.IsEnabled(lowestShown), logger.IsEnabled(highestHidden)), Is.EqualTo((true, false)));
        Assert.That(output.ToString(), Does.Match(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d \w{4}: SpamFilterMilter\[4001\] shown\n$"),
            "one line, dated, on the writer it was given");
    }

    // With the host's logger both apply: DEBUG says which lines the plug-in writes at all (2001 from 1, 3001/3002 at 2),
    // the host's level which of the lines written it keeps. The connection lines (1001, Debug) answer to the host's level alone.
    [TestCase(0, LogLevel.Trace, false, false, true)]
    [TestCase(1, LogLevel.Trace, true, false, true)]
    [TestCase(2, LogLevel.Trace, true, true, true)]
    [TestCase(2, LogLevel.Information, true, false, false)]
    [TestCase(2, LogLevel.Warning, false, false, false)]
    [TestCase(1, LogLevel.Debug, true, false, true)]
    public async Task With_the_hosts_logger_a_line_is_written_when_DEBUG_asks_for_it_and_the_hosts_level_keeps_it(
        int debug, LogLevel hostLevel, bool perMessage, bool traffic, bool connections)
    {
        var entries = await FilterTwoMessagesAsync(debug, hostLevel);

        Assert.That(
            (entries.Any(e => e.EventId.Id == 2001), entries.Any(e => e.EventId.Id is 3001 or 3002), entries.Any(e => e.EventId.Id == 1001)),
            Is.EqualTo((perMessage, traffic, connections)));
    }

    [Test]
    public async Task A_plug_in_a_host_created_for_a_slot_names_the_slot_in_its_lines()
    {
        using var folder = new TempFolder();
        using var logs = new CapturedLogs();
        var port = TestPlugins.ClosedPort();
        var optionFile = folder.Write("milter.opt", TestPlugins.Loopback(port));

        await using (var plugin = new MilterPluginFactory().Create(new SpamFilterPluginContext { ConfigFilePath = optionFile, Slot = 3, LoggerFactory = logs }))
        {
            await using var session = plugin.OpenSession();
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1));
        }

        var failure = logs.Entries.Single(e => e.EventId.Id == 4001).Message;
        Assert.That(failure, Does.StartWith($"milter 127.0.0.1:{port} (slot 3): connect: can't connect"));
        Assert.That(failure, Does.EndWith("; the verdict is the failure action tempfail, for the host to apply (an optional slot lets the message go on)"),
            "the plug-in does not apply the failure action: the host does, or lets the message go on");
        Assert.That(logs.Entries.Where(e => e.EventId.Id == 1002).Select(e => e.Message), Is.Not.Empty.And.All.StartWith($"milter 127.0.0.1:{port} (slot 3): "));
    }

    [Test]
    public async Task With_several_servers_the_line_that_passes_a_session_on_names_the_server_and_the_slot()
    {
        using var folder = new TempFolder();
        using var logs = new CapturedLogs();
        var (first, second) = (TestPlugins.ClosedPort(), TestPlugins.ClosedPort());
        var optionFile = folder.Write("milter.opt", $"HOST=127.0.0.1:{first},127.0.0.1:{second}\nTIMEOUT=500\n");

        await using (var plugin = new MilterPluginFactory().Create(new SpamFilterPluginContext { ConfigFilePath = optionFile, Slot = 3, LoggerFactory = logs }))
        {
            await using var session = plugin.OpenSession();
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1));
        }

        Assert.That(logs.Entries.Where(e => e.EventId.Id == 1007).Select(e => e.Message).Order(), Is.EqualTo(new[] { first, second }.Order()
            .Select(p => $"milter 127.0.0.1:{p} (slot 3): ")).Using<string, string>((actual, start) => actual.StartsWith(start, StringComparison.Ordinal)));
    }
}
