using SpamFilterMilter.ReferenceHost;

namespace SpamFilterMilter.Tools.Tests.ReferenceHost;

/// <summary>The README's first command: the demo on the bundled sample milter and sample messages.</summary>
public class DemoTests
{
    [Test]
    public async Task The_demo_filters_every_sample_through_the_plug_in_loaded_by_path()
    {
        var samples = new DirectoryInfo(Repository.Path("etc/samples"));
        using var output = new StringWriter();

        var exit = await Demo.RunAsync(DeployedPlugin.Path, samples, debug: 0, output, default);

        var text = output.ToString();
        Assert.That(exit, Is.Zero);
        Assert.That(text, Does.Contain("loaded in load context \"spamfilter:SpamFilterMilter.dll\""));
        Assert.Multiple(() =>
        {
            Assert.That(Section(text, "01-clean.eml"), Does.Contain("verdict: default"));
            Assert.That(Section(text, "02-lottery.eml"), Does.Contain("replaceheader :index 1 \"Subject\" \"[SPAM] You are our lottery WINNER\";")
                .And.Contain("quarantine \"sample milter: looks like a lottery scam\";"));
            Assert.That(Section(text, "03-eicar-test-virus.eml"), Does.Contain("ereject \"554 5.7.1 Virus found: EICAR-Test-File (sample milter)\";"));
            Assert.That(Section(text, "04-blocked-sender.eml"), Does.Contain("(decided at mail)"));
            Assert.That(Section(text, "05-unknown-recipient.eml"), Does.Contain("rejectrecipient \"nobody@example.com\" \"550 5.1.1 No such user here\";"));
            Assert.That(Section(text, "06-free-offer.eml"), Does.Contain("addheader :last \"X-Spam-Score\" \"3.0\";"));
            Assert.That(Section(text, "07-try-later.eml"), Does.Contain("tempfail \"451 4.7.1 The sample milter asks you to try again later\";"));
            Assert.That(Section(text, "08-discarded.eml"), Does.Contain("action:  discard;"));
        });
    }

    [Test]
    public async Task The_demo_says_so_when_there_are_no_samples()
    {
        using var folder = new TempFolder();

        var exit = await Demo.RunAsync(DeployedPlugin.Path, new DirectoryInfo(folder.Path), 0, TextWriter.Null, default);

        Assert.That(exit, Is.EqualTo(2));
    }

    private static string Section(string text, string file)
    {
        var start = text.IndexOf(file + ":", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), $"{file} is missing from the output");
        var end = text.IndexOf(".eml:", start + file.Length + 1, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }
}
