using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Session;

/// <summary>
/// Which macros go before which packet, on the wire, as Postfix 3.7.11 sends them with its default
/// <c>milter_*_macros</c> (docs/options.md, Macros): one SMFIC_MACRO before every command, also before each header
/// and each body packet, also when it holds no macro; the queue id from the first accepted recipient on.
/// </summary>
public class MilterSessionMacroTests(int delivery, bool blocking) : ScriptedSessionTest(delivery, blocking)
{
    private static readonly ClientInfo Client = new()
    {
        Address = IPAddress.Parse("192.0.2.1"), Port = 4321, HostName = "client.example.net",
        ServerAddress = IPAddress.Parse("192.0.2.25"), ServerPort = 25, ServerName = "mx.example.com",
    };

    /// <summary>Reads until (and answers) the packet <paramref name="last"/>: every packet in order, each event answered with CONTINUE.</summary>
    private async Task<List<ReceivedPacket>> RecordUntilAsync(char last, Func<char, byte[]>? answer = null)
    {
        var packets = new List<ReceivedPacket>();
        while (true)
        {
            var packet = await Milter.ReadAsync();
            packets.Add(packet);
            if (packet.Code is 'D' or 'A')
            {
                continue;
            }

            await Milter.SendAsync(answer?.Invoke(packet.Code) ?? Raw.Packet('c'));
            if (packet.Code == last)
            {
                return packets;
            }
        }
    }

    /// <summary>Each packet as "D:x" for macros before command x, else its code.</summary>
    private static string[] Codes(IEnumerable<ReceivedPacket> packets) =>
        [.. packets.Select(p => p.Code == 'D' ? $"D:{p.MacroCommand}" : p.Code.ToString())];

    [Test]
    public async Task Every_command_header_and_body_packet_follows_its_own_macro_packet_with_Postfixs_default_lists()
    {
        await NegotiateAsync(Raw.OptNeg(6, 0x1FF, 0));
        var body = new byte[70_000];
        body.AsSpan().Fill((byte)'x');
        var playing = SessionPair.Run(async () =>
        {
            await Session.ConnectAsync(Client);
            await Session.HeloAsync("client.example.net");
            await Session.MailAsync("alice@example.org", null);
            await Session.RcptAsync("bob@example.com", null);
            await Session.RcptAsync("carol@example.net", null);
            await Session.DataAsync();
            await Session.HeaderAsync("From", " alice@example.org");
            await Session.HeaderAsync("Subject", " hi");
            await Session.EndOfHeadersAsync();
            await Session.BodyAsync(body);
            return await Session.EndOfMessageAsync();
        });

        var packets = await RecordUntilAsync('E');
        await playing;

        Assert.That(Codes(packets), Is.EqualTo(new[]
        {
            "D:C", "C", "D:H", "H", "D:M", "M", "D:R", "R", "D:R", "R", "D:T", "T",
            "D:L", "L", "D:L", "L", "D:N", "N", "D:B", "B", "D:B", "B", "D:E", "E",
        }));
        var macros = packets.Where(p => p.Code == 'D').ToList();
        var id = macros[4].Macros["i"];
        Assert.Multiple(() =>
        {
            Assert.That(macros[0].MacroPairs, Is.EqualTo(new Dictionary<string, string>
            {
                ["j"] = "mx.example.com", ["{daemon_name}"] = "mx.example.com", ["{daemon_addr}"] = "192.0.2.25",
                ["v"] = ConnectionMacros.Version, ["_"] = "client.example.net [192.0.2.1]",
            }), "CONNECT: j {daemon_name} {daemon_addr} v _, derived from the connection");
            Assert.That(macros[1].Payload, Is.EqualTo("H"u8.ToArray()), "HELO: no TLS, so no value, and the packet is sent all the same");
            Assert.That(macros[2].MacroPairs, Is.EqualTo(new Dictionary<string, string>
            {
                ["{mail_addr}"] = "alice@example.org", ["{mail_host}"] = "example.org", ["{mail_mailer}"] = "smtp",
            }), "MAIL: no queue id yet");
            Assert.That(macros[3].Macros, Does.Not.ContainKey("i"), "the first RCPT: no recipient accepted yet");
            Assert.That(macros[4].MacroPairs, Is.EqualTo(new Dictionary<string, string>
            {
                ["i"] = id, ["{rcpt_addr}"] = "carol@example.net", ["{rcpt_host}"] = "example.net", ["{rcpt_mailer}"] = "smtp",
            }), "the second RCPT: the queue id, as Postfix has it once a recipient was accepted");
            Assert.That(id, Does.Match("^[0-9A-F]{14,}$"));
            Assert.That(macros.Skip(5).Select(m => m.MacroPairs), Has.All.EqualTo(new Dictionary<string, string> { ["i"] = id }),
                "DATA, each header, end of headers, each body packet, end of message: i");
        });
    }

