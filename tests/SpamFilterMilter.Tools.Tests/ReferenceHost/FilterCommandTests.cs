using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.ReferenceHost;

namespace SpamFilterMilter.Tools.Tests.ReferenceHost;

/// <summary>
/// The reference host's filter command on the samples of etc/ (option.dat, imta.cnf, directory.ldif,
/// envelope.txt, a sample message), with a real libmilter milter in place of the sample milter.
/// </summary>
[Category("Integration")]
public class FilterCommandTests : TempFolderTest
{
    private static readonly string Plugins = Path.Combine(AppContext.BaseDirectory, "plugins");

    /// <summary>etc/'s files copied next to each other, milter.opt pointing at <paramref name="port"/>.</summary>
    private string CopyEtc(int port)
    {
        foreach (var name in new[] { "option.dat", "imta.cnf", "directory.ldif", "envelope.txt" })
        {
            File.Copy(Repository.Path("etc/" + name), Path.Combine(Folder.Path, name));
        }

        Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={port}\nTIMEOUT=1000\n");
        return Folder.Path;
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string folder, string message, string channels = "imta.cnf")
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await FilterCommand.RunAsync(new FilterArguments(
            new FileInfo(Path.Combine(folder, "option.dat")),
            new FileInfo(Path.Combine(folder, channels)),
            new FileInfo(Path.Combine(folder, "envelope.txt")),
            new FileInfo(message),
            new FileInfo(Path.Combine(folder, "out.eml")),
            new DirectoryInfo(Plugins)), output, error, default);
        return (exit, output.ToString(), error.ToString());
    }

    [Test]
    public async Task It_prints_the_selection_the_verdict_and_the_action_and_writes_each_recipients_message()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES", "-a", "eom=quarantine:looks like a lottery scam");
        var folder = CopyEtc(milter.Port);
        var sample = Repository.Path("etc/samples/02-lottery.eml");

        var (exit, output, error) = await RunAsync(folder, sample);

        Assert.That((exit, error), Is.EqualTo((0, "")));
        var slot = $"slot 1 (milter 127.0.0.1:{milter.Port})";
        Assert.That(output, Does.Contain($"slot 1: {Path.Combine(Plugins, "SpamFilterMilter", "SpamFilterMilter.dll")} ({Path.Combine(folder, "milter.opt")}) loaded as milter 127.0.0.1:{milter.Port}"));
        Assert.That(output, Does.Contain($"{slot}: for <bob@example.com>: user (uid=bob,ou=people,o=example) has mailAntiUBEService (LDAP_OPTIN1) = spam, virus"));
        Assert.That(output, Does.Contain($"{slot}: not for <carol@example.com>: nothing opts it in"));
        Assert.That(output, Does.Contain($"{slot}: verdict string: require [\"editheader\", \"vnd.spamfiltermilter\"];"));
        Assert.That(output, Does.Contain($"{slot}: runs spamfilter1_action_0 (data:,require \"fileinto\";%0A$U%0Aaddtag \"[HELD]\";%0Afileinto \"Junk\";)"));
        Assert.That(output, Does.Contain("result for <bob@example.com>: quarantine (looks like a lottery scam)"));
        Assert.That(output, Does.Contain("result for <carol@example.com>: deliver"));

        var original = await File.ReadAllBytesAsync(sample);
        var bob = await File.ReadAllTextAsync(Path.Combine(folder, "out-1.eml"));
        Assert.That(bob, Does.Contain("Subject: [HELD] You are our lottery WINNER").And.Contain("X-Spam-Flag: YES"));
        Assert.That(await File.ReadAllBytesAsync(Path.Combine(folder, "out-2.eml")), Is.EqualTo(original), "carol's copy is the original");
        Assert.That(output, Does.Contain("  to:       folder \"Junk\""));
    }

    [Test]
    public async Task A_channel_that_opts_everyone_in_gives_one_message()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES");
        var folder = CopyEtc(milter.Port);
        // spam,virus: the values bob's own entry has too, so both recipients have the same opt-in values.
        Folder.Write("all.cnf", "tcp_local smtp mx sourcespamfilter1optin spam,virus\ntcp-daemon\n");

        var (exit, output, _) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"), "all.cnf");

        Assert.That(exit, Is.Zero);
        Assert.That(output, Does.Contain("for every recipient: source channel tcp_local has sourcespamfilter1optin spam,virus"));
        Assert.That(output, Does.Contain("result for <bob@example.com>, <carol@example.com>: deliver"));
        Assert.That(await File.ReadAllTextAsync(Path.Combine(folder, "out.eml")), Does.Contain("X-Spam-Flag: YES"));
    }

    [Test]
    public async Task A_configuration_error_is_reported_with_its_file_and_line_and_exit_code_1_each_of_them()
    {
        var folder = CopyEtc(1);
        File.AppendAllText(Path.Combine(folder, "option.dat"), "spamfilter9_library=x.dll\nspamfilter0_library=y.dll\n");

        var (exit, output, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        var lines = error.Trim().Split(Environment.NewLine);
        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(lines, Has.Length.EqualTo(2), "every wrong line, not the first alone");
        Assert.That(lines[0], Does.StartWith(Path.Combine(folder, "option.dat") + ":").And.EndWith("option spamfilter9_library: the slot number must be 1 to 8"));
        Assert.That(lines[1], Does.EndWith("option spamfilter0_library: the slot number must be 1 to 8"));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public async Task A_slot_whose_plug_in_is_not_loaded_still_filters_the_message_but_exits_with_1()
    {
        var folder = CopyEtc(1);
        File.AppendAllText(Path.Combine(folder, "option.dat"), "spamfilter2_library=missing.dll\nspamfilter2_config_file=milter.opt\nspamfilter2_optional=1\n");
        Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\nTIMEOUT=100\n");

        var (exit, output, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(output, Does.Contain($"slot 2: {Path.Combine(Plugins, "missing.dll")} ({Path.Combine(folder, "milter.opt")}) NOT LOADED: "));
        Assert.That(error, Is.EqualTo("1 slot(s) NOT LOADED: their plug-in could not be loaded or created (check-config says why)" + Environment.NewLine));
        Assert.That(File.Exists(Path.Combine(folder, "out.eml")) || File.Exists(Path.Combine(folder, "out-1.eml")), "the message was filtered and written all the same");
    }

    [Test]
    public async Task A_slot_whose_option_file_is_wrong_is_not_loaded_with_every_bad_line_printed()
    {
        var folder = CopyEtc(1);
        File.AppendAllText(Path.Combine(folder, "option.dat"), "spamfilter2_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter2_config_file=bad.opt\nspamfilter2_optional=1\n");
        Folder.Write("milter.opt", "HOST=127.0.0.1\nPORT=1\nTIMEOUT=100\n");
        Folder.Write("bad.opt", "HOST=127.0.0.1\nPORT=1\nTIMEOUT=soon\nMAX_EDITS=lots\n");

        var (exit, output, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        var bad = Path.Combine(folder, "bad.opt");
        Assert.That(exit, Is.EqualTo((int)ToolExitCode.ProblemsFound));
        Assert.That(output, Does.Contain($"({bad}) NOT LOADED: {bad}:3: option TIMEOUT: "));
        Assert.That(output, Does.Contain($"{Environment.NewLine}  also: {bad}:4: option MAX_EDITS: "), "every bad line, not the first alone");
        Assert.That(error, Is.EqualTo("1 slot(s) NOT LOADED: their plug-in could not be loaded or created (check-config says why)" + Environment.NewLine));
    }

    [Test]
    public async Task The_envelope_files_parameters_client_and_server_facts_macros_and_queue_id_reach_the_milter()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j {daemon_name} {daemon_addr} {daemon_port} {client_port} _ i {auth_authen}");
        var folder = CopyEtc(milter.Port);
        File.AppendAllText(Path.Combine(folder, "milter.opt"), "CONNECT_MACROS=j {daemon_name} {daemon_addr} {daemon_port} {client_port} _\n");
        File.WriteAllText(Path.Combine(folder, "envelope.txt"), """
            source tcp_local
            client 198.51.100.7 mail.example.net
            client-port 40123
            client-ptr ptr.example.net
            server-address 192.0.2.25
            server-port 587
            server-name mx.test.example
            helo mail.example.net
            queue-id 4XyZ1Q
            macro {auth_authen}=alice
            from <claims@prizes.example.net> BODY=8BITMIME SIZE=1234
            to <bob@example.com> ims-ms NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com
            to <carol@example.com> - NOTIFY=NEVER
            """);

        var (exit, output, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        Assert.That((exit, error), Is.EqualTo((0, "")));
        Assert.That(output, Does.Contain("MAIL FROM:<claims@prizes.example.net> BODY=8BITMIME SIZE=1234 (from channel tcp_local)")
            .And.Contain("RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com (to channel ims-ms)")
            .And.Contain("RCPT TO:<carol@example.com> NOTIFY=NEVER\n"), "carol has no channel");
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Single(l => l.Event == "connect").Fields, Is.EqualTo(new[] { "mail.example.net", "4", "40123", "198.51.100.7" }));
        Assert.That(transcript.Single(l => l.Event == "helo").Fields, Is.EqualTo(new[] { "mail.example.net" }));
        Assert.That(transcript.Single(l => l.Event == "mail").Fields, Is.EqualTo(new[] { "<claims@prizes.example.net>", "BODY=8BITMIME", "SIZE=1234" }));
        Assert.That(transcript.Single(l => l.Event == "rcpt").Fields, Is.EqualTo(new[] { "<bob@example.com>", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.com" }),
            "bob alone opted in (etc/directory.ldif)");
        Assert.That(ConnectMacros(transcript), Is.EquivalentTo(new[]
        {
            "j=mx.test.example", "{daemon_name}=mx.test.example", "{daemon_addr}=192.0.2.25", "{daemon_port}=587", "{client_port}=40123",
            "_=ptr.example.net [198.51.100.7] (may be forged)",
        }), "the facts as the file gives them");
        Assert.That(transcript.Single(l => l.Event == "macro" && l.Fields[0] == "mail" && l.Fields[1] == "{auth_authen}").Fields[2], Is.EqualTo("alice"));
        Assert.That(transcript.Where(l => l.Event == "macro" && l.Fields[0] == "eom" && l.Fields[1] == "i").Select(l => l.Fields[2]), Is.EqualTo(new[] { "4XyZ1Q" }));
    }

    [Test]
    public async Task Without_those_items_the_host_makes_up_no_facts_or_macros()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j {daemon_name} {daemon_addr} i");
        var folder = CopyEtc(milter.Port);
        File.WriteAllText(Path.Combine(folder, "envelope.txt"), "client 198.51.100.7\nfrom <claims@prizes.example.net>\nto <bob@example.com>\n");

        var (exit, _, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        Assert.That((exit, error), Is.EqualTo((0, "")));
        var transcript = await milter.TranscriptAfterAsync("eom");
        Assert.That(transcript.Single(l => l.Event == "connect").Fields, Is.EqualTo(new[] { "[198.51.100.7]", "4", "0", "198.51.100.7" }), "no port given: 0, unknown");
        Assert.That(ConnectMacros(transcript), Is.EquivalentTo(new[] { $"j={System.Net.Dns.GetHostName()}", $"{{daemon_name}}={System.Net.Dns.GetHostName()}" }),
            "the plug-in's own j and {daemon_name}: this machine's name; no {daemon_addr} without a server address");
        Assert.That(transcript.Any(l => l.Event == "helo"), Is.False, "no HELO given, none sent");
        var queueIds = transcript.Where(l => l.Event == "macro" && l.Fields[1] == "i").Select(l => l.Fields[2]).Distinct().ToList();
        Assert.That(queueIds, Has.Count.EqualTo(1).And.None.Empty, "the plug-in's own queue id");
    }

    private static IEnumerable<string> ConnectMacros(IEnumerable<TranscriptLine> transcript) =>
        transcript.Where(l => l.Event == "macro" && l.Fields[0] == "connect").Select(l => $"{l.Fields[1]}={l.Fields[2]}");

    [TestCase("from <a@example.org BODY=8BITMIME\nto <b@example.com>\n", 1, "from", "unbalanced '<' (no '>' closes the path)")]
    [TestCase("from <a@example.org>\nto <b@example.com> ims-ms X_Y=1\n", 2, "to", "\"X_Y=1\" is not an ESMTP parameter (keyword[=value]): a keyword is letters, digits and '-', starting with a letter or digit")]
    [TestCase("from <a@example.org> BODY=\nto <b@example.com>\n", 1, "from", "the value after '=' is empty")]
    [TestCase("from <a@example.org>\nto <>\n", 2, "to", "the recipient is empty")]
    [TestCase("client 192.0.2.1\nclient-port 70000\nfrom <a@example.org>\nto <b@example.com>\n", 2, "client-port", "\"70000\" is not a TCP port (0 to 65535)")]
    [TestCase("client-port 25\nfrom <a@example.org>\nto <b@example.com>\n", 0, "client", "client-port and client-ptr need a client line (the client's address)")]
    [TestCase("queue-id A1\nmacro i=B2\nfrom <a@example.org>\nto <b@example.com>\n", 2, "macro", "macro i is given twice (queue-id gives i)")]
    [TestCase("macro novalue\nfrom <a@example.org>\nto <b@example.com>\n", 1, "macro", "expected NAME=VALUE")]
    [TestCase("helo a.example\nhelo b.example\nfrom <a@example.org>\nto <b@example.com>\n", 2, "helo", "given twice")]
    public void A_malformed_envelope_item_is_an_error_naming_its_line(string envelope, int line, string item, string problem)
    {
        var path = Folder.Write("envelope.txt", envelope);

        var e = Assert.Throws<SpamFilterConfigurationException>(() => EnvelopeFile.Load(path));

        Assert.That((e!.Line, e.Option), Is.EqualTo((line, item)));
        Assert.That(e.Problem, Does.EndWith(problem));
    }

    [TestCase("frm <a@example.org>\n", "unknown keyword: expected source, client, client-port, client-ptr, server-address, server-port, server-name, helo, queue-id, macro, from or to")]
    [TestCase("from <a@example.org>\n", "an envelope needs a from line and at least one to line")]
    [TestCase("client not-an-ip\nfrom <a@example.org>\nto <b@example.com>\n", "\"not-an-ip\" is not an IP address")]
    [TestCase("helo a.example b.example\nfrom <a@example.org>\nto <b@example.com>\n", "wrong number of values (see the comment at the top of etc/envelope.txt)")]
    public async Task A_wrong_envelope_file_is_reported(string envelope, string problem)
    {
        var folder = CopyEtc(1);
        File.WriteAllText(Path.Combine(folder, "envelope.txt"), envelope);

        var (exit, _, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error.Trim(), Does.EndWith(problem));
    }

    [Test]
    public void The_sample_envelope_file_reads()
    {
        var envelope = EnvelopeFile.Load(Repository.Path("etc/envelope.txt"));

        Assert.That(envelope.SourceChannel, Is.EqualTo("tcp_local"));
        Assert.That(envelope.Envelope.MailFrom, Is.EqualTo("claims@prizes.example.net"));
        Assert.That(envelope.Envelope.Recipients.Select(r => (r.Address, envelope.Channels[r.Address])), Is.EqualTo(new[] { ("bob@example.com", "ims-ms"), ("carol@example.com", "ims-ms") }));
        Assert.That(envelope.Client!.HostName, Is.EqualTo("client.example.net"));
        Assert.That(envelope.Envelope.MailParameters, Is.EqualTo(new[] { "BODY=8BITMIME" }));
        Assert.That((envelope.Client.Port, envelope.Client.ServerAddress?.ToString(), envelope.Client.ServerPort, envelope.Client.ServerName),
            Is.EqualTo((49152, "192.0.2.25", 25, "mx.example.com")));
        var message = envelope.ToMessage(Encoding.ASCII.GetBytes("x"));
        Assert.That(message.HeloName, Is.EqualTo("client.example.net"));
        Assert.That(message.Macros, Is.Null, "the sample sets no macro: the plug-in derives them from the facts");
    }
}
