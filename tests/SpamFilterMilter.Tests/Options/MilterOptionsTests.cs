using Microsoft.Extensions.Configuration;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Tests.Options;

public class MilterOptionsTests : TempFolderTest
{
    private MilterOptions Load(string text) => MilterOptions.Load(Folder.Write("milter.opt", text));

    private SpamFilterConfigurationException LoadFails(string text)
    {
        var path = Folder.Write("milter.opt", text);
        return Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;
    }

    [Test]
    public void Host_and_port_alone_give_the_documented_defaults()
    {
        var options = Load("HOST=milter.example.com\nPORT=8890\n");

        Assert.Multiple(() =>
        {
            Assert.That(options.Host, Is.EqualTo("milter.example.com"));
            Assert.That(options.Port, Is.EqualTo(8890));
            Assert.That(options.Debug, Is.Zero);
            Assert.That(options.Timeout, Is.EqualTo(TimeSpan.FromSeconds(36)), "TIMEOUT defaults to 3600 hundredths");
            Assert.That(options.SocksHost, Is.Null);
            Assert.That(options.SocksPort, Is.EqualTo(1080));
            Assert.That(options.SocksPassword, Is.Null);
            Assert.That(options.FailureAction, Is.EqualTo(FailureAction.TempFail));
        });
    }

    [Test]
    public void Every_option_is_read_with_comments_blank_lines_case_and_blanks_ignored()
    {
        var options = Load("""
            ! Messaging Server style comment
            # shell style comment

              host =  milter.example.com
            Port=8890
            debug= 2
            TIMEOUT = 150
            socks_host=socks.example.com
            SOCKS_PORT=1081
            SOCKS_PASSWORD= s3cret with spaces
            failure_action=Reject
            """);

        Assert.Multiple(() =>
        {
            Assert.That(options.Host, Is.EqualTo("milter.example.com"));
            Assert.That(options.Port, Is.EqualTo(8890));
            Assert.That(options.Debug, Is.EqualTo(2));
            Assert.That(options.Timeout, Is.EqualTo(TimeSpan.FromSeconds(1.5)), "TIMEOUT counts hundredths of a second");
            Assert.That(options.SocksHost, Is.EqualTo("socks.example.com"));
            Assert.That(options.SocksPort, Is.EqualTo(1081));
            Assert.That(options.SocksPassword, Is.EqualTo("s3cret with spaces"));
            Assert.That(options.FailureAction, Is.EqualTo(FailureAction.Reject));
        });
    }