    [Test]
    public async Task From_DATA_to_the_end_of_the_message_the_recipient_macros_are_the_first_accepted_recipients_as_in_Postfix()
    {
        const string Rcpt = "{rcpt_addr} {rcpt_host} {rcpt_mailer}";
        await NegotiateAsync(Raw.OptNeg(6, 0x1FF, 0, (4, Rcpt), (5, Rcpt), (6, Rcpt)));
        var playing = SessionPair.Run(async () =>
        {
            await Session.ConnectAsync(Client);
            await Session.MailAsync("alice@example.org", null);
            await Session.RcptAsync("refused@r.example", null);
            await Session.RcptAsync("first@a.example", null);
            await Session.RcptAsync("last@b.example", null);
            await Session.DataAsync();
            await Session.HeaderAsync("Subject", " hi");
            await Session.EndOfHeadersAsync();
            await Session.BodyAsync("body\r\n"u8.ToArray());
            return await Session.EndOfMessageAsync();
        });
        var rcpts = 0;

        var packets = await RecordUntilAsync('E', code => code == 'R' && rcpts++ == 0 ? Raw.Packet('r') : Raw.Packet('c'));
        await playing;

        // smtpd.c rcpt_cmd keeps the first recipient it accepted (state->recipient), smtpd_milter.c derives the macros from it.
        var afterRcpt = packets.Where(p => p.Code == 'D').SkipWhile(p => p.MacroCommand != 'T').ToList();
        Assert.That(afterRcpt.Select(m => m.MacroCommand), Is.EqualTo("TLNBE".ToCharArray()));
        Assert.That(afterRcpt.Select(m => m.MacroPairs), Has.All.EqualTo(new Dictionary<string, string>
        {
            ["{rcpt_addr}"] = "first@a.example", ["{rcpt_host}"] = "a.example", ["{rcpt_mailer}"] = "smtp",
        }), "not the last recipient, nor the one the milter refused");
    }

    // Each row: when i is first sent, how the milter answers the first RCPT, and whether MAIL and the three RCPTs carry i.
    [TestCase(false, 'c', new[] { false, false, true, true }, TestName = "Postfix: i comes from the RCPT after the first accepted recipient")]
    [TestCase(false, 'r', new[] { false, false, false, true }, TestName = "Postfix: a recipient the milter rejects does not count")]
    [TestCase(false, 't', new[] { false, false, false, true }, TestName = "Postfix: a recipient the milter tempfails does not count")]
    [TestCase(true, 'r', new[] { true, true, true, true }, TestName = "sendmail: i comes with MAIL")]
    public async Task The_queue_id_is_first_sent_when_the_MTA_it_follows_would_have_one(bool atMail, char firstRcpt, bool[] carriesQueueId)
    {
        UseSession(Pair.Settings with { QueueIdAtMail = atMail });
        await OpenAsync();
        var playing = SessionPair.Run(async () =>
        {
            await Session.MailAsync("alice@example.org", null);
            for (var n = 0; n < 3; n++)
            {
                await Session.RcptAsync($"r{n}@example.com", null);
            }

            return await Session.DataAsync();
        });
        var rcpts = 0;

        var packets = await RecordUntilAsync('T', code => code == 'R' && rcpts++ == 0 ? Raw.Packet(firstRcpt) : Raw.Packet('c'));
        await playing;

        var macros = packets.Where(p => p.Code == 'D').ToList();
        Assert.That(macros.Select(m => m.MacroCommand), Is.EqualTo("MRRRT".ToCharArray()));
        Assert.That(macros.Take(4).Select(m => m.Macros.ContainsKey("i")), Is.EqualTo(carriesQueueId));
        Assert.That(macros[4].Macros, Does.ContainKey("i"), "DATA always has it");
    }

