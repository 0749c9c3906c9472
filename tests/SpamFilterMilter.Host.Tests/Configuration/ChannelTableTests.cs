using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests.Configuration;

/// <summary>The imta.cnf-style channel table: each spam-filter keyword, MTA keywords skipped, errors at their line.</summary>
public class ChannelTableTests : TempFolderTest
{
    private ChannelTable Load(string text) => ChannelTable.Load(Folder.Write("imta.cnf", text));

    private SpamFilterConfigurationException Error(string text) =>
        Assert.Throws<SpamFilterConfigurationException>(() => Load(text))!;

    [Test]
    public void sourcespamfilterXoptin_gives_the_slot_and_its_values_for_messages_from_the_channel()
    {
        var channel = Load("tcp_local smtp mx sourcespamfilter2optin spam,virus\ntcp-daemon\n").Find("tcp_local")!;

        Assert.That(channel.SourceOptIn(2), Is.EqualTo(new[] { "spam", "virus" }));
        Assert.That(channel.SourceOptIn(1), Is.Null);
        Assert.That(channel.DestinationOptIn(2), Is.Null);
    }

    [Test]
    public void destinationspamfilterXoptin_gives_the_slot_and_its_values_for_recipients_routed_to_the_channel()
    {
        var channel = Load("ims-ms destinationspamfilter1optin spam\n").Find("ims-ms")!;

        Assert.That(channel.DestinationOptIn(1), Is.EqualTo(new[] { "spam" }));
        Assert.That(channel.SourceOptIn(1), Is.Null);
    }

    [Test]
    public void The_forms_without_values_select_the_slot_with_no_opt_in_values()
    {
        var channel = Load("tcp_local sourcespamfilter3 destinationspamfilter4\n").Find("tcp_local")!;

        Assert.That(channel.SourceOptIn(3), Is.Empty);
        Assert.That(channel.DestinationOptIn(4), Is.Empty);
    }

    [Test]
    public void disablesourcespamfilterX_and_disabledestinationspamfilterX_are_read_per_slot()
    {
        var channel = Load("tcp_intranet smtp disablesourcespamfilter1 disabledestinationspamfilter6\n").Find("tcp_intranet")!;

        Assert.Multiple(() =>
        {
            Assert.That(channel.DisablesSource(1), Is.True);
            Assert.That(channel.DisablesSource(6), Is.False);
            Assert.That(channel.DisablesDestination(6), Is.True);
            Assert.That(channel.DisablesDestination(1), Is.False);
        });
    }

    [Test]
    public void A_keyword_without_a_slot_number_means_slot_1_and_keywords_are_case_insensitive()
    {
        var channel = Load("tcp_local SourceSpamFilterOptin spam DISABLEDESTINATIONSPAMFILTER\n").Find("TCP_LOCAL")!;

        Assert.That(channel.SourceOptIn(1), Is.EqualTo(new[] { "spam" }));
        Assert.That(channel.DisablesDestination(1), Is.True);
    }

    [Test]
    public void MTA_keywords_their_values_comments_host_lines_and_continuations_are_skipped()
    {
        var table = Load(
            "! channel definitions\n" +
            "ims-ms defragment subdirs 20 notices 1 7 14 backoff \"pt5m\" \\\n" +
            "    maxjobs 2 fileinto $U+$S@$D destinationspamfilter1optin spam\n" +
            "ims-ms-daemon\n" +
            "\n" +
            "tcp_local smtp mx single_sys\n" +
            "tcp-daemon\n");

        Assert.That(table.Channels.Select(c => c.Name), Is.EquivalentTo(new[] { "ims-ms", "tcp_local" }));
        Assert.That(table.Find("ims-ms")!.DestinationOptIn(1), Is.EqualTo(new[] { "spam" }));
        Assert.That(table.Find("ims-ms-daemon"), Is.Null, "the official host name line is not a channel");
        Assert.That(table.Find("tcp_local")!.SourceOptIn(1), Is.Null);
    }

