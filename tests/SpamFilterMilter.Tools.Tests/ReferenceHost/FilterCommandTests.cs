using System.Text;
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
    public async Task A_configuration_error_is_reported_with_its_file_and_line_and_exit_code_1()
    {
        var folder = CopyEtc(1);
        File.AppendAllText(Path.Combine(folder, "option.dat"), "spamfilter9_library=x.dll\n");

        var (exit, output, error) = await RunAsync(folder, Repository.Path("etc/samples/01-clean.eml"));

        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error.Trim(), Does.StartWith(Path.Combine(folder, "option.dat") + ":").And.EndWith("option spamfilter9_library: the slot number must be 1 to 8"));
        Assert.That(output, Is.Empty);
    }

    [TestCase("frm <a@example.org>\n", "unknown keyword: expected source, client, helo, from or to")]
    [TestCase("from <a@example.org>\n", "an envelope needs a from line and at least one to line")]
    [TestCase("client not-an-ip\nfrom <a@example.org>\nto <b@example.com>\n", "\"not-an-ip\" is not an IP address")]
    [TestCase("from <a@example.org> extra\nto <b@example.com>\n", "wrong number of values (see the comment at the top of etc/envelope.txt)")]
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
        Assert.That(envelope.ToMessage(Encoding.ASCII.GetBytes("x")).HeloName, Is.EqualTo("client.example.net"));
    }
}
