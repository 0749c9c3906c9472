using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Options;

/// <summary>Options set in code are held to the ranges and rules the option file's parser applies.</summary>
public class MilterOptionsValidationTests : TempFolderTest
{
    private static MilterOptions Valid() => new() { Host = "milter.example.com", Port = 8890 };

    /// <summary>One value out of range for each option that has a range, set as a developer would set it.</summary>
    private static readonly (string Option, Action<MilterOptions> SetWrong)[] OutOfRange =
    [
        ("PORT", o => o.Port = -5),
        ("DEBUG", o => o.Debug = 3),
        ("TIMEOUT", o => o.Timeout = TimeSpan.FromSeconds(-1)),
        ("SOCKS_PORT", o => o.SocksPort = 65536),
        ("CONNECT_TIMEOUT", o => o.ConnectTimeout = TimeSpan.Zero),
        ("COMMAND_TIMEOUT", o => o.CommandTimeout = TimeSpan.FromDays(2)),
        ("CONTENT_TIMEOUT", o => o.ContentTimeout = TimeSpan.FromMilliseconds(-10)),
        ("MESSAGE_TIMEOUT", o => o.MessageTimeout = TimeSpan.Zero),
        ("MAX_REPLIES", o => o.MaxReplies = 0),
        ("MAX_EDITS", o => o.MaxEdits = 1_000_001),
        ("MAX_PACKET", o => o.MaxPacket = 0),
        ("MAX_REPLACEMENT_BODY", o => o.MaxReplacementBody = -1),
        ("MAX_REPLY_TEXT", o => o.MaxReplyText = 2),
        ("POOL_SIZE", o => o.PoolSize = -1),
        ("POOL_IDLE_TIMEOUT", o => o.PoolIdleTimeout = TimeSpan.FromSeconds(-60)),
        ("BREAKER_THRESHOLD", o => o.BreakerThreshold = 1001),
        ("BREAKER_BACKOFF", o => o.BreakerBackoff = TimeSpan.Zero),
        ("BREAKER_MAX_BACKOFF", o => o.BreakerMaxBackoff = TimeSpan.FromMilliseconds(5)),
        ("IO_THREADS", o => o.IoThreads = 0),
    ];

    private static IEnumerable<TestCaseData> OutOfRangeCases() =>
        OutOfRange.Select(c => new TestCaseData(c.Option, c.SetWrong).SetName($"{c.Option} out of range set in code is refused naming {c.Option}"));

    [Test]
    public void Every_option_with_a_range_has_an_out_of_range_case_here()
    {
        var ranged = MilterOptions.Descriptors.Values.Where(d => d.Range is not null).Select(d => d.Name);

        Assert.That(OutOfRange.Select(c => c.Option), Is.EquivalentTo(ranged), "a new ranged option needs its case in the table");
    }

    [TestCaseSource(nameof(OutOfRangeCases))]
    public void A_value_out_of_its_options_range_is_refused_with_the_option_files_name_and_range(string option, Action<MilterOptions> setWrong)
    {
        var options = Valid();
        setWrong(options);
        var (min, max) = MilterOptions.Descriptors[option].Range!.Value;

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.Multiple(() =>
        {
            Assert.That((error.FilePath, error.Line, error.Option), Is.EqualTo(("options set in code", 0, option)));
            Assert.That(error.Problem, Does.EndWith($": out of range ({min} to {max})"), "the range is the option file's");
            Assert.That(error.MoreProblems, Is.Empty, "one wrong value is one problem");
        });
    }

    [Test]
    public void A_negative_timeout_is_told_as_set_and_in_the_option_files_unit()
    {
        var options = Valid();
        options.Timeout = TimeSpan.FromSeconds(-1);

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.That(error.Message, Is.EqualTo("options set in code: option TIMEOUT: -00:00:01 (-100 hundredths of a second) is too small: out of range (1 to 8640000)"));
    }

    [Test]
    public void Every_wrong_option_is_reported_at_once_naming_where_the_options_came_from()
    {
        var options = new MilterOptions { SourcePath = "milter.opt", Host = "", Port = -5, MaxPacket = 0 };

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.That(new[] { error }.Concat(error.MoreProblems).Select(p => (p.FilePath, p.Option)),
            Is.EqualTo(new[] { ("milter.opt", "HOST"), ("milter.opt", "PORT"), ("milter.opt", "MAX_PACKET") }));
    }