    [TestCase("tcp_local sourcespamfilter9optin spam\n", 1, "sourcespamfilter9optin", "the slot number must be 1 to 8")]
    [TestCase("tcp_local smtp \\\n  disablesourcespamfilter0\n", 2, "disablesourcespamfilter0", "the slot number must be 1 to 8")]
    [TestCase("tcp_local smtp sourcespamfilter1optin\n", 1, "sourcespamfilter1optin", "needs its opt-in values (e.g. spam,virus)")]
    [TestCase("tcp_local destinationspamfilter1optin spam,,virus\n", 1, "destinationspamfilter1optin", "\"spam,,virus\" has an empty opt-in value (values are separated by single commas)")]
    [TestCase("tcp_local sourcespamfilterXoptin spam\n", 1, "sourcespamfilterXoptin", "is not a spam-filter keyword (sourcespamfilterXoptin, destinationspamfilterX, disablesourcespamfilterX, ...)")]
    [TestCase("tcp_local sourcespamfiltr1optin spam\n", 1, "sourcespamfiltr1optin", "is not a spam-filter keyword (did you mean sourcespamfilter1optin?)")]
    [TestCase("tcp_local smtp destinatonspamfilter2\n", 1, "destinatonspamfilter2", "is not a spam-filter keyword (did you mean destinationspamfilter2?)")]
    [TestCase("tcp_local disablesoucespamfilter\n", 1, "disablesoucespamfilter", "is not a spam-filter keyword (did you mean disablesourcespamfilter?)")]
    [TestCase("tcp_local disablesourcespamfilter1optin spam\n", 1, "disablesourcespamfilter1optin", "a disable keyword takes no opt-in values (disablesourcespamfilterX, disabledestinationspamfilterX)")]
    [TestCase("tcp_local sourcespamfilter1 disablesourcespamfilter1\n", 1, "disablesourcespamfilter1", "slot 1 is both enabled and disabled for the source side of channel tcp_local")]
    public void A_malformed_spam_filter_keyword_is_an_error_at_its_line(string text, int line, string keyword, string problem)
    {
        var e = Error(text);

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((line, keyword, problem)));
    }

    [Test]
    public void A_spam_filter_keyword_on_the_defaults_channel_is_an_error_since_defaults_are_not_read()
    {
        var e = Error("defaults notices 1 2 \\\n  sourcespamfilter1optin spam\n\ntcp_local smtp\n");

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((2, "sourcespamfilter1optin", "spam-filter keywords are not read from the defaults channel: put them on each channel")));
    }

    [Test]
    public void The_defaults_channel_with_MTA_keywords_only_is_skipped()
    {
        var table = Load("defaults notices 1 2 3 maxjobs 4\n\ntcp_local smtp sourcespamfilter1\n");

        Assert.That(table.Channels.Select(c => c.Name), Is.EqualTo(new[] { "tcp_local" }));
    }

    [Test]
    public void A_channel_defined_twice_is_an_error()
    {
        var e = Error("tcp_local smtp\n\ntcp_local mx\n");

        Assert.That((e.Line, e.Problem), Is.EqualTo((3, "channel tcp_local is already defined at line 1")));
    }

    [Test]
    public void An_unknown_channel_has_no_keywords()
    {
        Assert.That(Load("tcp_local smtp\n").Find("ims-ms"), Is.Null);
        Assert.That(ChannelTable.Empty.Find("tcp_local"), Is.Null);
    }

    [Test]
    public void The_sample_channel_table_in_etc_loads()
    {
        var table = ChannelTable.Load(Repository.Path("etc/imta.cnf"));

        Assert.That(table.Find("tcp_intranet")!.DisablesSource(1), Is.True);
        Assert.That(table.Find("tcp_local")!.SourceOptIn(1), Is.Null, "the sourcespamfilter1optin line is commented out");
        Assert.That(table.Find("ims-ms"), Is.Not.Null);
    }
}