    /// <summary>Every option, a value other than its default, and where that value must land.</summary>
    private static readonly (string Option, string Value, Func<MilterOptions, object?> Read, object? Expected)[] EveryOption =
    [
        ("HOST", "milter.example.com", o => o.Host, "milter.example.com"),
        ("PORT", "8890", o => o.Port, 8890),
        ("DEBUG", "1", o => o.Debug, 1),
        ("TIMEOUT", "150", o => o.Timeout, TimeSpan.FromSeconds(1.5)),
        ("SOCKS_HOST", "socks.example.com", o => o.SocksHost, "socks.example.com"),
        ("SOCKS_PORT", "1081", o => o.SocksPort, 1081),
        ("SOCKS_PASSWORD", "s3cret", o => o.SocksPassword, "s3cret"),
        ("CONNECT_TIMEOUT", "250", o => o.ConnectTimeout, TimeSpan.FromSeconds(2.5)),
        ("COMMAND_TIMEOUT", "350", o => o.CommandTimeout, TimeSpan.FromSeconds(3.5)),
        ("CONTENT_TIMEOUT", "450", o => o.ContentTimeout, TimeSpan.FromSeconds(4.5)),
        ("MESSAGE_TIMEOUT", "1234", o => o.MessageTimeout, TimeSpan.FromSeconds(12.34)),
        ("MAX_REPLIES", "77", o => o.MaxReplies, 77),
        ("MAX_EDITS", "88", o => o.MaxEdits, 88),
        ("MAX_PACKET", "262143", o => o.MaxPacket, 262143),
        ("MAX_REPLACEMENT_BODY", "4096", o => o.MaxReplacementBody, 4096),
        ("BODY_SPILL_DIRECTORY", Path.GetTempPath(), o => o.BodySpillDirectory, Path.GetTempPath()),
        ("MAX_REPLY_TEXT", "512", o => o.MaxReplyText, 512),
        ("OFFER_MDS", "256K", o => o.OfferMds, OfferMds.Size256K),
        ("POOL_SIZE", "4", o => o.PoolSize, 4),
        ("POOL_IDLE_TIMEOUT", "300", o => o.PoolIdleTimeout, TimeSpan.FromSeconds(3)),
        ("BREAKER_THRESHOLD", "5", o => o.BreakerThreshold, 5),
        ("BREAKER_BACKOFF", "500", o => o.BreakerBackoff, TimeSpan.FromSeconds(5)),
        ("BREAKER_MAX_BACKOFF", "60000", o => o.BreakerMaxBackoff, TimeSpan.FromMinutes(10)),
        ("IO_MODE", "Blocking", o => o.IoMode, IoMode.Blocking),
        ("IO_THREADS", "32", o => o.IoThreads, 32),
        ("SOCKS_USER", "milteruser", o => o.SocksUser, "milteruser"),
        ("SOCKS_RESOLVE", "remote", o => o.SocksResolve, SocksResolve.Remote),
        ("FAILURE_ACTION", "shutdown", o => o.FailureAction, FailureAction.Shutdown),
        ("CONNECT_MACROS", "j, {client_addr} client_name _", o => o.ConnectMacros, new[] { "j", "{client_addr}", "{client_name}", "_" }),
        ("HELO_MACROS", "{tls_version}", o => o.HeloMacros, new[] { "{tls_version}" }),
        ("MAIL_MACROS", "i,{mail_addr}", o => o.MailMacros, new[] { "i", "{mail_addr}" }),
        ("RCPT_MACROS", "{i} rcpt_addr", o => o.RcptMacros, new[] { "i", "{rcpt_addr}" }),
        ("DATA_MACROS", "i v", o => o.DataMacros, new[] { "i", "v" }),
        ("EOH_MACROS", "i j", o => o.EndOfHeaderMacros, new[] { "i", "j" }),
        ("EOM_MACROS", "i {client_addr}", o => o.EndOfMessageMacros, new[] { "i", "{client_addr}" }),
        ("UNKNOWN_MACROS", "{client_addr}", o => o.UnknownMacros, new[] { "{client_addr}" }),
        ("QUEUE_ID_TIMING", "Sendmail", o => o.QueueIdTiming, QueueIdTiming.Sendmail),
    ];

    // Each row: a macro list option's value (Postfix's syntax) and the names it means, in canonical form and order.
    [TestCase("j {daemon_name} {daemon_addr} v _", new[] { "j", "{daemon_name}", "{daemon_addr}", "v", "_" }, TestName = "Postfix's connect default")]
    [TestCase("j, daemon_name,{daemon_addr}\tv", new[] { "j", "{daemon_name}", "{daemon_addr}", "v" }, TestName = "Blanks, commas and tabs separate names; braces are optional")]
    [TestCase("{j} {i}", new[] { "j", "i" }, TestName = "A one-character name in braces goes out bare")]
    [TestCase("i i", new[] { "i", "i" }, TestName = "A name given twice is sent twice, as Postfix does")]
    [TestCase("", new string[0], TestName = "An empty value is an empty list")]
    [TestCase(" , ", new string[0], TestName = "Separators alone are an empty list")]
    public void A_macro_list_is_read_as_Postfix_writes_it(string value, string[] names)
    {
        var options = Load($"HOST=h\nPORT=1\nEOH_MACROS={value}\n");

        Assert.That(options.EndOfHeaderMacros, Is.EqualTo(names));
    }

    [Test]
    public void The_macro_lists_default_to_Postfix_3_7_and_the_queue_id_to_its_timing()
    {
        var options = new MilterOptions();

        Assert.Multiple(() =>
        {
            Assert.That(options.ConnectMacros, Is.EqualTo(new[] { "j", "{daemon_name}", "{daemon_addr}", "v", "_" }));
            Assert.That(options.HeloMacros, Is.EqualTo(new[] { "{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}" }));
            Assert.That(options.MailMacros, Is.EqualTo(new[] { "i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}", "{spamfilter_optin}" }));
            Assert.That(options.RcptMacros, Is.EqualTo(new[] { "i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}" }));
            Assert.That((options.DataMacros, options.EndOfHeaderMacros, options.EndOfMessageMacros), Is.EqualTo((new[] { "i" }, new[] { "i" }, new[] { "i" })));
            Assert.That(options.UnknownMacros, Is.Empty);
            Assert.That(options.QueueIdTiming, Is.EqualTo(QueueIdTiming.Postfix));
        });
    }

