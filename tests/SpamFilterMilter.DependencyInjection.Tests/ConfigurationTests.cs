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
