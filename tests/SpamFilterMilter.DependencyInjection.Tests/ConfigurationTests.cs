using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace SpamFilterMilter.DependencyInjection.Tests;

/// <summary>
/// The options a container gets are the option file's: from an appsettings section with the file's names, or from the
/// file itself, read by the same descriptor table, and refused at start-up with the same messages.
/// </summary>
public class ConfigurationTests : TempFolderTest
{
    private const string OptionFile = "HOST=milter.example.com\nPORT=8890\nTIMEOUT=500\nIO_MODE=blocking\nCONNECT_MACROS=j {daemon_name}\n";

    private const string AppSettings = """
        {
          "SpamFilterMilter": {
            "HOST": "milter.example.com",
            "PORT": 8890,
            "timeout": 500,
            "IO_MODE": "blocking",
            "CONNECT_MACROS": "j {daemon_name}"
          }
        }
        """;

    [Test]
    public void An_appsettings_section_with_the_option_files_names_gives_exactly_the_options_the_option_file_gives()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Folder.Write("appsettings.json", AppSettings)).Build();
        using var provider = new ServiceCollection().AddSpamFilterMilter(configuration.GetSection("SpamFilterMilter")).Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<MilterOptions>>().Value;

        Assert.That(Described(options), Is.EqualTo(Described(MilterOptions.Load(Folder.Write("milter.opt", OptionFile)))));
        Assert.That((options.Port, options.Timeout, options.IoMode), Is.EqualTo((8890, TimeSpan.FromSeconds(5), IoMode.Blocking)), "a JSON number is a value as any other");
    }

    [Test]
    public void An_option_file_path_gives_the_files_options()
    {
        var path = Folder.Write("milter.opt", OptionFile);
        using var provider = new ServiceCollection().AddSpamFilterMilter(path).Services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<MilterOptions>>().Value;

        Assert.That(Described(options), Is.EqualTo(Described(MilterOptions.Load(path))));
        Assert.That(options.SourcePath, Is.EqualTo(path), "log lines name the file");
    }

    /// <summary>Each case: an option file line, and the same option as an appsettings value.</summary>
    private static readonly TestCaseData[] BadOptions =
    [
        new TestCaseData("PORT", "x").SetName("A port that is not a number"),
        new TestCaseData("PORT", "70000").SetName("A port out of range"),
        new TestCaseData("TIMEOUT", "0").SetName("A timeout of zero"),
        new TestCaseData("IO_MODE", "fast").SetName("An I/O mode that is not one of the choices"),
        new TestCaseData("OFFER_MDS", "2m").SetName("A packet size that is not offered"),
        new TestCaseData("PROT", "8890").SetName("An option that does not exist"),
    ];

    [TestCaseSource(nameof(BadOptions))]
    public async Task A_wrong_option_in_appsettings_stops_the_host_at_start_up_with_the_option_files_message(string option, string value)
    {
        var settings = new Dictionary<string, string> { ["HOST"] = "h", ["PORT"] = "8890", [option] = value };
        var file = Folder.Write("milter.opt", string.Concat(settings.Select(s => $"{s.Key}={s.Value}\n")));
        var fileError = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(file))!;
        using var host = HostWith(settings.ToDictionary(s => "SpamFilterMilter:" + s.Key, s => (string?)s.Value),
            builder => builder.Services.AddSpamFilterMilter(builder.Configuration.GetSection("SpamFilterMilter")));

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        Assert.That(error.Message, Is.EqualTo($"configuration section SpamFilterMilter: option {fileError.Option}: {fileError.Problem}"));
        await host.StopAsync();
    }

    [Test]
    public void A_missing_required_option_stops_the_host_naming_it()
    {
        using var host = HostWith(new() { ["SpamFilterMilter:PORT"] = "8890" },
            builder => builder.Services.AddSpamFilterMilter(builder.Configuration.GetSection("SpamFilterMilter")));

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        Assert.That(error.Message, Is.EqualTo("configuration section SpamFilterMilter: option HOST: required option is missing"));
    }

    [Test]
    public void A_wrong_option_file_stops_the_host_with_the_message_it_gives_alone_file_and_line_included()
    {
        var path = Folder.Write("milter.opt", "HOST=h\n# a comment\nPORT=x\n");
        var fileError = Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(path))!;
        using var host = HostWith([], builder => builder.Services.AddSpamFilterMilter(path, "spam"));

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        Assert.That((error.Message, error.OptionsName), Is.EqualTo((fileError.Message, "spam")));
        Assert.That(error.Message, Does.StartWith(path + ":3: option PORT: "));
    }

    [Test]
    public void An_option_file_with_several_wrong_lines_stops_the_host_naming_every_one()
    {
        var path = Folder.Write("milter.opt", "HOST=h\nPORT=x\nTIMOUT=5\n");
        using var host = HostWith([], builder => builder.Services.AddSpamFilterMilter(path));

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        var failures = error.Failures.ToList();
        Assert.That(failures, Has.Count.EqualTo(2), error.Message);
        Assert.That(failures[0], Does.StartWith(path + ":2: option PORT: "));
        Assert.That(failures[1], Does.StartWith(path + ":3: option TIMOUT: "));
    }

    /// <summary>One value out of range for each option that has a range, as a Configure callback would set it.</summary>
    private static readonly (string Option, Action<MilterOptions> SetWrong)[] OutOfRangeInCode =
    [
        ("PORT", o => o.Port = -5),
        ("DEBUG", o => o.Debug = -1),
        ("TIMEOUT", o => o.Timeout = TimeSpan.FromSeconds(-1)),
        ("SOCKS_PORT", o => o.SocksPort = 0),
        ("CONNECT_TIMEOUT", o => o.ConnectTimeout = TimeSpan.FromSeconds(-1)),
        ("COMMAND_TIMEOUT", o => o.CommandTimeout = TimeSpan.Zero),
        ("CONTENT_TIMEOUT", o => o.ContentTimeout = TimeSpan.FromDays(1.5)),
        ("MESSAGE_TIMEOUT", o => o.MessageTimeout = TimeSpan.FromSeconds(-30)),
        ("MAX_REPLIES", o => o.MaxReplies = -1),
        ("MAX_EDITS", o => o.MaxEdits = 0),
        ("MAX_PACKET", o => o.MaxPacket = 0),
        ("MAX_REPLACEMENT_BODY", o => o.MaxReplacementBody = int.MinValue),
        ("MAX_REPLY_TEXT", o => o.MaxReplyText = 0),
        ("POOL_SIZE", o => o.PoolSize = 10_001),
        ("POOL_IDLE_TIMEOUT", o => o.PoolIdleTimeout = TimeSpan.Zero),
        ("BREAKER_THRESHOLD", o => o.BreakerThreshold = -1),
        ("BREAKER_BACKOFF", o => o.BreakerBackoff = TimeSpan.FromSeconds(-1)),
        ("BREAKER_MAX_BACKOFF", o => o.BreakerMaxBackoff = TimeSpan.Zero),
        ("IO_THREADS", o => o.IoThreads = 0),
    ];

    private static IEnumerable<TestCaseData> OutOfRangeInCodeCases() => OutOfRangeInCode.Select(c =>
        new TestCaseData(c.Option, c.SetWrong).SetName($"{c.Option} out of range set by Configure stops the host naming {c.Option}"));

    [Test]
    public void Every_option_with_a_range_has_a_case_set_in_code_here()
    {
        var ranged = MilterOptions.Descriptors.Values.Where(d => d.Range is not null).Select(d => d.Name);

        Assert.That(OutOfRangeInCode.Select(c => c.Option), Is.EquivalentTo(ranged), "a new ranged option needs its case in the table");
    }

    [TestCaseSource(nameof(OutOfRangeInCodeCases))]
    public void A_value_set_by_Configure_out_of_its_options_range_stops_the_host_at_start_up(string option, Action<MilterOptions> setWrong)
    {
        using var host = HostWith(new() { ["SpamFilterMilter:HOST"] = "127.0.0.1", ["SpamFilterMilter:PORT"] = "1" }, builder =>
        {
            builder.Services.AddSpamFilterMilter(builder.Configuration.GetSection("SpamFilterMilter"));
            builder.Services.Configure(setWrong);
        });

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        Assert.That(error.Failures, Has.Exactly(1).StartsWith($"configuration section SpamFilterMilter: option {option}: ").And.Contains(": out of range ("));
    }

    [Test]
    public void Port_set_to_minus_five_by_PostConfigure_after_an_option_file_stops_the_host_naming_PORT_and_the_file()
    {
        var path = Folder.Write("milter.opt", OptionFile);
        using var host = HostWith([], builder =>
        {
            builder.Services.AddSpamFilterMilter(path);
            builder.Services.PostConfigure<MilterOptions>(o => (o.Port, o.Host) = (-5, ""));
        });

        var error = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync())!;

        Assert.That(error.Failures, Is.EqualTo(new[]
        {
            $"{path}: option HOST: required option is missing",
            $"{path}: option PORT: -5 is too small: out of range (1 to 65535)",
        }), "every wrong option, each naming the file the other options came from");
    }

    [Test]
    public async Task A_right_configuration_lets_the_host_start_without_contacting_the_milter()
    {
        // Port 1 on loopback: nothing listens there, and start-up must not try.
        using var host = HostWith(new() { ["SpamFilterMilter:HOST"] = "127.0.0.1", ["SpamFilterMilter:PORT"] = "1" },
            builder => builder.Services.AddSpamFilterMilter(builder.Configuration.GetSection("SpamFilterMilter")));

        await host.StartAsync();

        Assert.That(host.Services.GetRequiredService<ISpamFilterPlugin>().Description, Is.EqualTo("milter 127.0.0.1:1"));
        await host.StopAsync();
    }

    /// <summary>A host with nothing but these settings and these services: what an application's Program.cs builds.</summary>
    private static IHost HostWith(Dictionary<string, string?> settings, Action<HostApplicationBuilder> configure)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        configure(builder);
        return builder.Build();
    }

    /// <summary>Every public property of the options but where they came from, as text, to compare two option sets whole.</summary>
    private static Dictionary<string, string> Described(MilterOptions options) =>
        typeof(MilterOptions).GetProperties()
            .Where(p => p.Name != nameof(MilterOptions.SourcePath))
            .ToDictionary(p => p.Name, p => p.GetValue(options) switch
            {
                IEnumerable<string> list => string.Join(' ', list),
                var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "(null)",
            });
}