    [Test]
    public void Each_option_in_a_file_sets_what_it_names()
    {
        var options = Load(string.Concat(EveryOption.Select(o => $"{o.Option}={o.Value}\n")));

        Assert.Multiple(() =>
        {
            foreach (var (option, _, read, expected) in EveryOption)
            {
                Assert.That(read(options), Is.EqualTo(expected), option);
                Assert.That(read(new MilterOptions()), Is.Not.EqualTo(expected), $"{option}: the value must differ from the default to prove anything");
            }
        });
        Assert.That(EveryOption.Select(o => o.Option), Is.EquivalentTo(MilterOptions.Descriptors.Keys), "the table covers every option there is");
    }

    [Test]
    public void Each_option_written_at_its_documented_default_changes_nothing()
    {
        var defaults = Load("HOST=milter.example.com\nPORT=8890\n");
        var literal = MilterOptions.Descriptors.Values.Where(d => !d.Required && !d.Default.StartsWith('(') && d.Default != "TIMEOUT").ToList();

        Assert.Multiple(() =>
        {
            foreach (var descriptor in literal)
            {
                var written = Load($"HOST=milter.example.com\nPORT=8890\n{descriptor.Name}={descriptor.Default}\n");
                var read = EveryOption.Single(o => o.Option == descriptor.Name).Read;
                Assert.That(read(written), Is.EqualTo(read(defaults)), $"{descriptor.Name}={descriptor.Default} is what the documentation says the default is");
            }
        });
        Assert.That(literal, Has.Count.GreaterThan(12));
    }

    // Each row: an option file's timeouts, and the connect, command and content timeouts they give, in hundredths.
    [TestCase("TIMEOUT=200\n", 200, 200, 200, TestName = "TIMEOUT alone, as in a Messaging Server option file, bounds every stage")]
    [TestCase("TIMEOUT=200\nCONTENT_TIMEOUT=30000\n", 200, 200, 30000, TestName = "CONTENT_TIMEOUT alone gives the content more time than the commands")]
    [TestCase("COMMAND_TIMEOUT=50\nTIMEOUT=200\n", 200, 50, 200, TestName = "A stage's timeout wins over TIMEOUT whatever their order")]
    [TestCase("", 3600, 3600, 3600, TestName = "Without any, each is TIMEOUT's default")]
    public void TIMEOUT_is_the_default_of_each_stage_timeout(string text, int connect, int command, int content)
    {
        var options = Load("HOST=h\nPORT=1\n" + text);

        Assert.That((options.ConnectTimeout, options.CommandTimeout, options.ContentTimeout),
            Is.EqualTo((TimeSpan.FromMilliseconds(connect * 10), TimeSpan.FromMilliseconds(command * 10), TimeSpan.FromMilliseconds(content * 10))));
    }

    [Test]
    public void Windows_line_ends_are_accepted()
    {
        var options = Load("HOST=127.0.0.1\r\nPORT=25\r\n");

        Assert.That((options.Host, options.Port), Is.EqualTo(("127.0.0.1", 25)));
    }

    [TestCase("unix:/run/milter/spam.sock")]
    [TestCase("local:/run/milter/spam.sock")]
    public void A_UNIX_domain_socket_is_written_as_HOST_without_PORT(string host)
    {
        var options = Load($"HOST={host}\n");

        Assert.That((options.UnixSocketPath, options.EndpointName), Is.EqualTo(("/run/milter/spam.sock", "unix:/run/milter/spam.sock")));
    }

    [TestCase("HOST=unix:relative.sock\n", 1, "HOST", "\"relative.sock\" is not an absolute socket path")]
    [TestCase("HOST=unix:/run/m.sock\nPORT=25\n", 2, "PORT", "does not apply: HOST names a UNIX-domain socket")]
    [TestCase("HOST=unix:/run/m.sock\nSOCKS_HOST=s\n", 2, "SOCKS_HOST", "a SOCKS server cannot reach a UNIX-domain socket")]
    public void A_UNIX_domain_socket_refuses_what_does_not_apply(string text, int line, string option, string problem)
    {
        var error = LoadFails(text);

        Assert.That((error.Line, error.Option), Is.EqualTo((line, option)));
        Assert.That(error.Problem, Is.EqualTo(problem));
    }

