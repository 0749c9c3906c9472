namespace SpamFilterMilter.Tests.Integration;

/// <summary>What a real libmilter milter receives from the plug-in, read from its transcript.</summary>
[Category("Integration")]
public class LibmilterContentTests : TempFolderTest
{
    private const string Message =
        "From: Alice <alice@example.org>\r\n" +
        "To: bob@example.com\r\n" +
        "Subject: hello\r\n" +
        "X-Tab:\tvalue\r\n" +
        "X-Two:  spaces\r\n" +
        "X-None:bare\r\n" +
        "Received: from a\r\n\tby b\r\n" +
        "\r\n" +
        "line one\nline two\r\n";

    private static MessageSubmission Submission(ClientInfo? client = null, string message = Message) => new()
    {
        Client = client ?? ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net"),
        HeloName = "client.example.net",
        MailFrom = "alice@example.org",
        MailParameters = ["SIZE=1234", "BODY=8BITMIME"],
        Recipients = [new EnvelopeRecipient("bob@example.com", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.com"]), new EnvelopeRecipient("carol@example.net")],
        Message = new MemoryStream(Encoding.UTF8.GetBytes(message)),
        OptIn = ["spam"],
        Macros = new Dictionary<string, string> { ["j"] = "mx.example.com", ["{daemon_name}"] = "smtp-in", ["{auth_authen}"] = "alice" },
    };

    private async Task<IReadOnlyList<TranscriptLine>> FilterAsync(MilterProcess milter, MessageSubmission submission, string extra = "")
    {
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, extra));
        var verdict = await plugin.FilterMessageAsync(submission);
        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        return await milter.TranscriptAfterAsync("close");
    }

    private static string[] Fields(IReadOnlyList<TranscriptLine> transcript, string @event) =>
        [.. transcript.Single(l => l.Event == @event).Fields];

    /// <summary>The macros the milter saw at the first <paramref name="event"/>.</summary>
    private static Dictionary<string, string> MacrosAt(IReadOnlyList<TranscriptLine> transcript, string @event) =>
        transcript.Where(l => l.Event == "macro" && l.Fields[0] == @event)
            .GroupBy(l => l.Fields[1]).ToDictionary(g => g.Key, g => g.First().Fields[2]);

    [Test]
    public async Task The_envelope_arrives_with_each_ESMTP_argument_as_its_own_string()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var transcript = await FilterAsync(milter, Submission());

        Assert.That(Fields(transcript, "connect"), Is.EqualTo(new[] { "client.example.net", "4", "4321", "192.0.2.1" }));
        Assert.That(Fields(transcript, "helo"), Is.EqualTo(new[] { "client.example.net" }));
        Assert.That(Fields(transcript, "mail"), Is.EqualTo(new[] { "<alice@example.org>", "SIZE=1234", "BODY=8BITMIME" }));
        Assert.That(transcript.Where(l => l.Event == "rcpt").Select(l => l.Fields), Is.EqualTo(new[]
        {
            new[] { "<bob@example.com>", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.com" },
            new[] { "<carol@example.net>" },
        }));
    }

    [Test]
    public async Task Postfixs_default_macros_and_host_macros_arrive_at_their_stages()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var transcript = await FilterAsync(milter, Submission());

