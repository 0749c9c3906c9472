using System.Globalization;
using System.Reflection;
using SpamFilterMilter.Testing.Smtp;

namespace SpamFilterMilter.Tools.Tests.Relay;

/// <summary>
/// The relay as docs/relay.md deploys it: <c>dotnet publish</c>ed to a folder of its own, the plug-in carried along
/// into <c>plugins/</c> beside it (src/SpamFilterMilter/SpamFilterMilter.Deploy.targets), where the relay looks by
/// default. Without that a published relay found no plug-in and refused to start.
/// </summary>
[Category("Integration")]
public sealed class RelayPublishTests : TempFolderTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Test]
    public async Task The_published_relay_carries_the_plugin_and_filters_through_it_from_its_default_plugin_folder()
    {
        // This build's configuration is built already (the tests reference the relay): publish it as it is.
        var configuration = typeof(RelayPublishTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        var published = Path.Combine(Folder.Path, "spamfilter-relay");
        var (exitCode, output) = await ServerProcess.RunAsync("dotnet",
            ["publish", Repository.Path("tools/SpamFilterMilter.Relay/SpamFilterMilter.Relay.csproj"), "-c", configuration, "--no-build", "-o", published, "-nologo"], Patience);
        Assert.That(exitCode, Is.Zero, output);
        var plugin = Path.Combine(published, "plugins", "SpamFilterMilter");
        Assert.That(Directory.GetFiles(plugin).Select(Path.GetFileName), Is.SupersetOf(new[] { "SpamFilterMilter.dll", "SpamFilterMilter.deps.json" })
            .And.Not.Contains("SpamFilterMilter.Contract.dll"), "the plug-in's build output, without the Contract, which must be the host's");

        await using var milter = await MilterProcess.StartLibmilterAsync("-a", "eom=addheader:X-Spam-Flag:YES");
        Folder.Write("milter.opt", string.Create(CultureInfo.InvariantCulture, $"HOST=127.0.0.1\nPORT={milter.Port}\nTIMEOUT=1000\n"));
        Folder.Write("relay.cnf", "tcp_relay sourcespamfilter1\n");
        var optionDat = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");
        await using var relay = ServerProcess.Launch(Path.Combine(published, "spamfilter-relay"),
            ["--options", optionDat, "--channels", Path.Combine(Folder.Path, "relay.cnf"), "--source-channel", "tcp_relay",
            "--maildir", Path.Combine(Folder.Path, "mail"), "--listen", "127.0.0.1:0", "--server-name", "relay.example"], new TempFolder(), port: 0);
        var port = int.Parse((await relay.WaitForLineAsync(RelayReloadTests.ListeningLine(), Patience)).Groups[1].Value, CultureInfo.InvariantCulture);
        var message = Folder.Write("message.eml", "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: published\r\n\r\nHello Bob.");

        var swaks = await Swaks.SendAsync(port, "alice@example.org", ["bob@example.com"], message);

        Assert.That(swaks.ExitCode, Is.Zero, swaks + relay.Output);
        var stored = Directory.GetFiles(Path.Combine(Folder.Path, "mail", "new")).Single();
        Assert.That(await File.ReadAllTextAsync(stored), Does.Contain("X-Spam-Flag: YES"), "the milter's edit, through the plug-in loaded from plugins/ beside the relay");
        relay.Terminate();
        Assert.That(await relay.ExitCodeAsync(Patience), Is.Zero);
    }
}