    [Test]
    public void A_bracketed_IPv6_literal_is_stored_bare_and_named_with_brackets()
    {
        var options = Load("HOST=[::1]\nPORT=8890\n");

        Assert.That((options.Host, options.EndpointName), Is.EqualTo(("::1", "[::1]:8890")));
    }

    [Test]
    public void HOST_may_name_several_servers_each_with_its_own_port_or_PORT()
    {
        var options = Load("HOST=milter1.example.com, 10.0.0.6:8891,[2001:db8::5]:25,fe80::1,unix:/run/milter.sock\nPORT=8890\n");

        Assert.That(options.Servers.Select(s => s.Name), Is.EqualTo(new[]
        {
            "milter1.example.com:8890", "10.0.0.6:8891", "[2001:db8::5]:25", "[fe80::1]:8890", "unix:/run/milter.sock",
        }));
        Assert.That((options.EndpointName, options.EffectiveBreakerThreshold),
            Is.EqualTo(("milter1.example.com:8890,10.0.0.6:8891,[2001:db8::5]:25,[fe80::1]:8890,unix:/run/milter.sock", 3)));
    }

    [Test]
    public void PORT_may_be_left_out_when_every_server_has_its_own()
    {
        var options = Load("HOST=a:1,b:2,unix:/run/m.sock\n");

        Assert.That(options.Servers.Select(s => (s.Host, s.Port)), Is.EqualTo(new[] { ("a", 1), ("b", 2), ("unix:/run/m.sock", 0) }));
    }

    [TestCase("HOST=milter.example.com\nPORT=8890\n", "milter.example.com", "milter.example.com:8890")]
    [TestCase("HOST=[::1]\nPORT=8890\n", "::1", "[::1]:8890")]
    [TestCase("HOST=unix:/run/m.sock\n", "unix:/run/m.sock", "unix:/run/m.sock")]
    public void One_server_is_read_as_HOST_always_was_and_has_no_breaker_unless_asked(string text, string host, string name)
    {
        var options = Load(text);

        Assert.That((options.Host, options.EndpointName, options.Servers.Count, options.EffectiveBreakerThreshold), Is.EqualTo((host, name, 1, 0)));
        Assert.That(Load(text + "BREAKER_THRESHOLD=3\n").EffectiveBreakerThreshold, Is.EqualTo(3));
    }

    [TestCase("HOST=a,,b\nPORT=1\n", 1, "HOST", "an entry of the list is empty")]
    [TestCase("HOST=a,\nPORT=1\n", 1, "HOST", "an entry of the list is empty")]
    [TestCase("HOST=a:0,b\nPORT=1\n", 1, "HOST", "\"a:0\": the port \"0\" is not a whole number from 1 to 65535")]
    [TestCase("HOST=a:http,b\nPORT=1\n", 1, "HOST", "\"a:http\": the port \"http\" is not a whole number from 1 to 65535")]
    [TestCase("HOST=a,b:2,a\nPORT=1\n", 1, "HOST", "\"a\" is named twice")]
    [TestCase("HOST=a:1,b\n", 0, "PORT", "required option is missing")]
    [TestCase("HOST=a:1,unix:rel.sock\n", 1, "HOST", "\"rel.sock\" is not an absolute socket path")]
    [TestCase("HOST=a:1,unix:/run/m.sock\nSOCKS_HOST=s\n", 2, "SOCKS_HOST", "a SOCKS server cannot reach a UNIX-domain socket")]
    [TestCase("HOST=unix:/run/a.sock,unix:/run/b.sock\nPORT=25\n", 2, "PORT", "does not apply: HOST names a UNIX-domain socket")]
    public void A_list_of_servers_refuses_what_is_wrong_naming_it(string text, int line, string option, string problem)
    {
        var error = LoadFails(text);

        Assert.That((error.Line, error.Option), Is.EqualTo((line, option)));
        Assert.That(error.Problem, Does.StartWith(problem));
    }

