using System.CommandLine;
using System.Net;
using System.Text.RegularExpressions;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.Relay;
using SpamFilterMilter.SmtpServer;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>The relay's command line, as the README and docs/relay.md show it.</summary>
public partial class RelayCommandTests : TempFolderTest
{
    [Test]
    public void The_systemd_unit_docs_relay_md_shows_is_the_one_in_etc_and_its_command_line_parses()
    {
        var unit = File.ReadAllText(Repository.Path("etc/spamfilter-relay.service"));
        var shown = Regex.Match(File.ReadAllText(Repository.Path("docs/relay.md")), @"```ini\n(\[Unit\].*?)```", RegexOptions.Singleline).Groups[1].Value;
        var execStart = Regex.Match(unit, @"^ExecStart=\S+ ((?:.*\\\n)*.*)$", RegexOptions.Multiline).Groups[1].Value.Replace("\\\n", " ", StringComparison.Ordinal);

        Assert.That(unit, Does.EndWith(shown), "the docs show the file from [Unit] on");
        Assert.That(execStart, Does.Contain("--listen 0.0.0.0:25").And.Contain("--quarantine /var/lib/spamfilter-relay/quarantine"), "the whole command line, continuations joined");
        Assert.That(RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(execStart.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Errors, Is.Empty, execStart);
    }

    [Test]
    [Category("Integration")] // the sample milter listens on 127.0.0.1:8890, where etc/milter.opt points
    public async Task The_READMEs_command_relays_on_the_sample_milter_into_a_maildir_until_stopped()
    {
        var maildir = Path.Combine(Folder.Path, "mail");
        using var output = new ListeningWriter();
        using var error = new StringWriter();
        using var stop = new CancellationTokenSource();
        var run = RelayCommand.Create(output, error)
            .Parse(["--sample-milter", "--options", Repository.Path("etc/option.dat"), "--maildir", maildir, "--listen", "127.0.0.1:0"])
            .InvokeAsync(cancellationToken: stop.Token);

        var port = await output.ListeningPort.WaitAsync(TimeSpan.FromSeconds(30));
        var lottery = Folder.Write("lottery.eml", (await File.ReadAllTextAsync(Repository.Path("etc/samples/02-lottery.eml"))).TrimEnd('\n'));
        var swaks = await Swaks.SendAsync(port, "claims@prizes.example.net", ["bob@example.com"], lottery);
        await stop.CancelAsync();

        Assert.That(await run, Is.Zero, error.ToString());
        Assert.That(swaks.ExitCode, Is.Zero, swaks.ToString());
        var held = Directory.GetFiles(Path.Combine(maildir, ".Quarantine", "new")).Single();
        Assert.That(await File.ReadAllTextAsync(held), Does.Contain("Subject: [HELD] [SPAM] You are our lottery WINNER\n"));
        Assert.That(output.ToString(), Does.Contain("sample milter listening on 127.0.0.1:8890"));
    }

    [Test]
    public void The_READMEs_command_line_without_listen_parses_and_listens_on_the_default()
    {
        var result = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--sample-milter", "--options", "etc/option.dat", "--maildir", "/tmp/relay-mail"]);

        Assert.That(result.Errors.Select(e => e.Message), Is.Empty);
        Assert.That(result.GetValue<IPEndPoint[]>("--listen"), Is.EqualTo(new[] { new IPEndPoint(IPAddress.Loopback, 2525) }), "the address the README's swaks line sends to");
    }

    [Test]
    public void Listen_given_twice_listens_on_both()
    {
        var result = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--maildir", "m", "--listen", "0.0.0.0:25", "--listen", "[::]:25"]);

        Assert.That(result.Errors.Select(e => e.Message), Is.Empty);
        Assert.That(result.GetValue<IPEndPoint[]>("--listen"), Is.EqualTo(new[] { new IPEndPoint(IPAddress.Any, 25), new IPEndPoint(IPAddress.IPv6Any, 25) }));
    }

    [TestCase(new[] { "--options", "option.dat", "--next-hop", "mx.example.com", }, "--next-hop: \"mx.example.com\" is not host:port.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--next-hop", "a:25" }, "Give one of --next-hop and --maildir, not both.")]
    [TestCase(new[] { "--options", "option.dat" }, "Give one of --next-hop and --maildir: where the messages go.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--listen", "localhost" }, "--listen: \"localhost\" is not address:port.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--next-hop-timeout", "0" }, "--next-hop-timeout: 0: 1 to 3600 seconds.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--shutdown-timeout", "3601" }, "--shutdown-timeout: 3601: 0 to 3600 seconds.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--metrics-otlp", "127.0.0.1:4318" }, "--metrics-otlp: \"127.0.0.1:4318\" is not an http:// or https:// URL.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--metrics-otlp", "http://h:4318/v1/metrics", "--metrics-interval", "0" }, "--metrics-interval: 0: 1 to 3600 seconds.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--metrics-interval", "10" }, "--metrics-interval: only with --metrics-otlp.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--metrics-otlp", "http://127.0.0.1:4318" }, "--metrics-otlp: \"http://127.0.0.1:4318\" has no path: give the whole URL (a Collector's ends in /v1/metrics).")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--shutdown-timeout", "soon" }, "--shutdown-timeout: soon: 0 to 3600 seconds.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--exempt-network", "10.1.2.3/8" },
        "--exempt-network: \"10.1.2.3/8\" is not a network: an address, or an address and a prefix length with no bit set past it (10.0.0.0/8, 2001:db8::/32).")]
    [TestCase(new[] { "--options", "option.dat", "--next-hop", "mx:25", "--next-hop-tls", "secure" }, "--next-hop-tls: \"secure\" is not none, may, encrypt or verify.")]
    [TestCase(new[] { "--options", "option.dat", "--maildir", "m", "--next-hop-tls", "encrypt" }, "--next-hop-tls: only with --next-hop.")]
    [TestCase(new[] { "--options", "option.dat", "--next-hop", "mx:25", "--next-hop-tls-ca-file", "ca.pem" }, "--next-hop-tls-ca-file: only with --next-hop-tls verify.")]
    [TestCase(new[] { "--options", "option.dat", "--next-hop", "mx:25", "--next-hop-tls", "encrypt", "--next-hop-tls-name", "mx" }, "--next-hop-tls-name: only with --next-hop-tls verify.")]
    public void Wrong_usage_is_refused_with_the_reason(string[] args, string reason)
    {
        var result = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(args);

        Assert.That(result.Errors.Select(e => e.Message), Does.Contain(reason));
    }

    [Test]
    public async Task A_wrong_option_dat_is_reported_with_its_line_and_exit_status_1_as_the_other_tools_report_a_configuration_error()
    {
        var optionFile = Folder.Write("option.dat", "spamfilter9_library=x.dll\n");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0"])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString(), Does.StartWith($"{optionFile}:1: option spamfilter9_library:"));
    }

    [Test]
    public async Task A_next_hop_that_is_the_relays_own_listen_address_stops_it_at_its_start_with_exit_status_1_as_a_mail_loop()
    {
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--next-hop", "localhost:2526", "--listen", "0.0.0.0:2526", "--quarantine", Path.Combine(Folder.Path, "q")])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString().TrimEnd(), Is.EqualTo("--next-hop localhost:2526 is the relay's own --listen 0.0.0.0:2526: every message would come back to the relay, a mail loop"));
    }

    [TestCase("127.0.0.1:2525", "127.0.0.1:2525", true)]
    [TestCase("127.0.0.1:2525", "localhost:2525", true)]
    [TestCase("0.0.0.0:2525", "127.0.0.1:2525", true)]
    [TestCase("[::]:2525", "[::1]:2525", true)]
    [TestCase("0.0.0.0:2525", "0.0.0.0:2525", true)]
    [TestCase("[::1]:2525", "127.0.0.1:2525", false)] // another socket: IPv6 loopback is not IPv4's
    [TestCase("[::]:2525", "127.0.0.1:2525", false)]  // .NET's [::] is IPv6 alone
    [TestCase("127.0.0.1:2525", "127.0.0.2:2525", false)]
    [TestCase("192.0.2.7:25", "192.0.2.7:25", true)]
    [TestCase("0.0.0.0:2525", "127.0.0.1:25", false)]
    [TestCase("127.0.0.1:2525", "192.0.2.7:2525", false)]
    [TestCase("192.0.2.7:2525", "127.0.0.1:2525", false)]
    [TestCase("127.0.0.1:2525", "mx.example.com:2525", false)]
    public void A_next_hop_is_the_relays_own_address_only_when_a_message_would_come_straight_back(string listen, string nextHop, bool own) =>
        Assert.That(RelayServer.IsOwnAddress(NextHop.TryParse(nextHop)!, IPEndPoint.Parse(listen)), Is.EqualTo(own));

    [Test]
    public async Task A_slot_whose_plug_in_cannot_be_used_stops_the_relay_at_its_start_with_exit_status_1_and_every_problem_of_every_slot()
    {
        var milterOpt = Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\nTIMEOUT=soon\nDEBUG=7\n");
        var otherOpt = Folder.Write("other.opt", "HOST=127.0.0.1\nPORT=+1\n");
        var optionFile = Folder.Write("option.dat", $"spamfilter1_library={DeployedPlugin.Path}\nspamfilter1_config_file={milterOpt}\n"
            + $"spamfilter2_library={DeployedPlugin.Path}\nspamfilter2_config_file={otherOpt}\n");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0"])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound), "a reload refuses the same file; so does the start");
        Assert.That(error.ToString().TrimEnd().Split(Environment.NewLine), Is.EqualTo(new[]
        {
            $"{milterOpt}:3: option TIMEOUT: \"soon\" is not a whole number",
            $"{milterOpt}:4: option DEBUG: 7 is too large: out of range (0 to 2)",
            $"{otherOpt}:2: option PORT: \"+1\" is not a whole number (write it without a sign)",
        }), "what a reload would say, every line of it");
    }

    [Test]
    public async Task A_maildir_that_cannot_be_written_stops_the_relay_at_its_start_with_exit_status_1()
    {
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        var notAFolder = Folder.Write("file", "");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(notAFolder, "mail"), "--listen", "127.0.0.1:0"])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString(), Does.StartWith($"the maildir {Path.Combine(notAFolder, "mail")} cannot be written: "));
    }

    [Test]
    public async Task A_certificate_it_cannot_use_stops_the_relay_at_its_start_with_exit_status_1_naming_the_file()
    {
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        var (certificate, _) = TestCertificate.WritePem(TestCertificate.Create(), Folder);
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--tls-certificate", certificate])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString(), Does.StartWith($"cannot use {certificate} as the TLS certificate: "), "fullchain.pem has no key: --tls-key was left out");
    }

    [Test]
    public async Task A_port_it_cannot_listen_on_is_reported_with_exit_status_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var listen = taken.LocalEndpoint.ToString()!;
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", listen])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString(), Does.StartWith($"cannot listen on {listen}: "));
    }

    [Test]
    public async Task A_wrong_command_line_is_reported_with_exit_status_2_and_nothing_is_started()
    {
        using var error = new StringWriter();

        var exit = await RelayCommand.RunAsync(["--options", "option.dat", "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "nowhere"], TextWriter.Null, error);

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(error.ToString(), Is.EqualTo($"--listen: \"nowhere\" is not address:port.{Environment.NewLine}"));
        Assert.That(Directory.Exists(Path.Combine(Folder.Path, "mail")), Is.False, "nothing started: the maildir is made only when the relay runs");
    }

    [TestCase("--max-connections-per-client", "-1", "--max-connections-per-client: 0 or more.")]
    [TestCase("--max-message-size", "-1", "--max-message-size: 0 or more bytes.")]
    [TestCase("--max-message-size", "10MB", "--max-message-size: 0 or more bytes.")]
    public async Task A_limit_that_is_not_0_or_more_is_a_wrong_command_line(string option, string value, string message)
    {
        using var error = new StringWriter();

        var exit = await RelayCommand.RunAsync(["--options", "option.dat", "--maildir", Path.Combine(Folder.Path, "mail"), option, value], TextWriter.Null, error);

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(error.ToString(), Is.EqualTo(message + Environment.NewLine));
    }

    [TestCase(new string[0], 220, TestName = "By default the connection limit leaves loopback clients alone, as Postfix leaves mynetworks")]
    [TestCase(new[] { "--exempt-network", "192.0.2.0/24", "--exempt-network", "2001:db8::1" }, 421,
        TestName = "Exempt networks given replace loopback, so a second session from it is greeted 421")]
    public async Task The_connection_limit_exempts_the_networks_the_command_line_gives(string[] exempt, int secondGreeting)
    {
        await using var relay = await StartWithoutSlotsAsync(["--max-connections-per-client", "1", .. exempt]);
        var port = relay.Port;

        await using (var first = await SmtpLineClient.ConnectAsync(port))
        await using (var second = await SmtpLineClient.ConnectAsync(port))
        {
            Assert.That(first.Greeting.Code, Is.EqualTo(220));
            Assert.That(second.Greeting.Code, Is.EqualTo(secondGreeting), second.Greeting.Text);
        }

        await relay.StopAsync();
    }

    [Test]
    public async Task An_idle_client_is_answered_421_timeout_exceeded_after_the_read_timeout_and_a_busy_one_only_past_a_session_timeout_given()
    {
        await using var relay = await StartWithoutSlotsAsync("--server-name", "relay.example", "--read-timeout", "1", "--session-timeout", "3");
        var port = relay.Port;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await using (var idle = await SmtpLineClient.ConnectAsync(port))
        await using (var busy = await SmtpLineClient.ConnectAsync(port))
        {
            var started = DateTime.UtcNow;
            var busyEnd = KeepBusyAsync(busy, bound.Token);
            var idleReply = await idle.ReadReplyAsync(bound.Token);
            var (last, noops) = await busyEnd;

            Assert.Multiple(() =>
            {
                Assert.That(idleReply?.Text, Is.EqualTo("421 4.4.2 relay.example Error: timeout exceeded"));
                Assert.That(last.Text, Is.EqualTo("421 4.4.2 relay.example Error: timeout exceeded"));
                Assert.That(DateTime.UtcNow - started, Is.GreaterThan(TimeSpan.FromSeconds(2.5)), $"the busy one lasted past the read timeout ({noops} NOOPs)");
            });
        }

        await relay.StopAsync();
    }

    [Test]
    public async Task Recipients_past_max_recipients_get_452_and_twenty_unknown_commands_in_a_row_get_Postfixs_421_not_SmtpServers_silent_close()
    {
        await using var relay = await StartWithoutSlotsAsync("--server-name", "relay.example", "--max-recipients", "2", "--error-sleep-time", "0");
        var port = relay.Port;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await using (var client = await SmtpLineClient.ConnectAsync(port))
        {
            await client.SendAsync("EHLO client.example", bound.Token);
            await client.SendAsync("MAIL FROM:<a@example.org>", bound.Token);
            var rcpts = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                rcpts.Add((await client.SendAsync($"RCPT TO:<r{i}@example.com>", bound.Token)).Text);
            }

            var unknown = new List<int>();
            for (var i = 0; i < 20; i++)
            {
                unknown.Add((await client.SendAsync("BOGUS", bound.Token)).Code);
            }

            var last = await client.ReadReplyAsync(bound.Token);

            Assert.Multiple(() =>
            {
                Assert.That(rcpts[2], Is.EqualTo("452 4.5.3 Error: too many recipients"));
                Assert.That(unknown, Is.All.EqualTo(500), "SmtpServer's MaxRetryCount (5 in a row) does not close the session first");
                Assert.That(last?.Text, Is.EqualTo("421 4.7.0 relay.example Error: too many errors"));
            });
        }

        await relay.StopAsync();
    }

    [Test]
    public void Relay_domains_and_networks_are_read_each_given_again_for_more_and_networks_replace_loopback()
    {
        var given = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--maildir", "m",
            "--relay-domain", "example.com", "--relay-domain", ".example.com", "--relay-network", "192.0.2.0/24", "--relay-network", "2001:db8::1"]);
        var none = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--maildir", "m"]);

        Assert.Multiple(() =>
        {
            Assert.That(given.Errors, Is.Empty);
            Assert.That(given.GetValue<string[]>("--relay-domain"), Is.EqualTo(new[] { "example.com", ".example.com" }));
            Assert.That(given.GetValue<IPNetwork[]>("--relay-network"), Is.EqualTo(new[] { IPNetwork.Parse("192.0.2.0/24"), IPNetwork.Parse("2001:db8::1/128") }));
            Assert.That(none.GetValue<string[]>("--relay-domain"), Is.Empty, "none: no restriction by default");
            Assert.That(none.GetValue<IPNetwork[]>("--relay-network"), Is.EqualTo(SmtpServerFilteringOptions.DefaultRelayNetworks), "loopback by default");
        });
    }

    [Test]
    public void Dropped_header_fields_are_Postfixs_unless_given_each_given_again_for_more_and_an_empty_one_keeps_every_field()
    {
        static string[] Dropped(params string[] more) =>
            RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--maildir", "m", .. more]).GetValue<string[]>("--drop-header")!;

        Assert.Multiple(() =>
        {
            Assert.That(Dropped(), Is.EqualTo(new[] { "Bcc", "Content-Length", "Resent-Bcc", "Return-Path" }));
            Assert.That(Dropped("--drop-header", "X-Internal", "--drop-header", "Bcc"), Is.EqualTo(new[] { "X-Internal", "Bcc" }));
            Assert.That(Dropped("--drop-header", "bcc, content-length resent-bcc,return-path"), Is.EqualTo(new[] { "bcc", "content-length", "resent-bcc", "return-path" }),
                "a list as Postfix's message_drop_headers is written");
            Assert.That(Dropped("--drop-header", ""), Is.Empty);
        });
    }

    [TestCase("--drop-header", "Bcc:", "--drop-header: 'Bcc:' is not a header field name (printable ASCII, no colon, no blank; one name each).")]
    [TestCase("--drop-header", "X-Caf\u00e9", "--drop-header: 'X-Caf\u00e9' is not a header field name (printable ASCII, no colon, no blank; one name each).")]
    [TestCase("--drop-header", "Bcc,content-type", "--drop-header: 'content-type' cannot be dropped: a MIME field stays, as Postfix keeps it.")]
    [TestCase("--drop-header", "received", "--drop-header: 'received' cannot be dropped: the trace fields are what a mail loop is found by.")]
    [TestCase("--relay-domain", "user@example.com", "--relay-domain: \"user@example.com\" is not a domain: example.com, or .example.com for its subdomains.")]
    [TestCase("--relay-domain", "..example.com", "--relay-domain: \"..example.com\" is not a domain: example.com, or .example.com for its subdomains.")]
    [TestCase("--relay-domain", "-bad.example", "--relay-domain: \"-bad.example\" is not a domain: example.com, or .example.com for its subdomains.")]
    [TestCase("--relay-network", "10.1.2.3/8",
        "--relay-network: \"10.1.2.3/8\" is not a network: an address, or an address and a prefix length with no bit set past it (10.0.0.0/8, 2001:db8::/32).")]
    public void A_relay_domain_network_or_dropped_header_field_that_is_none_is_a_wrong_command_line(string option, string value, string reason)
    {
        var result = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--maildir", "m", option, value]);

        Assert.That(result.Errors.Select(e => e.Message), Does.Contain(reason));
    }

    [TestCase(new[] { "--relay-domain", "example.com" }, "<u@example.com>", "250 Ok", TestName = "A relay domain is accepted")]
    [TestCase(new[] { "--relay-domain", "example.com", "--relay-network", "192.0.2.0/24" }, "<u@example.org>", "554 5.7.1 <u@example.org>: Relay access denied",
        TestName = "A foreign domain from a client outside the relay networks is answered relay access denied")]
    [TestCase(new[] { "--relay-domain", "example.com" }, "<u@example.org>", "250 Ok", TestName = "A foreign domain from loopback, a relay network by default, is accepted")]
    [TestCase(new[] { "--relay-network", "192.0.2.0/24" }, "<u@example.com>", "554 5.7.1 <u@example.com>: Relay access denied",
        TestName = "A relay network alone lets only that network send")]
    [TestCase(new string[0], "<u@example.org>", "250 Ok", TestName = "Without either every recipient is accepted as before")]
    public async Task The_relay_restriction_the_command_line_asks_for_answers_RCPT(string[] args, string recipient, string reply)
    {
        await using var relay = await StartWithoutSlotsAsync(args);

        await using (var client = await SmtpLineClient.ConnectAsync(relay.Port))
        {
            await client.SendAsync("EHLO client.example");
            await client.SendAsync("MAIL FROM:<a@sender.example>");
            Assert.That((await client.SendAsync($"RCPT TO:{recipient}")).Text, Is.EqualTo(reply));
        }

        await relay.StopAsync();
    }

    /// <summary>
    /// The relay run in-process as its command line gives it, option.dat holding no slot, a maildir in the test's folder,
    /// on a free loopback port, with <paramref name="options"/> after those.
    /// </summary>
    private async Task<InProcessRelay> StartWithoutSlotsAsync(params string[] options)
    {
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        var output = new ListeningWriter();
        var error = new StringWriter();
        var stop = new CancellationTokenSource();
        var run = RelayCommand.Create(output, error)
            .Parse(["--options", optionFile, "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", .. options])
            .InvokeAsync(cancellationToken: stop.Token);
        return new InProcessRelay(await output.ListeningPort.WaitAsync(TimeSpan.FromSeconds(30)), run, stop, output, error);
    }

    /// <summary>A relay <see cref="StartWithoutSlotsAsync"/> started: stopped on disposal if the test did not stop it.</summary>
    private sealed class InProcessRelay(int port, Task<int> run, CancellationTokenSource stop, ListeningWriter output, StringWriter error) : IAsyncDisposable
    {
        public int Port => port;

        /// <summary>Stops the relay, as SIGTERM does, and asserts that it exited with 0.</summary>
        public async Task StopAsync()
        {
            await stop.CancelAsync();
            Assert.That(await run, Is.Zero, error.ToString());
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30)));
            stop.Dispose();
            output.Dispose();
            await error.DisposeAsync();
        }
    }

    /// <summary>NOOP every half second, within any read timeout, until the server answers something else: that, and how many NOOPs went before.</summary>
    private static async Task<(ClientReply Last, int Noops)> KeepBusyAsync(SmtpLineClient client, CancellationToken cancellationToken)
    {
        var noops = 0;
        ClientReply last;
        while ((last = await client.SendAsync("NOOP", cancellationToken)).Code == 250)
        {
            noops++;
            await Task.Delay(500, cancellationToken);
        }

        return (last, noops);
    }

    [TestCase("10.0.0.0/8", "10.0.0.0/8")]
    [TestCase("192.0.2.7", "192.0.2.7/32")]
    [TestCase("::1", "::1/128")]
    [TestCase("2001:db8::/32", "2001:db8::/32")]
    [TestCase("10", null, TestName = "An IPv4 address without its four parts is no network (.NET reads 10 as 0.0.0.10)")]
    [TestCase("10.0/8", null)]
    [TestCase("10.1.2.3/8", null, TestName = "A network with a bit set past its prefix is refused, not widened or narrowed")]
    [TestCase("10.0.0.0/33", null)]
    [TestCase("mail.example.com", null)]
    [TestCase("", null)]
    public void An_exempt_network_is_read_as_Postfixs_mynetworks_reads_one(string text, string? network) =>
        Assert.That(RelayCommand.NetworkOf(text)?.ToString(), Is.EqualTo(network));

    [Test]
    public void Without_next_hop_tls_the_next_hop_gets_opportunistic_TLS_as_Debians_Postfix_sends_it()
    {
        var result = RelayCommand.Create(TextWriter.Null, TextWriter.Null).Parse(["--options", "option.dat", "--next-hop", "mx.example.com:25"]);

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.GetValue<NextHopTlsLevel>("--next-hop-tls"), Is.EqualTo(NextHopTlsLevel.May));
        Assert.That(new RelayOptions { Listen = [], ServerName = "r", OptionFile = "o", PluginFolder = "p", Quarantine = "q" }.NextHopTls, Is.EqualTo(NextHopTlsLevel.May),
            "and so do the relay's options when not told");
    }

    [Test]
    public void At_verify_the_name_checked_is_the_next_hops_host_unless_given_and_the_CA_file_is_read_at_the_start()
    {
        var (_, _, root) = TestCertificate.CreateChain();
        var caFile = Folder.Write("ca.pem", root.ExportCertificatePem() + "\n");
        var options = new RelayOptions { Listen = [], ServerName = "r", OptionFile = "o", PluginFolder = "p", Quarantine = "q", NextHop = NextHop.TryParse("mx.example.com:25") };

        var byHost = NextHop.TlsFor(options with { NextHopTls = NextHopTlsLevel.Verify });
        var named = NextHop.TlsFor(options with { NextHopTls = NextHopTlsLevel.Verify, NextHopTlsName = "mail.example.com", NextHopTlsCaFile = caFile });

        Assert.That((byHost.Level, byHost.ServerName, byHost.TrustedAuthorities), Is.EqualTo((NextHopTlsLevel.Verify, "mx.example.com", (object?)null)), "the system's roots");
        Assert.That(named.ServerName, Is.EqualTo("mail.example.com"));
        Assert.That(named.TrustedAuthorities!.Select(c => c.Thumbprint), Is.EqualTo(new[] { root.Thumbprint }));
    }

    [Test]
    public async Task A_CA_file_it_cannot_use_stops_the_relay_at_its_start_with_exit_status_1_naming_the_file()
    {
        var optionFile = Folder.Write("option.dat", "! no slot\n");
        var caFile = Folder.Write("ca.pem", "not a certificate\n");
        using var error = new StringWriter();

        var exit = await RelayCommand.Create(TextWriter.Null, error)
            .Parse(["--options", optionFile, "--next-hop", "mx.example.com:25", "--listen", "127.0.0.1:0", "--next-hop-tls", "verify", "--next-hop-tls-ca-file", caFile])
            .InvokeAsync();

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error.ToString(), Does.StartWith($"cannot use --next-hop-tls-ca-file {caFile}: it holds no PEM certificate"));
    }

    [Test]
    public async Task A_key_without_a_certificate_is_a_wrong_command_line()
    {
        using var error = new StringWriter();

        var exit = await RelayCommand.RunAsync(["--options", "option.dat", "--maildir", Path.Combine(Folder.Path, "mail"), "--tls-key", "privkey.pem"], TextWriter.Null, error);

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(error.ToString(), Does.Contain("--tls-key: only with --tls-certificate."));
    }

    /// <summary>Collects what the relay prints, and finds the port in its "listening on" line.</summary>
    private sealed partial class ListeningWriter : StringWriter
    {
        private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<int> ListeningPort => _port.Task;

        public override void WriteLine(string? value)
        {
            lock (this)
            {
                base.WriteLine(value);
            }

            if (value is not null && ListeningLine().Match(value) is { Success: true } match)
            {
                _port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }

        public override string ToString()
        {
            lock (this)
            {
                return base.ToString();
            }
        }

        [GeneratedRegex(@"spamfilter-relay listening on 127\.0\.0\.1:(\d+)")]
        private static partial Regex ListeningLine();
    }
}