        var atConnect = MacrosAt(transcript, "connect");
        Assert.That(atConnect, Is.EquivalentTo(new Dictionary<string, string>
        {
            ["j"] = "mx.example.com", ["{daemon_name}"] = "smtp-in", ["_"] = "client.example.net [192.0.2.1]",
            ["v"] = SpamFilterMilter.Protocol.Codec.ConnectionMacros.Version,
        }), "Postfix's connect list, the host's j and {daemon_name} winning; {daemon_addr} has no value here");
        var atMail = MacrosAt(transcript, "mail");
        Assert.That(atMail, Is.SupersetOf(new Dictionary<string, string>
        {
            ["{mail_addr}"] = "alice@example.org", ["{mail_host}"] = "example.org", ["{auth_authen}"] = "alice", ["{spamfilter_optin}"] = "spam",
        }));
        Assert.That(atMail, Does.Not.ContainKey("i"), "no queue id at MAIL, as in Postfix");
        var atRcpt = transcript.Where(l => l.Event == "macro" && l.Fields[0] == "rcpt" && l.Fields[1] is "{rcpt_addr}" or "{rcpt_host}")
            .Select(l => $"{l.Fields[1]}={l.Fields[2]}").ToArray();
        Assert.That(atRcpt, Is.EqualTo(new[] { "{rcpt_addr}=bob@example.com", "{rcpt_host}=example.com", "{rcpt_addr}=carol@example.net", "{rcpt_host}=example.net" }));
        Assert.That(MacrosAt(transcript, "data")["i"], Does.Match("^[0-9A-F]{14,}$"));
        Assert.That(MacrosAt(transcript, "eom")["i"], Is.EqualTo(MacrosAt(transcript, "data")["i"]), "one queue id for the whole message");
    }

    [Test]
    public async Task Each_message_on_a_connection_gets_its_own_queue_id()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        await using var session = plugin.OpenSession();
        await session.ConnectAsync(new ClientInfo());
        for (var i = 0; i < 3; i++)
        {
            await session.MailAsync($"sender{i}@example.org");
            await session.RcptAsync("bob@example.com");
            await session.DataAsync();
            await session.EndOfHeadersAsync();
            var verdict = await session.EndOfMessageAsync();
            Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Default));
        }

        await session.CloseAsync();
        var transcript = await milter.TranscriptAfterAsync("close");

        Assert.That(transcript.Select(l => l.Connection).Distinct(), Is.EqualTo(new[] { 1 }), "one milter connection");
        Assert.That(transcript.Count(l => l.Event == "eom"), Is.EqualTo(3));
        var ids = transcript.Where(l => l.Event == "macro" && l.Fields[0] == "data" && l.Fields[1] == "i").Select(l => l.Fields[2]).ToList();
        Assert.That(ids.Distinct().Count(), Is.EqualTo(3));
    }

    [Test]
    public async Task Header_values_lose_exactly_one_leading_space_and_keep_their_folds_as_LF()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var transcript = await FilterAsync(milter, Submission());

        var headers = transcript.Where(l => l.Event == "header").Select(l => (l.Fields[0], l.Fields[1])).ToArray();
        Assert.That(headers, Is.EqualTo(new[]
        {
            ("From", "Alice <alice@example.org>"),
            ("To", "bob@example.com"),
            ("Subject", "hello"),
            ("X-Tab", "\tvalue"),
            ("X-Two", " spaces"),
            ("X-None", "bare"),
            ("Received", "from a\n\tby b"),
        }));
    }

    [Test]
    public async Task With_HDR_LEADSPC_header_values_arrive_untouched()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-P", "HDR_LEADSPC");

        var transcript = await FilterAsync(milter, Submission());

        var values = transcript.Where(l => l.Event == "header").Select(l => l.Fields[1]).ToArray();
        Assert.That(values, Is.EqualTo(new[] { " Alice <alice@example.org>", " bob@example.com", " hello", "\tvalue", "  spaces", "bare", " from a\n\tby b" }));
    }

    [Test]
    public async Task The_body_arrives_in_CRLF_and_in_65535_byte_chunks()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var body = string.Concat(Enumerable.Range(0, 15_000).Select(i => $"line {i:D5}\n")); // LF only, 165000 bytes
        var expected = body.Replace("\n", "\r\n", StringComparison.Ordinal);

        var transcript = await FilterAsync(milter, Submission(message: "Subject: big\n\n" + body));

        var chunks = transcript.Where(l => l.Event == "body").ToList();
        Assert.That(chunks.Select(c => int.Parse(c.Fields[0], System.Globalization.CultureInfo.InvariantCulture)),
            Is.EqualTo(new[] { 65535, 65535, expected.Length - 131070 }));
        Assert.That(string.Concat(chunks.Select(c => c.Fields[1])), Is.EqualTo(expected));
    }

    [Test]
    public async Task Offering_MDS_to_a_libmilter_that_does_not_take_it_keeps_packets_at_64_KiB_less_one()
    {
        // Debian's libmilter is built without _FFR_MDS_NEGOTIATE: it answers without the MDS bit.
        await using var milter = await MilterProcess.StartLibmilterAsync();
        var body = new string('m', 99_998) + "\r\n"; // 100,000 bytes, the last line ended (else its CRLF is added)

        var transcript = await FilterAsync(milter, Submission(message: "Subject: mds\r\n\r\n" + body), "OFFER_MDS=1m\n");

        Assert.That(transcript.Where(l => l.Event == "body").Select(l => l.Fields[0]), Is.EqualTo(new[] { "65535", "34465" }));
    }

    [Test]
    public async Task A_header_field_longer_than_Postfixs_60000_bytes_reaches_libmilter_cut_as_from_Postfix()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        // Postfix 3.7 sent this field's first 60,000 bytes, name and colon included (cleanup_message.c KLUDGE_HEADER_LIMIT).
        var transcript = await FilterAsync(milter, Submission(message: "Subject: long\r\nX-Huge: " + new string('h', 70_000) + "\r\n\r\nbody\r\n"));

        var huge = transcript.Single(l => l.Event == "header" && l.Fields[0] == "X-Huge");
        Assert.That(huge.Fields[1], Is.EqualTo(new string('h', 59_992)), "60,000 bytes with \"X-Huge: \" (its space removed on the way, as ever)");
    }

    [Test]
    public async Task A_header_name_too_long_for_one_packet_is_never_sent_and_fails_the_milter_clearly()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));

        var verdict = await plugin.FilterMessageAsync(Submission(message: "Subject: long\r\nX-" + new string('n', 70_000) + ": v\r\n\r\nbody\r\n"));

        Assert.That(verdict.Kind, Is.EqualTo(VerdictKind.Failure));
        Assert.That((verdict.Failure!.Stage, verdict.Failure.Cause), Is.EqualTo(((FilterStage?)FilterStage.Header, "SMFIC_HEADER: packet of 70004 bytes is larger than the 65535 the milter accepts")));
        var transcript = await milter.TranscriptAfterAsync("close");
        Assert.That(transcript.Where(l => l.Event == "header").Select(l => l.Fields[0]), Is.EqualTo(new[] { "Subject" }), "libmilter never got the oversized packet");
    }

    [Test]
    public async Task Macros_that_would_overflow_a_packet_are_left_out_and_the_milter_keeps_working()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-m", "j {x_000} {x_099}");
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder));
        var macros = Enumerable.Range(0, 100).ToDictionary(i => $"{{x_{i:D3}}}", _ => new string('v', 1000));
        macros["j"] = "mx.example.com";
        var submission = Submission();

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = submission.Client, HeloName = submission.HeloName, MailFrom = submission.MailFrom,
            Recipients = submission.Recipients, Message = submission.Message, Macros = macros,
        });

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        var atConnect = (await milter.TranscriptAfterAsync("close")).Where(l => l.Event == "macro" && l.Fields[0] == "connect").Select(l => l.Fields[1]).ToList();
        Assert.That(atConnect, Does.Contain("j").And.Contain("{x_000}"), "what fits is sent");
        Assert.That(atConnect, Does.Not.Contain("{x_099}"), "what does not fit in 65535 bytes is left out");
    }

    [Test]
    public async Task A_NUL_in_a_header_value_reaches_libmilter_as_the_value_up_to_it_and_the_message_is_filtered()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        // Postfix sends header values as C strings (milter8.c milter8_header): "a", and a NUL in the body as it is.
        var transcript = await FilterAsync(milter, Submission(message: "Subject: nul\r\nX-Nul: a\0b\r\n\r\nbody \0 nul\r\n"));

        Assert.That(transcript.Single(l => l.Event == "header" && l.Fields[0] == "X-Nul").Fields[1], Is.EqualTo("a"));
        Assert.That(transcript.Single(l => l.Event == "body").Fields[1], Is.EqualTo("body \0 nul\r\n"));
    }

    [Test]
    public async Task An_empty_body_sends_no_body_chunk()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var transcript = await FilterAsync(milter, Submission(message: "Subject: empty\r\n\r\n"));

        Assert.That(transcript.Select(l => l.Event), Has.None.EqualTo("body").And.Some.EqualTo("eom"));
    }

    private static readonly object[] Clients =
    [
        new object[] { ClientInfo.Tcp(IPAddress.Parse("2001:db8::25"), 587, "v6.example.net"), new[] { "v6.example.net", "6", "587", "2001:db8::25" }, "v6.example.net [2001:db8::25]" },
        new object[] { ClientInfo.Tcp(IPAddress.Parse("192.0.2.9"), 25), new[] { "[192.0.2.9]", "4", "25", "192.0.2.9" }, "unknown [192.0.2.9]" },
        new object[] { new ClientInfo { LocalSocketPath = "/run/submit.sock", HostName = "localhost" }, new[] { "localhost", "L", "", "/run/submit.sock" }, "localhost [127.0.0.1]" },
        new object[] { new ClientInfo(), new[] { "localhost", "U", "", "" }, "localhost [127.0.0.1]" },
    ];

    [TestCaseSource(nameof(Clients))]
    public async Task Every_connection_family_is_understood_by_libmilter(ClientInfo client, string[] connect, string underscore)
    {
        await using var milter = await MilterProcess.StartLibmilterAsync();

        var transcript = await FilterAsync(milter, Submission(client));

        Assert.That(Fields(transcript, "connect"), Is.EqualTo(connect));
        Assert.That(MacrosAt(transcript, "connect")["_"], Is.EqualTo(underscore), "the client as macro _ names it");
    }

    [Test]
    public async Task A_macro_list_the_milter_asks_for_replaces_the_default_for_that_stage_only()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-A", "ADDHDRS,SETSYMLIST", "-S", "mail:{mail_addr} {auth_authen}");

        var transcript = await FilterAsync(milter, Submission());

        var atMail = MacrosAt(transcript, "mail");
        Assert.That(atMail.Keys.Where(k => k.StartsWith("{mail", StringComparison.Ordinal) || k is "i" or "{auth_authen}"),
            Is.EquivalentTo(new[] { "{mail_addr}", "{auth_authen}" }), "no i, no {mail_host}: the milter did not ask");
        Assert.That(MacrosAt(transcript, "rcpt"), Does.ContainKey("{rcpt_addr}"), "other stages keep the default list");
    }

    [Test]
    public async Task Steps_without_replies_and_steps_left_out_are_honoured()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync(
            "-P", "NR_CONN,NR_HELO,NR_MAIL,NR_RCPT,NR_DATA,NR_HDR,NR_EOH,NR_BODY,NOUNKNOWN",
            "-a", "eom=addheader:X-Checked:yes");

        // TIMEOUT=100 (1 s): a wait for a reply libmilter never sends would end the message in a timeout failure.
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, timeout: 100));
        var verdict = await plugin.FilterMessageAsync(Submission());
        StageDecision unknown;
        await using (var session = plugin.OpenSession())
        {
            await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25));
            unknown = await session.UnknownAsync("XYZZY");
        }

        Assert.That(verdict.Failure, Is.Null, verdict.Failure?.ToString());
        Assert.That(verdict.Edits, Is.EqualTo(new[] { new AddHeader("X-Checked", " yes") }), "every step went unanswered, and the end of the message still came back");
        Assert.That((unknown.Action, unknown.Failure), Is.EqualTo((FilterAction.Continue, (FilterFailure?)null)));
        var transcript = await milter.TranscriptAfterAsync("close", count: 2);
        Assert.That(transcript.Count(l => l.Event == "header"), Is.EqualTo(7));
        Assert.That(transcript.Where(l => l.Event == "unknown"), Is.Empty, "NOUNKNOWN: the unknown command was left out, not sent");
    }

    [Test]
    public async Task A_milter_without_body_and_header_interest_gets_neither()
    {
        await using var milter = await MilterProcess.StartLibmilterAsync("-P", "NOHDRS,NOBODY,NOEOH,NOHELO");

        var transcript = await FilterAsync(milter, Submission());

        Assert.That(transcript.Select(l => l.Event), Has.None.EqualTo("header").And.None.EqualTo("body").And.None.EqualTo("helo").And.None.EqualTo("eoh"));
        Assert.That(transcript.Select(l => l.Event), Has.Some.EqualTo("mail").And.Some.EqualTo("eom"));
        Assert.That(MacrosAt(transcript, "eom"), Does.ContainKey("i"), "macros of a stage still arrive");
    }
}