    // Each row: file text, the line the error must name (0 = the file as a whole), the option, words of the problem.
    private static readonly object[] BadFiles =
    [
        new object[] { "PORT=8890\n", 0, "HOST", "required option is missing" },
        new object[] { "HOST=h\n", 0, "PORT", "required option is missing" },
        new object[] { "HOST=\nPORT=1\n", 1, "HOST", "host name or address is required" },
        new object[] { "HOST=h\nPORT=eighty\n", 2, "PORT", "\"eighty\" is not a whole number" },
        new object[] { "HOST=h\nPORT=+9701\n", 2, "PORT", "\"+9701\" is not a whole number" },
        new object[] { "HOST=h\nPORT=70000\n", 2, "PORT", "70000 is too large: out of range (1 to 65535)" },
        new object[] { "HOST=h\nPORT=1\nTIMEOUT=99999999999\n", 3, "TIMEOUT", "99999999999 is too large: out of range (1 to 8640000)" },
        new object[] { "HOST=h\nPORT=1\nMAX_REPLIES=-99999999999\n", 3, "MAX_REPLIES", "-99999999999 is too small: out of range (1 to 1000000)" },
        new object[] { "HOST=h\nPORT=0\n", 2, "PORT", "out of range" },
        new object[] { "HOST=h\nPORT=1\nDEBUG=3\n", 3, "DEBUG", "out of range (0 to 2)" },
        new object[] { "HOST=h\nPORT=1\nTIMEOUT=0\n", 3, "TIMEOUT", "out of range" },
        new object[] { "HOST=h\nPORT=1\nTIMEOUT=1.5\n", 3, "TIMEOUT", "not a whole number" },
        new object[] { "HOST=h\nPORT=1\nSOCKS_PORT=-1\n", 3, "SOCKS_PORT", "out of range" },
        new object[] { "HOST=h\nPORT=1\n\n# comment\nCOLOUR=blue\n", 5, "COLOUR", "unknown option" },
        new object[] { "HOST=h\nPORT=1\nTIMOUT=100\n", 3, "TIMOUT", "unknown option (did you mean TIMEOUT?)" },
        new object[] { "HOST=h\nPORT=1\nsocks_hots=proxy\n", 3, "SOCKS_HOTS", "unknown option (did you mean SOCKS_HOST?)" },
        new object[] { "HOST=h\nPORT=1\nPORT=2\n", 3, "PORT", "given twice (first on line 2)" },
        new object[] { "HOST=h\nPORT 8890\n", 2, null!, "expected option=value" },
        new object[] { "HOST=h\n=8890\n", 2, null!, "option name before '=' is empty" },
        new object[] { "HOST=milter example\nPORT=1\n", 1, "HOST", "contains white space" },
        new object[] { "HOST=127.0.0.1:9702:1\nPORT=1\n", 1, "HOST", "\"127.0.0.1:9702:1\" is neither a host name nor an IPv6 address (an IPv6 address with a port is written [address]:port)" },
        new object[] { "HOST=[milter.example.com]:8890\n", 1, "HOST", "is neither a host name nor an IPv6 address" },
        new object[] { "HOST=h\nPORT=1\nSOCKS_HOST=proxy:1080:x\n", 3, "SOCKS_HOST", "is neither a host name nor an IPv6 address" },
        new object[] { "HOST=h\nPORT=1\nFAILURE_ACTION=shrug\n", 3, "FAILURE_ACTION", "not one of: tempfail, accept, reject" },
        new object[] { "HOST=h\nPORT=1\nFAILURE_ACTION=1\n", 3, "FAILURE_ACTION", "not one of" },
        new object[] { "HOST=h\nPORT=1\nCONNECT_MACROS=j {daemon_name\n", 3, "CONNECT_MACROS", "\"{daemon_name\" is not a macro name" },
        new object[] { "HOST=h\nPORT=1\nMAIL_MACROS=i {}\n", 3, "MAIL_MACROS", "\"{}\" is not a macro name" },
        new object[] { "HOST=h\nPORT=1\n\nRCPT_MACROS=rcpt}addr\n", 4, "RCPT_MACROS", "\"rcpt}addr\" is not a macro name" },
        new object[] { "HOST=h\nPORT=1\nEOM_MACROS={a{b}\n", 3, "EOM_MACROS", "is not a macro name" },
        new object[] { "HOST=h\nPORT=1\nQUEUE_ID_TIMING=early\n", 3, "QUEUE_ID_TIMING", "not one of: postfix, sendmail" },
        new object[] { "HOST=h\nPORT=1\nIO_THREADS=0\n", 3, "IO_THREADS", "0 is too small: out of range (1 to 1024)" },
        new object[] { "HOST=h\nPORT=1\nIO_THREADS=2000\n", 3, "IO_THREADS", "2000 is too large: out of range (1 to 1024)" },
    ];

