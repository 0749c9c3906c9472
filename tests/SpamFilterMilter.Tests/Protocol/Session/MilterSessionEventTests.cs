using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>What the session puts on the wire for each event.</summary>
public class MilterSessionEventTests(int delivery, bool blocking) : ScriptedSessionTest(delivery, blocking)
{
    /// <summary>Negotiates, then CONNECT for <paramref name="client"/>: the packet and the macros sent with it.</summary>
    private async Task<(ReceivedPacket Packet, List<ReceivedPacket> Macros)> ConnectAsync(ClientInfo client)
    {
        await NegotiateAsync(Raw.OptNeg(6, 0x1FF, 0));
        return await ReadAnsweringAsync(() => Session.ConnectAsync(client));
    }

    /// <summary>Makes <paramref name="call"/> and answers the packet it sends with CONTINUE: the packet and the macros sent with it.</summary>
    private async Task<(ReceivedPacket Packet, List<ReceivedPacket> Macros)> ReadAnsweringAsync<T>(Func<ValueTask<T>> call)
    {
        var running = SessionPair.Run(call);
        var seen = await Milter.ReadSkippingMacrosAsync();
        await Milter.SendAsync(Raw.Packet('c'));
        await running;
        return seen;
    }

    private static byte[] Port(int port) => [(byte)(port >> 8), (byte)port];