    [Test]
    public async Task A_queue_id_the_host_sets_is_the_one_sent_and_when_the_timing_says()
    {
        Session.Macros.SetFromHost("i", "4F2A1B0C9D");
        await OpenAsync();
        var playing = SessionPair.Run(async () =>
        {
            await Session.MailAsync("alice@example.org", null);
            await Session.RcptAsync("bob@example.com", null);
            return await Session.DataAsync();
        });

        var macros = (await RecordUntilAsync('T')).Where(p => p.Code == 'D').ToList();
        await playing;

        Assert.That(macros.Select(m => m.Macros.GetValueOrDefault("i")), Is.EqualTo(new[] { null, null, "4F2A1B0C9D" }));
    }

    // Each row: the steps the milter left out, and the packets after DATA. Postfix calls neither these events nor their
    // macros for a milter that does not want them; the SMTP commands' macros do go out under a NO* step.
    [TestCase(0u, new[] { "D:L", "L", "D:N", "N", "D:B", "B", "D:E", "E" }, TestName = "Headers, end of headers and body each follow their macros")]
    [TestCase(0x20u, new[] { "D:N", "N", "D:B", "B", "D:E", "E" }, TestName = "NOHDRS leaves out the headers and their macros")]
    [TestCase(0x40u, new[] { "D:L", "L", "D:B", "B", "D:E", "E" }, TestName = "NOEOH leaves out the end of headers and its macros")]
    [TestCase(0x10u, new[] { "D:L", "L", "D:N", "N", "D:E", "E" }, TestName = "NOBODY leaves out the body and its macros")]
    [TestCase(0x70u, new[] { "D:E", "E" }, TestName = "Without all three only the end of the message and its macros are left")]
    public async Task Events_the_milter_does_not_want_go_without_their_macros(uint steps, string[] afterData)
    {
        await OpenAsync(protocol: steps);
        await ReachHeadersAsync();
        var playing = SessionPair.Run(async () =>
        {
            await Session.HeaderAsync("Subject", " hi");
            await Session.EndOfHeadersAsync();
            await Session.BodyAsync("body\r\n"u8.ToArray());
            return await Session.EndOfMessageAsync();
        });

        var packets = await RecordUntilAsync('E');
        await playing;

        Assert.That(Codes(packets), Is.EqualTo(afterData));
    }

    [Test]
    public async Task Configured_lists_replace_Postfixs_and_a_list_the_milter_asks_for_replaces_the_configured_one()
    {
        var lists = new string[MilterConstants.ConfiguredMacroStageCount];
        lists[(int)MacroStage.Connect] = "{client_addr} client_name {client_port} {client_ptr} {client_resolve} {daemon_port} {if_name} {if_addr}";
        lists[(int)MacroStage.Mail] = "{mail_addr}";
        lists[(int)MacroStage.Unknown] = "{client_addr}";
        UseSession(Pair.Settings with { MacroLists = new MacroLists([.. lists.Select(l => MacroNames.ParseList(l ?? string.Empty))]) });
        await NegotiateAsync(Raw.OptNeg(6, 0x1FF, 0, (2, "{mail_host}")));
        var playing = SessionPair.Run(async () =>
        {
            await Session.ConnectAsync(Client);
            await Session.MailAsync("alice@example.org", null);
            return await Session.UnknownAsync("XYZZY");
        });

        var macros = (await RecordUntilAsync('U')).Where(p => p.Code == 'D').ToList();
        await playing;

        Assert.That(macros[0].MacroPairs, Is.EqualTo(new Dictionary<string, string>
        {
            ["{client_addr}"] = "192.0.2.1", ["{client_name}"] = "client.example.net", ["{client_port}"] = "4321",
            ["{client_ptr}"] = "client.example.net", ["{client_resolve}"] = "OK", ["{daemon_port}"] = "25",
            ["{if_name}"] = "mx.example.com", ["{if_addr}"] = "192.0.2.25",
        }));
        Assert.That(macros[1].MacroPairs, Is.EqualTo(new Dictionary<string, string> { ["{mail_host}"] = "example.org" }), "the milter's own list for MAIL");
        Assert.That(macros[2].MacroPairs, Is.EqualTo(new Dictionary<string, string> { ["{client_addr}"] = "192.0.2.1" }), "UNKNOWN_MACROS");
    }
}