    [TestCase("", "required option is missing")]
    [TestCase("a,,b", "an entry of the list is empty (two commas in a row, or one at an end)")]
    public void A_missing_or_malformed_host_is_refused_as_the_file_refuses_it(string host, string problem)
    {
        var options = Valid();
        options.Host = host;

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.That((error.Option, error.Problem), Is.EqualTo(("HOST", problem)));
    }

    [Test]
    public void Every_option_is_checked_by_its_range_or_a_check_of_its_own_but_those_Validate_checks_itself()
    {
        // HOST, SOCKS_HOST and BODY_SPILL_DIRECTORY are parsed again by Validate; a password is any text.
        string[] checkedByValidate = ["HOST", "SOCKS_HOST", "BODY_SPILL_DIRECTORY", "SOCKS_PASSWORD"];

        var withoutCheck = MilterOptions.Descriptors.Values.Where(d => d.Range is null && d.Check is null).Select(d => d.Name);

        Assert.That(withoutCheck, Is.EquivalentTo(checkedByValidate), "a new option needs a range or a Check, or Validate cannot hold code to it");
    }

    [TestCase("OFFER_MDS")]
    [TestCase("IO_MODE")]
    [TestCase("SOCKS_RESOLVE")]
    [TestCase("FAILURE_ACTION")]
    [TestCase("QUEUE_ID_TIMING")]
    public void A_choice_cast_from_a_number_that_is_none_of_its_values_is_refused(string option)
    {
        var options = Valid();
        switch (option)
        {
            case "OFFER_MDS": options.OfferMds = (OfferMds)42; break;
            case "IO_MODE": options.IoMode = (IoMode)42; break;
            case "SOCKS_RESOLVE": options.SocksResolve = (SocksResolve)42; break;
            case "FAILURE_ACTION": options.FailureAction = (FailureAction)42; break;
            default: options.QueueIdTiming = (QueueIdTiming)42; break;
        }

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.That(error.Option, Is.EqualTo(option));
        Assert.That(error.Problem, Does.StartWith("\"42\" is not one of: "));
        if (option == "FAILURE_ACTION")
        {
            Assert.That(error.Problem, Is.EqualTo("\"42\" is not one of: tempfail, accept, reject, shutdown"), "the values as the option file writes them");
        }
    }

    [Test]
    public void An_empty_socks_user_is_no_problem_without_a_socks_server()
    {
        var options = Valid();
        options.SocksUser = ""; // Environment.UserName for a uid without a passwd entry, as in many containers

        Assert.DoesNotThrow(options.Validate);
        options.SocksHost = "proxy.example.com";
        Assert.That(Assert.Throws<SpamFilterConfigurationException>(options.Validate)!.Option, Is.EqualTo("SOCKS_USER"), "with one it is");
    }

    [Test]
    public void A_socks_user_longer_than_socks5_allows_is_refused()
    {
        var options = Valid();
        options.SocksHost = "proxy.example.com";
        options.SocksUser = new string('u', 256);

        var error = Assert.Throws<SpamFilterConfigurationException>(options.Validate)!;

        Assert.That(error.Option, Is.EqualTo("SOCKS_USER"));
    }

    [TestCase("unix:/run/milter.sock")]
    [TestCase("a.example.com:8890,b.example.com:8891")]
    public void Port_may_be_left_unset_when_host_gives_every_server_its_port_or_a_socket(string host)
    {
        var options = MilterOptions.Load(Folder.Write("milter.opt", $"HOST={host}\n"));

        Assert.That(options.Port, Is.Zero);
        Assert.DoesNotThrow(options.Validate);
    }

    [Test]
    public void Options_read_from_a_file_with_every_default_pass()
    {
        var options = MilterOptions.Load(Folder.Write("milter.opt", "HOST=milter.example.com\nPORT=8890\n"));

        Assert.DoesNotThrow(options.Validate);
    }

    [TestCase(true)]
    [TestCase(false)]
    public void Options_read_from_a_file_at_the_edges_of_every_range_pass(bool least)
    {
        var text = string.Concat(MilterOptions.Descriptors.Values.Where(d => d.Range is not null)
            .Select(d => $"{d.Name}={(least ? d.Range!.Value.Min : d.Range!.Value.Max)}\n"));
        var options = MilterOptions.Load(Folder.Write("milter.opt", "HOST=milter.example.com\n" + text));

        Assert.DoesNotThrow(options.Validate);
    }

    [Test]
    public void The_plugin_refuses_options_set_in_code_out_of_range_when_it_is_made()
    {
        var options = Valid();
        options.Port = -5;

        var error = Assert.Throws<SpamFilterConfigurationException>(() => new MilterPlugin(options))!;

        Assert.That(error.Option, Is.EqualTo("PORT"));
    }
}