    private static readonly object[] Clients =
    [
        new object[] { ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 1234, "client.example.net"),
            Raw.Concat(Raw.CString("client.example.net"), "4"u8.ToArray(), Port(1234), Raw.CString("192.0.2.1")), "client.example.net [192.0.2.1]" },
        new object[] { ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25),
            Raw.Concat(Raw.CString("[192.0.2.1]"), "4"u8.ToArray(), Port(25), Raw.CString("192.0.2.1")), "unknown [192.0.2.1]" },
        new object[] { ClientInfo.Tcp(IPAddress.Parse("2001:db8::1"), 587, "v6.example.net"),
            Raw.Concat(Raw.CString("v6.example.net"), "6"u8.ToArray(), Port(587), Raw.CString("2001:db8::1")), "v6.example.net [2001:db8::1]" },
        new object[] { ClientInfo.Tcp(IPAddress.Parse("::ffff:192.0.2.7"), 40000),
            Raw.Concat(Raw.CString("[192.0.2.7]"), "4"u8.ToArray(), Port(40000), Raw.CString("192.0.2.7")), "unknown [192.0.2.7]" },
        new object[] { new ClientInfo { LocalSocketPath = "/run/smtp.sock" },
            Raw.Concat(Raw.CString("localhost"), "L"u8.ToArray(), Port(0), Raw.CString("/run/smtp.sock")), "localhost [127.0.0.1]" },
        new object[] { new ClientInfo(),
            Raw.Concat(Raw.CString("localhost"), "U"u8.ToArray()), "localhost [127.0.0.1]" },
    ];

    [TestCaseSource(nameof(Clients))]
    public async Task CONNECT_carries_name_family_port_and_address_and_its_macros_name_the_client(ClientInfo client, byte[] payload, string underscore)
    {
        var (packet, macros) = await ConnectAsync(client);

        Assert.That(packet.Code, Is.EqualTo('C'));
        Assert.That(packet.Payload, Is.EqualTo(payload));
        Assert.That(macros.Single().Macros["_"], Is.EqualTo(underscore));
    }

    [Test]
    public async Task Host_macros_go_with_CONNECT_in_the_same_write_as_the_command()
    {
        Session.Macros.SetFromHost("j", "mx.example.com");
        Session.Macros.SetFromHost("daemon_name", "smtp-in");
        Session.Macros.SetFromHost("{x_custom}", "yes");
        await NegotiateAsync(Raw.OptNeg(6, 0, 0));
        var writesBefore = Pair.SessionStream.WriteCount;

        var (packet, macros) = await ReadAnsweringAsync(() => Session.ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1)));

        Assert.That(packet.Code, Is.EqualTo('C'));
        Assert.That(macros, Has.Count.EqualTo(1));
        Assert.That(macros[0].Payload[0], Is.EqualTo((byte)'C'), "the macro packet names the command it belongs to");
        Assert.That(macros[0].MacroPairs, Is.EqualTo(new Dictionary<string, string>
        {
            ["j"] = "mx.example.com",
            ["{daemon_name}"] = "smtp-in",
            ["v"] = ConnectionMacros.Version,
            ["_"] = "unknown [127.0.0.1]",
            ["{x_custom}"] = "yes",
        }), "Postfix's connect list in its order, the host's values winning, then the host macro that is in no list");
        Assert.That(Pair.SessionStream.WriteCount - writesBefore, Is.EqualTo(1), "MACRO and CONNECT in one write");
    }

    [Test]
    public async Task MAIL_and_RCPT_send_the_address_and_each_ESMTP_argument_as_its_own_string()
    {
        await ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1));

        var (mailPacket, mailMacros) = await ReadAnsweringAsync(() => Session.MailAsync("alice@example.org", ["SIZE=1234", "BODY=8BITMIME"]));
        var (rcptPacket, rcptMacros) = await ReadAnsweringAsync(() => Session.RcptAsync("<bob@example.com>", ["NOTIFY=NEVER"]));

        Assert.That(mailPacket.Strings, Is.EqualTo(new[] { "<alice@example.org>", "SIZE=1234", "BODY=8BITMIME" }));
        Assert.That(rcptPacket.Strings, Is.EqualTo(new[] { "<bob@example.com>", "NOTIFY=NEVER" }));
        Assert.That(mailMacros.Single().MacroPairs, Is.EqualTo(new Dictionary<string, string>
        {
            ["{mail_addr}"] = "alice@example.org",
            ["{mail_host}"] = "example.org",
            ["{mail_mailer}"] = "smtp",
        }), "no queue id yet, as in Postfix (MilterSessionMacroTests has when it comes)");
        Assert.That(rcptMacros.Single().MacroPairs, Is.EqualTo(new Dictionary<string, string>
        {
            ["{rcpt_addr}"] = "bob@example.com",
            ["{rcpt_host}"] = "example.com",
            ["{rcpt_mailer}"] = "smtp",
        }));
    }

    [Test]
    public async Task The_null_sender_is_sent_as_empty_angle_brackets_and_each_message_gets_its_own_queue_id()
    {
        UseSession(Pair.Settings with { QueueIdAtMail = true }); // to see the queue id at MAIL
        await ConnectAsync(ClientInfo.Tcp(IPAddress.Loopback, 1));
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var mail = SessionPair.Run(() => Session.MailAsync(string.Empty, null));
            if (i > 0)
            {
                await Milter.ExpectAsync('A'); // the abort of the first message travels with this MAIL
            }

            var (packet, macros) = await Milter.ReadSkippingMacrosAsync();
            await Milter.SendAsync(Raw.Packet('c'));
            await mail;
            Assert.That(packet.Strings, Is.EqualTo(new[] { "<>" }));
            Assert.That(macros.Single().Macros["{mail_addr}"], Is.Empty, "the null sender's address is empty");
            ids.Add(macros.Single().Macros["i"]);
            await Session.AbortAsync();
        }

        Assert.That(ids[0], Is.Not.EqualTo(ids[1]));
    }

    [TestCase(" value", "value")]           // exactly one space removed
    [TestCase("  two spaces", " two spaces")]
    [TestCase("\ttab kept", "\ttab kept")]
    [TestCase("no-space", "no-space")]
    [TestCase(" folded\r\n\tline two", "folded\n\tline two")] // folds travel as bare LF
    [TestCase(" folded\n line two", "folded\n line two")]
    public async Task HEADER_removes_one_leading_space_and_joins_folded_lines_with_LF(string raw, string onWire)
    {
        var value = await SendHeaderAsync(raw, protocol: 0);

        Assert.That(value, Is.EqualTo(onWire));
    }

    [TestCase(" value", " value")]
    [TestCase("no-space", "no-space")]
    public async Task HEADER_keeps_the_value_untouched_when_the_milter_asked_for_HDR_LEADSPC(string raw, string onWire)
    {
        var value = await SendHeaderAsync(raw, protocol: 0x00100000);

        Assert.That(value, Is.EqualTo(onWire));
    }

    // Postfix keeps a header line up to its NUL (HeaderSyntax.CutLikePostfix) and sends what it kept: the lines after it too.
    [TestCase(" a\0b", 0u, new[] { "X-Nul", "a" })]
    [TestCase(" a\0b\r\n\tfolded after", 0u, new[] { "X-Nul", "a\n\tfolded after" })]
    [TestCase(" \0after", 0u, new[] { "X-Nul", "" })]
    [TestCase("\0", 0u, new[] { "X-Nul", "" })]
    [TestCase(" a\0b\0c", 0x00100000u, new[] { "X-Nul", " a" })]
    public async Task A_NUL_in_a_header_value_ends_its_line_as_from_Postfix_and_nothing_throws(string raw, uint protocol, string[] onWire)
    {
        await OpenAsync(protocol: protocol);
        await ReachHeadersAsync();

        var (packet, _) = await ReadAnsweringAsync(() => Session.HeaderAsync("X-Nul", new RawText(Encoding.Latin1.GetBytes(raw))));

        Assert.That(packet.Code, Is.EqualTo('L'));
        Assert.That(packet.Strings, Is.EqualTo(onWire));
    }

    [Test]
    public async Task A_header_field_whose_name_holds_a_NUL_is_not_sent_as_Postfix_sees_no_field_there()
    {
        await OpenAsync();
        await ReachHeadersAsync();

        var response = await Session.HeaderAsync("X-\0Nul", " v");
        var (next, _) = await ReadAnsweringAsync(() => Session.EndOfHeadersAsync());

        Assert.That(response.Action, Is.EqualTo(FilterAction.Continue));
        Assert.That(next.Code, Is.EqualTo('N'), "no HEADER packet: is_header() stops at the NUL, so to Postfix the line is not a field");
    }

    // Postfix with a milter: header_size_limit lowered to 60,000 (cleanup_message.c KLUDGE_HEADER_LIMIT), the field cut by
    // cleanup_out.c cleanup_out_header, and that is what milter8.c sends. Postfix 3.7 sent the first case's 59,992 bytes.
    private static IEnumerable<TestCaseData> LongFields()
    {
        var f998 = new string('f', 998);
        yield return new TestCaseData("X-Huge", " " + new string('h', 70_000), new string('h', 59_992)).SetName("{m}(one line: cut at 60,000 bytes, name and colon counted)");
        yield return new TestCaseData("X-Fold", " " + string.Join("\r\n\t", Enumerable.Repeat(f998, 70)), string.Join("\n\t", Enumerable.Repeat(f998, 59)))
            .SetName("{m}(folded: cut before the line that would end past the limit, past 90% of it)");
        yield return new TestCaseData("X-Fold", " " + new string('a', 50_000) + "\r\n\t" + new string('b', 20_000), new string('a', 50_000) + "\n\t" + new string('b', 59_992 - 50_002))
            .SetName("{m}(folded, the long line starting before 90%: cut at the limit)");
        yield return new TestCaseData("X-Edge", " " + new string('e', 60_000 - 8), new string('e', 60_000 - 8)).SetName("{m}(exactly 60,000 bytes: kept)");
    }

    [TestCaseSource(nameof(LongFields))]
    public async Task A_header_field_longer_than_Postfixs_60000_bytes_reaches_the_milter_cut_as_Postfix_cuts_it(string name, string raw, string onWire)
    {
        await OpenAsync();
        await ReachHeadersAsync();

        var (packet, _) = await ReadAnsweringAsync(() => Session.HeaderAsync(name, raw));

        Assert.That(packet.Strings[0], Is.EqualTo(name));
        Assert.That(packet.Strings[1], Is.EqualTo(onWire), $"{packet.Strings[1].Length} bytes");
    }

    private async Task<string> SendHeaderAsync(string raw, uint protocol)
    {
        await OpenAsync(protocol: protocol);
        await ReachHeadersAsync();
        var (packet, _) = await ReadAnsweringAsync(() => Session.HeaderAsync("Subject", raw));
        Assert.That((packet.Code, packet.Strings[0]), Is.EqualTo(('L', "Subject")));
        return packet.Strings[1];
    }

    /// <summary>Sends <paramref name="chunks"/> and ends the message; returns the BODY payloads the milter received.</summary>
    private async Task<List<byte[]>> SendBodyAsync(params byte[][] chunks)
    {
        var sending = Task.Run(async () =>
        {
            foreach (var chunk in chunks)
            {
                await Session.BodyAsync(chunk);
            }

            return await Session.EndOfMessageAsync();
        });
        var bodies = new List<byte[]>();
        while (true)
        {
            var (packet, _) = await Milter.ReadSkippingMacrosAsync();
            await Milter.SendAsync(Raw.Packet('c'));
            if (packet.Code == 'E')
            {
                break;
            }

            Assert.That(packet.Code, Is.EqualTo('B'));
            bodies.Add(packet.Payload);
        }

        await sending;
        return bodies;
    }

    [Test]
    public async Task BODY_is_cut_into_packets_of_exactly_65535_bytes_with_the_rest_last()
    {
        await OpenAsync();
        await ReachBodyAsync();
        var body = Enumerable.Range(0, 150_000).Select(i => (byte)('a' + (i % 26))).ToArray();
        "\r\n"u8.CopyTo(body.AsSpan(150_000 - 2)); // ended, so that nothing is added

        var packets = await SendBodyAsync(body[..1000], body[1000..100_000], body[100_000..]);

        Assert.That(packets.Select(p => p.Length), Is.EqualTo(new[] { 65535, 65535, 150_000 - 131_070 }));
        Assert.That(packets.SelectMany(p => p), Is.EqualTo(body));
    }

    [Test]
    public async Task After_MDS_256K_the_body_goes_in_packets_of_256_KiB_less_one()
    {
        UseSession(Pair.Settings with { OfferedProtocol = Negotiation.OfferedProtocol | ProtocolFlags.MaxDataSize256K });
        await NegotiateAsync(Raw.OptNeg(6, 0x1FF, 0x10000000));
        await ExchangeAsync(() => Session.ConnectAsync(new ClientInfo()), 'C');
        await ReachBodyAsync();
        var body = new byte[300_000];
        body.AsSpan().Fill((byte)'z');
        "\r\n"u8.CopyTo(body.AsSpan(300_000 - 2));

        var packets = await SendBodyAsync(body);

        Assert.That(packets.Select(p => p.Length), Is.EqualTo(new[] { 262143, 300_000 - 262143 }));
    }

    [Test]
    public async Task BODY_turns_bare_LF_into_CRLF_even_across_chunks_and_keeps_existing_CRLF()
    {
        await OpenAsync();
        await ReachBodyAsync();

        var packets = await SendBodyAsync("line one\nline two\r"u8.ToArray(), "\nline three\n\n"u8.ToArray());

        Assert.That(Encoding.ASCII.GetString(packets.SelectMany(p => p).ToArray()), Is.EqualTo("line one\r\nline two\r\nline three\r\n\r\n"));
    }

    [Test]
    public async Task A_last_body_line_without_a_line_end_reaches_the_milter_ended_by_CRLF_as_from_Postfix()
    {
        await OpenAsync();
        await ReachBodyAsync();

        // milter8.c milter8_body: Postfix sends each body line with "\r\n", the last one too.
        var packets = await SendBodyAsync("line one\nlast line"u8.ToArray(), " without a line end"u8.ToArray());

        Assert.That(Encoding.ASCII.GetString(packets.SelectMany(p => p).ToArray()), Is.EqualTo("line one\r\nlast line without a line end\r\n"));
    }

    [TestCase(65534, new[] { 65535, 1 })] // the CR fills packet one, the LF goes alone in packet two
    [TestCase(65535, new[] { 65535, 2 })] // packet one is full of the line: the CRLF is packet two
    [TestCase(65533, new[] { 65535 })]
    public async Task The_final_CRLF_is_cut_into_packets_like_any_body_bytes(int length, int[] expected)
    {
        await OpenAsync();
        await ReachBodyAsync();
        var body = new byte[length];
        body.AsSpan().Fill((byte)'x');

        var packets = await SendBodyAsync(body);

        Assert.That(packets.Select(p => p.Length), Is.EqualTo(expected));
        Assert.That(packets.SelectMany(p => p).Skip(length), Is.EqualTo("\r\n"u8.ToArray()));
    }

    [Test]
    public async Task BODY_may_split_a_CRLF_between_two_packets()
    {
        await OpenAsync();
        await ReachBodyAsync();
        var body = new byte[65534 + 1];
        body.AsSpan().Fill((byte)'x');
        body[^1] = (byte)'\n'; // needs a CR at offset 65534: CR ends packet one, LF starts packet two

        var packets = await SendBodyAsync(body);

        Assert.That(packets, Has.Count.EqualTo(2));
        Assert.That(packets[0][^1], Is.EqualTo((byte)'\r'));
        Assert.That(packets[1], Is.EqualTo("\n"u8.ToArray()));
    }

    [Test]
    public async Task An_empty_body_sends_no_BODY_packet_only_the_end_of_message()
    {
        await OpenAsync();
        await ReachBodyAsync();

        var packets = await SendBodyAsync();

        Assert.That(packets, Is.Empty);
    }

    [Test]
    public async Task DATA_is_not_sent_to_a_version_3_milter()
    {
        await NegotiateAsync(Raw.OptNeg(3, 0x3F, 0));
        await ExchangeAsync(() => Session.ConnectAsync(new ClientInfo()), 'C');

        await ReachHeadersAsync(expectData: false);
        var (next, macros) = await ReadAnsweringAsync(() => Session.HeaderAsync("Subject", " x"));

        Assert.That((next.Code, next.Strings[0]), Is.EqualTo(('L', "Subject")), "the packet after RCPT is HEADER, not DATA");
        Assert.That(macros.Select(m => m.MacroCommand), Is.EqualTo(new[] { 'L' }), "nor DATA's macros: an event the milter's version lacks is not sent at all (Postfix)");
    }

    [Test]
    public async Task A_NO_step_suppresses_the_command_but_its_macros_are_still_sent()
    {
        Session.Macros.SetFromHost("{tls_version}", "TLSv1.3");
        await OpenAsync(protocol: 0x2); // NOHELO

        var helo = await Session.HeloAsync("client.example.net");
        var (packet, macros) = await ReadAnsweringAsync(() => Session.MailAsync("a@b", null));

        Assert.That(helo, Is.EqualTo(MilterResponse.Continue));
        Assert.That(packet.Code, Is.EqualTo('M'), "no HELO on the wire");
        Assert.That(macros.Select(m => (char)m.Payload[0]), Is.EqualTo(new[] { 'H', 'M' }));
        Assert.That(macros[0].Macros["{tls_version}"], Is.EqualTo("TLSv1.3"));
    }

    [Test]
    public async Task No_reply_headers_are_not_waited_for_and_go_out_with_the_end_of_headers_in_one_write()
    {
        await OpenAsync(protocol: 0x80); // NR_HDR
        await ReachHeadersAsync();
        var writesBefore = Pair.SessionStream.WriteCount;

        for (var i = 0; i < 5; i++)
        {
            Assert.That(await Session.HeaderAsync($"X-H{i}", " v"), Is.EqualTo(MilterResponse.Continue));
        }

        var eoh = SessionPair.Run(() => Session.EndOfHeadersAsync());
        for (var i = 0; i < 5; i++)
        {
            await Milter.ExpectAsync('L');
        }

        await Milter.ExpectAsync('N');
        await Milter.SendAsync(Raw.Packet('c'));
        await eoh;

        Assert.That(Pair.SessionStream.WriteCount - writesBefore, Is.EqualTo(1));
    }

    [Test]
    public async Task ABORT_needs_no_reply_and_travels_with_the_next_MAIL()
    {
        await OpenAsync();
        await ExchangeAsync(() => Session.MailAsync("a@b", null), 'M');
        await Session.AbortAsync();
        var writesBefore = Pair.SessionStream.WriteCount;

        var second = SessionPair.Run(() => Session.MailAsync("c@d", null));
        var abort = await Milter.ExpectAsync('A');
        var next = await Milter.ExpectAsync('M');
        await Milter.SendAsync(Raw.Packet('c'));
        await second;

        Assert.That(abort.Payload, Is.Empty);
        Assert.That(next.Strings[0], Is.EqualTo("<c@d>"));
        Assert.That(Pair.SessionStream.WriteCount - writesBefore, Is.EqualTo(1));
    }

    [Test]
    public async Task Several_messages_run_on_one_connection()
    {
        await OpenAsync();
        for (var n = 0; n < 3; n++)
        {
            await ReachBodyAsync(afterMessage: n > 0);
            var packets = await SendBodyAsync(Encoding.ASCII.GetBytes($"message {n}\n"));
            Assert.That(Encoding.ASCII.GetString(packets.Single()), Is.EqualTo($"message {n}\r\n"));
        }
    }

    [Test]
    public async Task QUIT_is_sent_and_the_connection_closed()
    {
        await OpenAsync();

        await Session.QuitAsync();

        Assert.That((await Milter.ReadAsync()).Code, Is.EqualTo('Q'));
        Assert.That(await Milter.SessionClosedAsync(TimeSpan.FromSeconds(2)), Is.True);
    }

    [Test]
    public async Task UNKNOWN_carries_the_command_line_after_its_macro_packet_empty_by_default()
    {
        await OpenAsync();

        var (packet, macros) = await ReadAnsweringAsync(() => Session.UnknownAsync("XYZZY magic"));

        Assert.That((packet.Code, packet.Strings[0]), Is.EqualTo(('U', "XYZZY magic")));
        Assert.That(macros.Single().Payload, Is.EqualTo("U"u8.ToArray()), "Postfix's milter_unknown_command_macros is empty, and the packet is sent all the same");
    }

    [Test]
    public async Task Calls_out_of_SMTP_order_are_host_bugs_with_a_sentence_saying_so()
    {
        var beforeConnect = Assert.ThrowsAsync<InvalidOperationException>(async () => await Session.MailAsync("a@b", null))!;
        await OpenAsync();
        var headerBeforeData = Assert.ThrowsAsync<InvalidOperationException>(async () => await Session.HeaderAsync("A", " b"))!;

        Assert.That(beforeConnect.Message, Is.EqualTo("The milter session must be connected (ConnectAsync) before MAIL."));
        Assert.That(headerBeforeData.Message, Does.StartWith("Header cannot come now: the session is at between transactions"));
    }

    [Test]
    public void A_NUL_in_host_text_is_refused_before_anything_is_sent()
    {
        Assert.ThrowsAsync<ArgumentException>(async () => await Session.HeloAsync("bad\0name"));
    }
}