    [TestCaseSource(nameof(BadFiles))]
    public void A_bad_option_file_is_an_error_naming_file_line_and_option(string text, int line, string? option, string problem)
    {
        var error = LoadFails(text);

        Assert.Multiple(() =>
        {
            Assert.That(error.FilePath, Is.EqualTo(Path.Combine(Folder.Path, "milter.opt")));
            Assert.That(error.Line, Is.EqualTo(line));
            Assert.That(error.Option, Is.EqualTo(option));
            Assert.That(error.Message, Does.StartWith(line > 0 ? $"{error.FilePath}:{line}: " : $"{error.FilePath}: "));
            Assert.That(error.Message, Does.Contain(problem));
            if (option is not null)
            {
                Assert.That(error.Message, Does.Contain($"option {option}"));
            }
        });
    }

    [Test]
    public void An_empty_HOST_is_told_once_at_its_line_not_again_as_missing() =>
        Assert.That(LoadFails("HOST=\nPORT=1\n").AllProblems.Select(e => (e.Line, e.Option, e.Problem)),
            Is.EqualTo(new[] { (1, "HOST", "a host name or address is required") }));

    [TestCase("HOST=h\nPORT=8890   # the sample milter\n", "\"8890   # the sample milter\" is not a whole number (a comment is a line of its own, starting with # or !)")]
    [TestCase("HOST=h\nPORT=1\nDEBUG=2 ! traffic\n", "(a comment is a line of its own, starting with # or !)")]
    [TestCase("HOST=h\nPORT=eighty\n", "\"eighty\" is not a whole number")]
    public void A_value_with_a_comment_after_it_is_told_that_a_comment_needs_a_line_of_its_own(string text, string problem) =>
        Assert.That(LoadFails(text).Problem, Does.EndWith(problem));

    [Test]
    public void Every_bad_option_is_found_the_first_thrown_carrying_the_others()
    {
        var error = LoadFails("HOST=h\nPORT=eighty\nTIMEOUT=0\nCOLOUR=blue\n");

        Assert.That(error.MoreProblems.Prepend(error).Select(e => (e.Line, e.Option)), Is.EqualTo(new[] { (2, "PORT"), (3, "TIMEOUT"), (4, "COLOUR") }));
        Assert.That(error.MoreProblems.Select(e => e.FilePath), Is.All.EqualTo(error.FilePath));
    }

    [Test]
    public void A_missing_file_is_an_error_naming_it()
    {
        var path = Path.Combine(Folder.Path, "absent.opt");

        var error = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;

        Assert.That(error.Message, Does.StartWith(path + ": cannot read the option file"));
    }

    [Test]
    public void The_option_file_reaches_the_options_through_Microsoft_Extensions_Configuration()
    {
        var path = Folder.Write("milter.opt", "Host=h\nPort=9\n");
        var configuration = new ConfigurationBuilder().AddMilterOptionFile(path).Build();

        Assert.That((configuration["HOST"], configuration["port"]), Is.EqualTo(("h", "9")), "keys are case-insensitive");
    }

    [Test]
    public void A_list_or_section_where_an_option_takes_one_value_is_refused_naming_the_option()
    {
        // What appsettings.json makes of "CONNECT_MACROS": ["j", "{daemon_name}"]: the option would otherwise be an empty list.
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["HOST"] = "h", ["PORT"] = "9", ["CONNECT_MACROS:0"] = "j", ["CONNECT_MACROS:1"] = "{daemon_name}" })
            .Build();

        var e = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.FromConfiguration(configuration, "appsettings.json"))!;

        Assert.That(e.Message, Is.EqualTo("appsettings.json: option CONNECT_MACROS: takes one value written as in the option file, not a list or a section"));
    }

    [Test]
    public void A_password_line_without_an_equals_sign_is_refused_without_showing_the_password()
    {
        var path = Folder.Write("socks.opt", "HOST=h\nPORT=8890\nSOCKS_HOST=proxy\nSOCKS_PASSWORD s3cret-Pa55\n");

        var e = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;

        Assert.That((e.Line, e.Problem), Is.EqualTo((4, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)")));
        Assert.That(e.ToString(), Does.Not.Contain("s3cret"), "not in the message, nor anywhere in the exception");
    }
}
