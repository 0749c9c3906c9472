using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SpamFilterMilter.Cli;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Tools.Tests.Cli;

/// <summary>spamfilter-milter check, probe and bench against a real libmilter milter, and their exit statuses.</summary>
[Category("Integration")]
public class CliTests : TempFolderTest
{
    private const string Message =
        "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\n"
        + "Hi Bob,\r\nline 2\r\nline 3\r\nline 4\r\nline 5\r\nline 6\r\nsee you\r\n";

    private sealed record Run(int Exit, string Output, string Error)
    {
        public JsonElement Json => JsonDocument.Parse(Output).RootElement;
    }

    private static async Task<Run> CliAsync(string[] args, string standardInput = "")
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var terminal = new Terminal(() => new MemoryStream(Encoding.UTF8.GetBytes(standardInput)), output, error,
            ErrorIsTerminal: false, _ => NullLoggerFactory.Instance);
        var exit = await CommandLine.RunAsync(args, terminal);
        return new Run(exit, output.ToString(), error.ToString());
    }

    private static string[] At(MilterProcess milter, params string[] args) =>
        [.. args, "--host", "127.0.0.1", "--port", milter.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    private string MessageFile(string text = Message) => Folder.Write("message.eml", text);

    private static Task<MilterProcess> EditingMilterAsync() => MilterProcess.StartLibmilterAsync(
        "-a", "eom=addheader:X-Spam-Flag:YES", "-a", "eom=chgheader:1:Subject:[SPAM] hello");

    [Test]
    public async Task Check_shows_each_stage_the_verdict_the_action_string_and_the_edited_message()
    {
        await using var milter = await EditingMilterAsync();

        var run = await CliAsync(At(milter, "check", MessageFile(), "--helo", "client.example.net"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var stages = run.Output.Split('\n').Where(l => l.StartsWith("  ", StringComparison.Ordinal) && l.EndsWith(" ms", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
        Assert.That(stages, Is.EqualTo(new[] { "connect", "helo", "mail", "rcpt", "data", "header", "header", "header", "eoh", "body", "eom" }));
        Assert.That(run.Output, Does.Contain("<alice@example.org>").And.Contain("<bob@example.com>"));
        Assert.That(run.Output, Does.Contain("verdict: string, accept (decided at eom)"));
        Assert.That(run.Output, Does.Contain("addheader :last \"X-Spam-Flag\" \"YES\";")
            .And.Contain("replaceheader :index 1 \"Subject\" \"[SPAM] hello\";"));
        Assert.That(run.Output, Does.Contain("edited message:\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: [SPAM] hello\r\nX-Spam-Flag: YES\r\n\r\nHi Bob,"));
        Assert.That(milter.Transcript().Where(l => l.Event is "mail" or "rcpt").Select(l => l.Fields[0]),
            Is.EqualTo(new[] { "<alice@example.org>", "<bob@example.com>" }), "the envelope comes from the From and To fields");
    }

    [Test]
    public async Task Check_with_diff_shows_the_changed_lines_and_their_context_only()
    {
        await using var milter = await EditingMilterAsync();

        var run = await CliAsync(At(milter, "check", MessageFile(), "--diff"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var diff = run.Output[run.Output.IndexOf("edited message (diff):", StringComparison.Ordinal)..];
        Assert.That(diff, Does.Contain("\n-Subject: hello\n+Subject: [SPAM] hello\n+X-Spam-Flag: YES\n"));
        Assert.That(diff, Does.Contain(" To: bob@example.com").And.Not.Contain("see you"));
    }

    [Test]
    public async Task Check_as_json_gives_scripts_the_stages_the_verdict_the_edits_and_the_envelope()
    {
        await using var milter = await EditingMilterAsync();

        var run = await CliAsync(At(milter, "check", MessageFile(), "--json", "--to", "carol@example.com", "--to", "dave@example.com"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var json = run.Json;
        Assert.That(json.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("stage").GetString()),
            Is.EqualTo(new[] { "connect", "mail", "rcpt", "rcpt", "data", "header", "header", "header", "eoh", "body", "eom" }));
        var verdict = json.GetProperty("verdict");
        Assert.That(verdict.GetProperty("kind").GetString(), Is.EqualTo("string"));
        Assert.That(verdict.GetProperty("action").GetString(), Is.EqualTo("accept"));
        Assert.That(verdict.GetProperty("edits").EnumerateArray().Select(e => e.GetProperty("type").GetString()),
            Is.EqualTo(new[] { "AddHeader", "ChangeHeader" }));
        Assert.That(verdict.GetProperty("edits")[0].GetProperty("name").GetString(), Is.EqualTo("X-Spam-Flag"));
        Assert.That(json.GetProperty("changed").GetBoolean(), Is.True);
        Assert.That(json.GetProperty("editedMessage").GetString(), Does.Contain("Subject: [SPAM] hello\r\n"));
        Assert.That(json.GetProperty("envelope").GetProperty("to").EnumerateArray().Select(t => t.GetProperty("address").GetString()),
            Is.EqualTo(new[] { "carol@example.com", "dave@example.com" }));
    }

    [Test]
    public async Task Check_as_json_gives_a_header_value_that_is_not_UTF8_as_text_and_as_its_bytes()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Latin:caf\\xe9", "-a", "eom=addheader:X-Utf8:caf\\xc3\\xa9");

        var run = await CliAsync(At(milter, "check", MessageFile(), "--json"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var edits = run.Json.GetProperty("verdict").GetProperty("edits");
        Assert.That(edits[0].GetProperty("value").GetString(), Is.EqualTo(" caf\uFFFD"));
        Assert.That(Convert.FromBase64String(edits[0].GetProperty("valueBase64").GetString()!), Is.EqualTo(new byte[] { 0x20, 0x63, 0x61, 0x66, 0xE9 }));
        Assert.That(edits[1].GetProperty("value").GetString(), Is.EqualTo(" caf\u00E9"));
        Assert.That(edits[1].TryGetProperty("valueBase64", out _), Is.False, "UTF-8 needs no second form");
    }

    [Test]
    public async Task Check_reads_standard_input_and_reports_a_rejection_with_the_stage_that_decided_it()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "header/lottery=reply:550:5.7.1:No lotteries here");

        var run = await CliAsync(At(milter, "check", "-"), "From: a@example.org\r\nTo: b@example.com\r\nSubject: lottery winner\r\n\r\nYou won\r\n");

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), "a rejection is the milter working");
        Assert.That(run.Output, Does.Contain("verdict: string, reject (decided at header)"));
        Assert.That(run.Output, Does.Contain("reply: 550 5.7.1 No lotteries here"));
        Assert.That(run.Output, Does.Not.Contain("  eoh "), "an SMTP server stops at the rejection");
    }

    [Test]
    public async Task Check_shows_the_action_string_the_plug_in_gives_a_host_when_one_recipient_is_refused()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "rcpt/carol@=reply:550:5.1.1:No such user");
        var file = MessageFile();

        var run = await CliAsync(At(milter, "check", file, "--to", "carol@example.com", "--to", "dave@example.com"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var options = new SpamFilterMilter.Options.MilterOptions { Host = "127.0.0.1", Port = milter.Port };
        await using var plugin = new SpamFilterMilter.Plugin.MilterPlugin(options, NullLoggerFactory.Instance);
        var host = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = ClientInfo.Tcp(System.Net.IPAddress.Parse("192.0.2.1"), 25),
            MailFrom = "alice@example.org",
            Recipients = [new EnvelopeRecipient("carol@example.com"), new EnvelopeRecipient("dave@example.com")],
            Message = File.OpenRead(file),
        });
        Assert.That(host.Text, Does.Contain("rejectrecipient \"carol@example.com\" \"550 5.1.1 No such user\";"));
        Assert.That(run.Output, Does.Contain("verdict: string, accept (decided at eom)"));
        Assert.That(run.Output, Does.Contain("\naction:\n  " + host.Text!.Replace("\n", "\n  ", StringComparison.Ordinal) + "\n"),
            "check prints the very action string a host gets");
        Assert.That(run.Output, Does.Contain("  rcpt     <carol@example.com>").And.Contain("  eom "), "the message goes on to the other recipient");
    }

    [Test]
    public async Task Check_passes_the_connection_facts_and_macros_the_options_give()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j {client_addr}");

        var run = await CliAsync(At(milter, "check", MessageFile(), "--client-address", "198.51.100.7", "--client-name", "mx.example.net",
            "--client-port", "2525", "--macro", "j=mta.example.com", "--from", "bounce@example.org", "--option", "CONNECT_MACROS=j {client_addr}"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Single(l => l.Event == "connect").Fields, Is.EqualTo(new[] { "mx.example.net", "4", "2525", "198.51.100.7" }));
        Assert.That(transcript.Where(l => l.Event == "macro" && l.Fields[0] == "connect").Select(l => $"{l.Fields[1]}={l.Fields[2]}"),
            Is.EquivalentTo(new[] { "j=mta.example.com", "{client_addr}=198.51.100.7" }));
        Assert.That(transcript.Single(l => l.Event == "mail").Fields[0], Is.EqualTo("<bounce@example.org>"));
    }

    [Test]
    public async Task Check_sends_MAIL_and_RCPT_parameters_as_separate_arguments_and_shows_them()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var run = await CliAsync(At(milter, "check", MessageFile(), "--json", "--from", "<a@example.com> BODY=8BITMIME SIZE=12",
            "--to", "<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;b@example.org", "--to", "c@example.org"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Single(l => l.Event == "mail").Fields, Is.EqualTo(new[] { "<a@example.com>", "BODY=8BITMIME", "SIZE=12" }));
        Assert.That(transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields), Is.EqualTo(new[]
        {
            new[] { "<b@example.org>", "NOTIFY=SUCCESS", "ORCPT=rfc822;b@example.org" },
            new[] { "<c@example.org>" },
        }));
        var envelope = run.Json.GetProperty("envelope");
        Assert.That(envelope.GetProperty("from").GetString(), Is.EqualTo("a@example.com"));
        Assert.That(Strings(envelope.GetProperty("mailParameters")), Is.EqualTo(new[] { "BODY=8BITMIME", "SIZE=12" }));
        Assert.That(envelope.GetProperty("to").EnumerateArray().Select(t => (t.GetProperty("address").GetString(), string.Join(' ', Strings(t.GetProperty("parameters"))))),
            Is.EqualTo(new[] { ("b@example.org", "NOTIFY=SUCCESS ORCPT=rfc822;b@example.org"), ("c@example.org", "") }));
        Assert.That(run.Json.GetProperty("editedEnvelope").ToString(), Is.EqualTo(envelope.ToString()), "the milter changed nothing");
        Assert.That(run.Json.GetProperty("stages").EnumerateArray().Where(s => s.GetProperty("stage").GetString() is "mail" or "rcpt").Select(s => s.GetProperty("argument").GetString()),
            Is.EqualTo(new[] { "<a@example.com> BODY=8BITMIME SIZE=12", "<b@example.org> NOTIFY=SUCCESS ORCPT=rfc822;b@example.org", "<c@example.org>" }));
    }

    [Test]
    public async Task Check_shows_the_envelope_after_the_milters_sender_change_and_added_recipient_with_their_parameters()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-a", "eom=chgfrom:<bounce@example.org>:RET=FULL", "-a", "eom=addrcpt_par:<added@example.org>:NOTIFY=NEVER");
        var args = At(milter, "check", MessageFile(), "--from", "<a@example.com> BODY=8BITMIME", "--to", "<b@example.org> NOTIFY=DELAY");

        var json = await CliAsync([.. args, "--json"]);
        var text = await CliAsync(args);

        Assert.That(json.Exit, Is.EqualTo((int)ToolExitCode.Success), json.Error);
        var edited = json.Json.GetProperty("editedEnvelope");
        Assert.That(edited.GetProperty("from").GetString(), Is.EqualTo("bounce@example.org"));
        Assert.That(Strings(edited.GetProperty("mailParameters")), Is.EqualTo(new[] { "BODY=8BITMIME", "RET=FULL" }), "the client's BODY stays, as in Postfix");
        Assert.That(edited.GetProperty("to").EnumerateArray().Select(t => (t.GetProperty("address").GetString(), string.Join(' ', Strings(t.GetProperty("parameters"))))),
            Is.EqualTo(new[] { ("b@example.org", "NOTIFY=DELAY"), ("added@example.org", "NOTIFY=NEVER") }));
        Assert.That(Strings(json.Json.GetProperty("envelope").GetProperty("mailParameters")), Is.EqualTo(new[] { "BODY=8BITMIME" }), "the envelope sent is kept apart");
        Assert.That(text.Output, Does.Contain("edited envelope:\n  MAIL FROM:<bounce@example.org> BODY=8BITMIME RET=FULL\n"
            + "  RCPT TO:<b@example.org> NOTIFY=DELAY\n  RCPT TO:<added@example.org> NOTIFY=NEVER\n"));
    }

    [Test]
    public async Task Check_passes_the_server_and_PTR_facts_the_plug_in_derives_its_macros_from()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j {daemon_name} {daemon_addr} {daemon_port} _ i");

        var run = await CliAsync(At(milter, "check", MessageFile(), "--client-address", "198.51.100.7", "--client-ptr", "ptr.example.net",
            "--client-port", "40123", "--server-address", "192.0.2.25", "--server-port", "587", "--server-name", "mx.test.example",
            "--macro", "i=4XyZ1Q", "--option", "CONNECT_MACROS=j {daemon_name} {daemon_addr} {daemon_port} _"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Single(l => l.Event == "connect").Fields, Is.EqualTo(new[] { "[198.51.100.7]", "4", "40123", "198.51.100.7" }));
        Assert.That(transcript.Where(l => l.Event == "macro" && l.Fields[0] == "connect").Select(l => $"{l.Fields[1]}={l.Fields[2]}"), Is.EquivalentTo(new[]
        {
            "j=mx.test.example", "{daemon_name}=mx.test.example", "{daemon_addr}=192.0.2.25", "{daemon_port}=587",
            "_=ptr.example.net [198.51.100.7] (may be forged)",
        }));
        Assert.That(transcript.Where(l => l.Event == "macro" && l.Fields[0] == "eom").Single(l => l.Fields[1] == "i").Fields[2], Is.EqualTo("4XyZ1Q"));
    }

    [Test]
    public async Task Check_sends_nothing_when_an_envelope_argument_is_malformed()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var run = await CliAsync(At(milter, "check", MessageFile(), "--from", "<a@example.com BODY=8BITMIME"));
        var next = await CliAsync(At(milter, "check", MessageFile(), "--from", "<a@example.com> BODY=8BITMIME"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(run.Error, Does.StartWith("--from: \"<a@example.com BODY=8BITMIME\": unbalanced '<' (no '>' closes the path)"));
        Assert.That(next.Exit, Is.EqualTo((int)ToolExitCode.Success), next.Error);
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Count(l => l.Event == "negotiate"), Is.EqualTo(1), "only the well-formed check connected");
        Assert.That(transcript.Single(l => l.Event == "mail").Fields, Is.EqualTo(new[] { "<a@example.com>", "BODY=8BITMIME" }));
    }

    private static IEnumerable<string?> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString());

    [Test]
    public async Task Check_exits_with_1_and_names_the_failed_stage_when_the_milter_cannot_be_reached()
    {
        var port = ServerProcess.FreePort();

        var run = await CliAsync(["check", MessageFile(), "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(run.Output, Does.Contain("FAILED: connect").And.Contain("verdict: failure"));
        Assert.That(run.Output, Does.Contain("\n  tempfail \"451 4.7.1 Service unavailable - try again later\";"), "the default FAILURE_ACTION");
    }

    [Test]
    public async Task Check_in_blocking_mode_with_options_from_the_command_line_works_the_same()
    {
        await using var milter = await EditingMilterAsync();
        await using var slow = await MilterProcess.StartLibmilterAsync("-a", "eom=sleep:1000");

        var run = await CliAsync(At(milter, "check", MessageFile(), "--json", "--option", "IO_MODE=blocking", "--option", "TIMEOUT=500"));
        var timedOut = await CliAsync(At(slow, "check", MessageFile(), "--json", "--option", "IO_MODE=blocking", "--option", "TIMEOUT=20",
            "--option", "FAILURE_ACTION=reject"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        Assert.That(run.Json.GetProperty("verdict").GetProperty("edits").GetArrayLength(), Is.EqualTo(2));
        Assert.That(timedOut.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        var verdict = timedOut.Json.GetProperty("verdict");
        Assert.That(verdict.GetProperty("failure").GetString(), Does.Contain("timed out after 0.2 s"), "TIMEOUT=20 given on the command line counts");
        Assert.That(verdict.GetProperty("action").GetString(), Is.EqualTo("reject"), "and so does FAILURE_ACTION");
    }

    [Test]
    public async Task Check_reads_an_option_file_as_the_plug_in_does()
    {
        await using var milter = await EditingMilterAsync();
        var config = milter.OptionFile(Folder);

        var run = await CliAsync(["check", MessageFile(), "--config", config, "--json"]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        Assert.That(run.Json.GetProperty("milter").GetString(), Is.EqualTo($"milter 127.0.0.1:{milter.Port}"));
    }

    private static readonly object[] BadUsage =
    [
        new object[] { new[] { "check", "message.eml" }, "Say which milter" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1" }, "--host 127.0.0.1 needs --port, the milter's TCP port" },
        new object[] { new[] { "probe", "--host", "127.0.0.1", "--port", "abc" }, "--port: \"abc\" is not a whole number." },
        new object[] { new[] { "bench", "--host", "127.0.0.1", "--port", "1", "-n", "99999999999" }, "-n: 99999999999 is too large." },
        new object[] { new[] { "bench", "--host", "127.0.0.1", "--port", "1", "--warmup-time", "soon" }, "--warmup-time: \"soon\" is not a number." },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--debug", "7" }, "--debug: 7 is too large: out of range (0 to 2)" },
        new object[] { new[] { "check", "message.eml", "--config", "milter.opt", "--debug", "-1" }, "--debug: -1 is too small: out of range (0 to 2)" },
        new object[] { new[] { "bench", "--host", "127.0.0.1", "--port", "1", "-c", "0" }, "--connections: 0: at least one connection is needed." },
        new object[] { new[] { "bench", "--host", "127.0.0.1", "--port", "1", "-s", "-1" }, "--size: -1: a body of 0 bytes or more is needed." },
        new object[] { Array.Empty<string>(), "Commands: check, probe, check-config, bench, soak (" },
        new object[] { new[] { "soak", "--host", "127.0.0.1", "--port", "1", "--duration", "0" }, "--duration: 0: more than 0 seconds is needed." },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--option", "TIMEOUT=soon" }, "TIMEOUT" },
        new object[] { new[] { "check", "message.eml", "--config", "milter.opt", "--option", "TIMEOUT=soon" }, "(command line): option TIMEOUT: \"soon\" is not a whole number" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--option", "TIMEOUT" }, "expected NAME=VALUE" },
        new object[] { new[] { "probe", "--host", "127.0.0.1", "--port", "1", "--option", "SOCKS_PASSWORDhunter2" }, "its text is not shown: it may hold a password" },
        new object[] { new[] { "probe", "--host", "127.0.0.1", "--port", "1", "--option", "=x" }, "--option: expected NAME=VALUE, but one has no name before its '='." },
        new object[] { new[] { "probe", "--host", "127.0.0.1", "--port", "1", "--option", "TIMEOUT=100", "--option", "timeout=200" }, "--option timeout: given twice." },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--macro", "novalue" }, "expected NAME=VALUE" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--macro", "j=mx\rx" }, "a control character in the value of j" },
        new object[] { new[] { "check", "message.eml", "--colour" }, "--colour" },
        new object[] { new[] { "check", "--frob", "--host", "127.0.0.1", "--port", "1" }, "Unrecognized command or argument '--frob'." },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--from", "<a@example.com BODY=8BITMIME" }, "--from: \"<a@example.com BODY=8BITMIME\": unbalanced '<'" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--from", "a@example.com> SIZE=1" }, "--from: \"a@example.com> SIZE=1\": unbalanced '>'" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--to", "<b@example.org> X_Y=1" }, "--to: \"X_Y=1\" is not an ESMTP parameter (keyword[=value])" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--to", "<b@example.org> NOTIFY=" }, "--to: \"NOTIFY=\" is not an ESMTP parameter (keyword[=value]): the value after '=' is empty" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--to", "<b@example.org>\r\nRCPT TO:<evil@example.net>" }, "--to: a control character (\"\\r\")" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--to", "<>" }, "--to \"<>\": the recipient is empty" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--client-port", "70000" }, "--client-port: 70000 is not a TCP port" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--server-address", "nowhere" }, "--server-address: \"nowhere\" is not an IP address" },
        new object[] { new[] { "check", "message.eml", "--host", "127.0.0.1", "--port", "1", "--macro", "j=a", "--macro", "j=b" }, "--macro j: given twice" },
        new object[] { new[] { "bench", "--host", "127.0.0.1", "--port", "1", "-n", "2", "-c", "3" }, "at least one transaction per connection" },
        new object[] { new[] { "frobnicate" }, "'frobnicate'" },
        new object[] { new[] { "frobnicate" }, "Commands: check, probe, check-config, bench, soak (" },
    ];

    [TestCaseSource(nameof(BadUsage))]
    public async Task Bad_usage_exits_with_2_and_says_what_is_wrong(string[] args, string said)
    {
        MessageFile();
        Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\nDEBUG=2\n");
        var inFolder = args.Select(a => a.EndsWith(".eml", StringComparison.Ordinal) || a.EndsWith(".opt", StringComparison.Ordinal) ? Path.Combine(Folder.Path, a) : a).ToArray();

        var run = await CliAsync(inFolder);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(run.Error, Does.Contain(said));
    }

    [Test]
    public async Task Soak_against_a_port_where_no_milter_listens_says_none_was_reached_and_exits_1()
    {
        var run = await CliAsync(["soak", "--host", "127.0.0.1", "--port", "1", "-c", "2", "--duration", "1", "--interval", "1"]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound), run.Output + run.Error);
        Assert.That(run.Output, Does.Contain("(0 with the milter's verdict").And.Contain("no message got the milter's verdict: is the milter running there?"));
    }

    [Test]
    public async Task An_option_without_an_equals_sign_is_refused_without_showing_what_may_be_a_password()
    {
        var run = await CliAsync(["probe", "--host", "127.0.0.1", "--port", "1", "--option", "SOCKS_PASSWORDhunter2"]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Usage));
        Assert.That(run.Error + run.Output, Does.Not.Contain("hunter2"));
    }

    [Test]
    public async Task A_bad_option_file_is_a_problem_found_exit_1_naming_the_file_the_line_and_the_option()
    {
        var config = Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=seventy\n");

        var run = await CliAsync(["probe", "--config", config]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound), "the reference host's exit status for a bad option file too");
        Assert.That(run.Error, Does.StartWith($"{config}:2: option PORT: "));
    }

    [Test]
    public async Task Every_wrong_line_of_an_option_file_is_said_not_the_first_alone()
    {
        var config = Folder.Write("milter.opt", "TIMEOUT=soon\n");

        var run = await CliAsync(["probe", "--config", config]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(run.Error.TrimEnd().Split('\n'), Is.EqualTo(new[]
        {
            $"{config}:1: option TIMEOUT: \"soon\" is not a whole number",
            $"{config}: option HOST: required option is missing",
            $"{config}: option PORT: required option is missing",
        }));
    }

    [Test]
    public async Task A_message_file_that_cannot_be_read_is_a_problem_found_exit_1_naming_it()
    {
        var missing = Path.Combine(Folder.Path, "no-such-message.eml");

        var run = await CliAsync(["check", missing, "--host", "127.0.0.1", "--port", "1"]);
        var folder = await CliAsync(["check", Folder.Path, "--host", "127.0.0.1", "--port", "1"]);

        Assert.That((run.Exit, folder.Exit), Is.EqualTo(((int)ToolExitCode.ProblemsFound, (int)ToolExitCode.ProblemsFound)));
        Assert.That(run.Error.TrimEnd(), Is.EqualTo($"{missing}: no such message file"));
        Assert.That(folder.Error.TrimEnd(), Is.EqualTo($"{Folder.Path}: is a folder, not a message file"), "not .NET's \"Access to the path is denied\"");
    }

    [Test]
    public async Task Check_logs_at_the_option_files_DEBUG_level_unless_debug_is_given()
    {
        var config = Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={ServerProcess.FreePort()}\nDEBUG=2\n");
        var levels = new List<int>();
        async Task<int> CheckAsync(params string[] more)
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            var terminal = new Terminal(() => new MemoryStream(Encoding.UTF8.GetBytes(Message)), output, error, ErrorIsTerminal: false,
                level => { levels.Add(level); return NullLoggerFactory.Instance; });
            return await CommandLine.RunAsync(["check", "-", "--config", config, .. more], terminal);
        }

        var fromFile = await CheckAsync();
        var fromCommandLine = await CheckAsync("--debug", "0");

        Assert.That((fromFile, fromCommandLine), Is.EqualTo(((int)ToolExitCode.ProblemsFound, (int)ToolExitCode.ProblemsFound)), "nothing listens: the failure outcome");
        Assert.That(levels, Is.EqualTo(new[] { 2, 0 }), "the option file's DEBUG=2, then --debug 0 in its place");
    }

    [Test]
    public async Task Probe_says_in_words_what_the_milter_asked_for()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-P", "NR_HDR,NOUNKNOWN", "-A", "ADDHDRS,QUARANTINE,SETSYMLIST", "-S", "mail:{mail_addr} i");

        var run = await CliAsync(At(milter, "probe"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        Assert.That(run.Output, Does.Contain("protocol version:  6\n"));
        Assert.That(run.Output, Does.Contain("may:               add and insert headers, quarantine, ask for macros\n"));
        Assert.That(run.Output, Does.Contain("does not want:     unknown commands\n"));
        Assert.That(run.Output, Does.Contain("does not answer:   headers\n"));
        Assert.That(run.Output, Does.Contain("also understands:  SKIP"));
        Assert.That(run.Output, Does.Match(@"macros at MAIL:\s+\{mail_addr\} i\n"));
    }

    [Test]
    public async Task Probe_offers_what_the_plug_in_would_offer_with_the_same_options()
    {
        using var listener = new ScriptedMilterListener();
        var milter = Task.Run(async () =>
        {
            await using var scripted = await listener.AcceptAsync();
            var offer = await scripted.ExpectAsync('O');
            var offeredProtocol = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(offer.Payload.AsSpan(8));
            await scripted.SendAsync(Raw.OptNeg(6, 0x1FF, 0x20000000)); // SMFIP_MDS_1M accepted
            return offeredProtocol;
        });

        var run = await CliAsync(["probe", "--host", "127.0.0.1", "--port", listener.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--option", "OFFER_MDS=1m"]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        Assert.That(await milter & 0x20000000u, Is.Not.Zero, "OFFER_MDS=1m offers SMFIP_MDS_1M, as the plug-in does");
        Assert.That(run.Output, Does.Contain("largest packet:    1048575 bytes\n"));
    }

    [Test]
    public async Task Probe_as_json_lists_the_flags_and_macro_lists()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-A", "ADDHDRS,SETSYMLIST", "-S", "rcpt:{rcpt_addr}");

        var run = await CliAsync(At(milter, "probe", "--json"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var json = run.Json;
        Assert.That(json.GetProperty("version").GetInt32(), Is.EqualTo(6));
        Assert.That(json.GetProperty("remote").GetString(), Does.Contain(milter.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(json.GetProperty("actions").GetString(), Does.Contain("ADDHDRS").And.Contain("SETSYMLIST").And.Not.Contain("CHGBODY"));
        Assert.That(json.GetProperty("macros").GetProperty("RCPT").EnumerateArray().Select(m => m.GetString()), Is.EqualTo(new[] { "{rcpt_addr}" }));
    }

    [Test]
    public async Task Probe_exits_with_1_and_names_the_endpoint_when_nothing_listens()
    {
        var port = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var run = await CliAsync(["probe", "--host", "127.0.0.1", "--port", port]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(run.Error, Does.StartWith($"milter 127.0.0.1:{port}: "));
    }

    [Test]
    public async Task Probe_as_json_gives_scripts_the_failure_on_standard_output_too()
    {
        var port = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var run = await CliAsync(["probe", "--host", "127.0.0.1", "--port", port, "--json"]);

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(run.Json.GetProperty("milter").GetString(), Is.EqualTo($"127.0.0.1:{port}"));
        Assert.That(run.Json.GetProperty("failure").GetString(), Is.EqualTo($"can't connect to 127.0.0.1:{port}: Connection refused"));
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task Bench_runs_every_transaction_over_the_connections_and_reports_json(string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j", "-a", "eom=addheader:X-Bench:added");

        var run = await CliAsync(At(milter, "bench", "-n", "60", "-c", "3", "--warmup", "2", "--warmup-time", "0", "-s", "300", "--json", "--no-progress", "--option", "IO_MODE=" + io));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Output + run.Error);
        var json = run.Json;
        Assert.That(json.GetProperty("io").GetString(), Is.EqualTo(io));
        Assert.That(json.GetProperty("ioThreads").ValueKind, Is.EqualTo(JsonValueKind.Null), "IO_THREADS not set: the plug-in's default");
        Assert.That(json.GetProperty("transactions").GetInt32(), Is.EqualTo(60));
        Assert.That(json.GetProperty("warmupTransactions").GetInt32(), Is.EqualTo(3 * 2));
        Assert.That(json.GetProperty("failures").GetInt32(), Is.Zero);
        Assert.That(json.GetProperty("edited").GetInt32(), Is.EqualTo(60), "every verdict carried the added header");
        Assert.That(json.GetProperty("transactionsPerSecond").GetDouble(), Is.GreaterThan(0));
        var latency = json.GetProperty("latencyMs");
        Assert.That(latency.GetProperty("p50").GetDouble(), Is.GreaterThan(0).And.LessThanOrEqualTo(latency.GetProperty("p99").GetDouble()));
        Assert.That(json.GetProperty("cpuMicrosecondsPerTransaction").GetDouble(), Is.GreaterThan(0));
        Assert.That(json.GetProperty("allocatedBytesPerTransaction").GetDouble(), Is.GreaterThan(0).And.LessThan(1_000_000), "measured: a transaction allocates something, and not a message's worth");
        var transcript = await milter.TranscriptAfterAsync("close", 3);
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.EqualTo(60 + (3 * 2)), "every transaction, warm-up included, reached the milter");
        Assert.That(transcript.Where(l => l.Event == "body").Select(l => l.Fields[0]).Distinct(), Is.EqualTo(new[] { "300" }));
        Assert.That(transcript.Select(l => l.Connection).Distinct().Count(), Is.EqualTo(3));
        // Transactions go to whichever connection is free: the fewest and most one connection ran, as the milter saw them.
        var perConnection = json.GetProperty("transactionsPerConnection");
        var (fewest, most) = (perConnection.GetProperty("min").GetInt32(), perConnection.GetProperty("max").GetInt32());
        var perConnectionAtMilter = transcript.Where(l => l.Event == "eom").GroupBy(l => l.Connection).Select(g => g.Count() - 2).Order().ToArray();
        Assert.That((fewest, most), Is.EqualTo((perConnectionAtMilter[0], perConnectionAtMilter[^1])),
            "as the milter counted them (less each connection's 2 warm-up transactions)");
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task Bench_with_session_messages_opens_a_new_session_and_milter_connection_every_so_many_messages_and_a_pool_keeps_them(string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var pooled = await MilterProcess.StartLibmilterAsync();

        var fresh = await CliAsync(At(milter, "bench", "-n", "12", "-c", "2", "--warmup", "0", "--warmup-time", "0", "--session-messages", "3", "--json", "--no-progress", "--option", "IO_MODE=" + io));
        var pool = await CliAsync(At(pooled, "bench", "-n", "12", "-c", "2", "--warmup", "0", "--warmup-time", "0", "--session-messages", "3", "--json", "--no-progress",
            "--option", "IO_MODE=" + io, "--option", "POOL_SIZE=2"));

        Assert.That(fresh.Exit, Is.EqualTo((int)ToolExitCode.Success), fresh.Output + fresh.Error);
        Assert.That(fresh.Json.GetProperty("transactions").GetInt32(), Is.EqualTo(12));
        Assert.That(fresh.Json.GetProperty("sessionMessages").GetInt32(), Is.EqualTo(3));
        var transcript = await milter.TranscriptAfterAsync("close", 4);
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.EqualTo(12));
        Assert.That(transcript.Count(l => l.Event == "helo"), Is.EqualTo(4), "a session, with its connect and HELO events, every 3 messages");
        Assert.That(transcript.Select(l => l.Connection).Distinct().Count(), Is.EqualTo(4), "each session on a connection of its own");

        Assert.That(pool.Exit, Is.EqualTo((int)ToolExitCode.Success), pool.Output + pool.Error);
        var reused = await pooled.TranscriptAfterAsync("helo", 4);
        Assert.That(reused.Count(l => l.Event == "helo"), Is.EqualTo(4));
        Assert.That(reused.Select(l => l.Connection).Distinct().Count(), Is.EqualTo(2), "POOL_SIZE=2: the sessions reuse the 2 connections");
    }

    [TestCase("async")]
    [TestCase("blocking")]
    public async Task Bench_idle_holds_that_many_sessions_on_their_own_milter_connections_and_reports_the_memory_each_holds(string io)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var run = await CliAsync(At(milter, "bench", "--idle", "30", "--json", "--option", "IO_MODE=" + io));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Output + run.Error);
        var json = run.Json;
        Assert.That(json.GetProperty("idleSessions").GetInt32(), Is.EqualTo(30));
        Assert.That(json.GetProperty("failures").GetInt32(), Is.Zero);
        Assert.That(json.GetProperty("managedBytesPerSession").GetDouble(), Is.GreaterThan(0).And.LessThan(1_000_000), "measured: a session holds something, and not a megabyte");
        Assert.That(json.TryGetProperty("residentBytesPerSession", out _), Is.True);
        var transcript = await milter.TranscriptAfterAsync("close", 31);
        Assert.That(transcript.Count(l => l.Event == "helo"), Is.EqualTo(31), "the 30 and the one opened first, to warm up");
        Assert.That(transcript.Select(l => l.Connection).Distinct().Count(), Is.EqualTo(31));
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.Zero, "idle: no message");
    }

    [Test]
    public async Task Bench_with_stages_reports_the_milters_latency_per_stage_for_the_measured_transactions_only()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "rcpt=sleep:30");

        var run = await CliAsync(At(milter, "bench", "-n", "10", "-c", "2", "--warmup", "3", "--warmup-time", "0", "--stages", "--json", "--no-progress"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        var stages = run.Json.GetProperty("stages");
        Assert.That(stages.EnumerateObject().Select(p => (p.Name, p.Value.GetProperty("count").GetInt32())), Is.EquivalentTo(new[]
        {
            ("mail", 10), ("rcpt", 10), ("data", 10), ("header", 50), ("eoh", 10), ("body", 10), ("eom", 10),
        }));
        Assert.That(stages.GetProperty("rcpt").GetProperty("p50").GetDouble(), Is.GreaterThanOrEqualTo(30), "the milter sleeps at RCPT");
        Assert.That(stages.GetProperty("mail").GetProperty("p50").GetDouble(), Is.LessThan(30));
    }

    [Test]
    public async Task Bench_exits_with_1_and_shows_the_first_failure_when_the_milter_is_too_slow()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=sleep:1000");

        var run = await CliAsync(At(milter, "bench", "-n", "2", "-c", "1", "--warmup", "0", "--warmup-time", "0", "--no-progress", "--option", "TIMEOUT=20"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        // The first message timed out and broke the only connection's session; the second was never run: both failed.
        Assert.That(run.Output, Does.Match(@"failures\s+2 \(first: .*SMFIC_BODYEOB"));
    }

    [Test]
    public async Task Bench_against_a_milter_it_cannot_reach_reports_nothing_measured_not_the_speed_of_its_failures()
    {
        var port = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] args = ["bench", "--host", "127.0.0.1", "--port", port, "-n", "10", "-c", "2", "--warmup-time", "0", "--no-progress"];

        var text = await CliAsync(args);
        var json = await CliAsync([.. args, "--json"]);
        var renewed = await CliAsync([.. args, "--session-messages", "1"]); // each message a session: each failure timed

        Assert.That((text.Exit, json.Exit, renewed.Exit), Is.EqualTo(((int)ToolExitCode.ProblemsFound, (int)ToolExitCode.ProblemsFound, (int)ToolExitCode.ProblemsFound)));
        Assert.That(renewed.Output, Does.StartWith($"milter 127.0.0.1:{port}: nothing measured over 2 connection(s): every transaction failed\n"));
        Assert.That(text.Output, Does.StartWith($"milter 127.0.0.1:{port}: nothing measured over 2 connection(s): every transaction failed\n"));
        Assert.That(text.Output, Does.Contain($"failures        10 (first: milter 127.0.0.1:{port}: connect: can't connect to 127.0.0.1:{port}: Connection refused)"));
        Assert.That(text.Output, Does.Not.Contain("throughput"));
        Assert.That((json.Json.GetProperty("transactions").GetInt32(), json.Json.GetProperty("failures").GetInt32()), Is.EqualTo((0, 10)));
    }

    [Test]
    public async Task Bench_draws_progress_on_standard_error_and_ends_with_the_full_count()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var run = await CliAsync(At(milter, "bench", "-n", "20", "--warmup", "0", "--warmup-time", "0"));

        Assert.That(run.Exit, Is.EqualTo((int)ToolExitCode.Success), run.Error);
        Assert.That(run.Error.TrimEnd(), Does.Match(@"\[#{30}\] 20/20 +\d+ tx/s$"));
        Assert.That(run.Output, Does.Contain("20 transactions over 1 connection(s), 5 headers, 1024-byte body, async I/O"));
    }

    [Test]
    public async Task Bench_says_which_IO_THREADS_served_the_run_in_its_text_and_its_json()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var text = await CliAsync(At(milter, "bench", "-n", "20", "--warmup", "0", "--warmup-time", "0", "--no-progress", "--option", "IO_THREADS=3"));
        var json = await CliAsync(At(milter, "bench", "-n", "20", "--warmup", "0", "--warmup-time", "0", "--json", "--no-progress", "--option", "IO_THREADS=3"));

        Assert.That((text.Exit, json.Exit), Is.EqualTo(((int)ToolExitCode.Success, (int)ToolExitCode.Success)), text.Error + json.Error);
        Assert.That(text.Output, Does.Contain("1024-byte body, async I/O on IO_THREADS=3, after"));
        Assert.That(json.Json.GetProperty("ioThreads").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public async Task The_installed_command_reads_standard_input_and_sets_its_exit_status()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "mail=reject");
        var closed = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (rejected, rejectedOutput) = await RunExecutableAsync(Message, At(milter, "check", "-"));
        var (failed, _) = await RunExecutableAsync(Message, "check", "-", "--host", "127.0.0.1", "--port", closed);
        var (usage, _) = await RunExecutableAsync("", "check");

        Assert.That(rejected, Is.EqualTo((int)ToolExitCode.Success));
        Assert.That(rejectedOutput, Does.Contain("verdict: string, reject (decided at mail)"));
        Assert.That(failed, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(usage, Is.EqualTo((int)ToolExitCode.Usage));
    }

    [Test]
    public async Task The_installed_commands_log_lines_carry_the_date_and_the_failure_as_the_verdict()
    {
        var closed = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (exit, _, error) = await RunExecutableWithErrorAsync(Message, "check", "-", "--host", "127.0.0.1", "--port", closed, "--option", "TIMEOUT=500");

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(error, Does.Match($@"(^|\n)\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} [+-]\d\d:\d\d warn: SpamFilterMilter\[4001\] milter 127\.0\.0\.1:{closed}: connect: "),
            "a dated line with its offset from UTC, as the console logger writes it");
    }

    private static async Task<(int Exit, string Output)> RunExecutableAsync(string input, params string[] args)
    {
        var (exit, output, _) = await RunExecutableWithErrorAsync(input, args);
        return (exit, output);
    }

    private static Task<(int ExitCode, string Output, string Error)> RunExecutableWithErrorAsync(string input, params string[] args) =>
        ServerProcess.RunToEndAsync(Path.Combine(AppContext.BaseDirectory, "spamfilter-milter"), args, TimeSpan.FromSeconds(30), input);
}
