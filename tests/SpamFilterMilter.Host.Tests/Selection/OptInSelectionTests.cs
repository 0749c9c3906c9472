using System.Text;
using Moq;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Selection;

/// <summary>
/// One test per selection rule: user, sender, domain and channel opt-in, the disable keywords, the union of
/// opt-in values, and what happens when only some recipients select a slot. Plug-ins are mocked (Moq); the
/// directory is the file-backed one, or a mock where the calls matter.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class OptInSelectionTests : TempFolderTest
{
    private const string Text = "From: alice@example.org\r\nSubject: hello\r\n\r\nBody\r\n";
    private const string Tagging = "require \"editheader\"; addheader :last \"X-Filtered\" \"yes\";";

    private const string Directory =
        "dn: uid=bob\nmail: bob@example.com\nmailAntiUBEService: spam\nmailAntiUBEService: virus\n\n" +
        "dn: uid=carol\nmail: carol@example.com\n\n" +
        "dn: uid=erin\nmail: erin@example.com\nmailAntiUBEService:   \n\n" +
        "dn: uid=alice\nmail: alice@example.org\noutbound: outbound-spam\n\n" +
        "dn: dc=example.net\nassociatedDomain: example.net\nmailAntiUBEService: Spam\nmailAntiUBEService: bulk\n";

    private readonly FakePlugins _plugins = new();

    private static HostMessage Message(string? source, IReadOnlyDictionary<string, string>? destinations, params string[] recipients) => new()
    {
        Message = Encoding.UTF8.GetBytes(Text),
        Envelope = new Envelope("alice@example.org", null, recipients.Select(r => new EnvelopeRecipient(r)).ToArray()),
        SourceChannel = source,
        DestinationChannels = destinations,
    };

    private async Task<HostResult> FilterAsync(string slotOptions, HostMessage message, ChannelTable? channels = null)
    {
        var directory = Folder.Write("directory.ldif", Directory);
        await using var host = _plugins.Host(Folder, slotOptions + $"DIRECTORY_FILE={directory}\n", channels);
        return await host.FilterAsync(message);
    }

    private static bool Filtered(DeliveryResult delivery) => Encoding.UTF8.GetString(delivery.Message).Contains("X-Filtered: yes", StringComparison.Ordinal);

    // Each row: the slot's LDAP option, whether there is a directory, the channel table's keyword, and whether slot 1 can
    // be chosen for messages from tcp_local to ims-ms. (An LDAP_*OPTIN option without a directory is a configuration error.)
    [TestCase("", false, null, false, TestName = "{m}(nothing at all)")]
    [TestCase("LDAP_OPTIN1=mailAntiUBEService\n", true, null, true, TestName = "{m}(an attribute and a directory)")]
    [TestCase("LDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n", true, null, true, TestName = "{m}(a domain attribute and a directory)")]
    [TestCase("", true, null, false, TestName = "{m}(a directory but no attribute)")]
    [TestCase("", false, "source", true, TestName = "{m}(the source channel's keyword)")]
    [TestCase("", false, "destination", true, TestName = "{m}(the destination channel's keyword)")]
    [TestCase("", false, "other", false, TestName = "{m}(a keyword on another channel)")]
    [TestCase("", false, "disabled", false, TestName = "{m}(the source channel's keyword and its disable keyword)")]
    [TestCase("", false, "destination disabled", false, TestName = "{m}(the source channel's keyword and the destination channel's disable keyword)")]
    [TestCase("LDAP_OPTIN1=mailAntiUBEService\n", true, "destination disabled", false, TestName = "{m}(an attribute and a directory and the destination channel's disable keyword)")]
    public async Task A_slot_nothing_can_opt_a_message_in_to_is_named(string slotOptions, bool directory, string? keyword, bool canBeChosen)
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable(keyword switch
        {
            "source" => [new ChannelDefinition("tcp_local").AddSourceOptIn(1)],
            "destination" => [new ChannelDefinition("ims-ms").AddDestinationOptIn(1)],
            "other" => [new ChannelDefinition("tcp_intranet").AddSourceOptIn(1)],
            "disabled" => [new ChannelDefinition("tcp_local").AddSourceOptIn(1).DisableSource(1)],
            "destination disabled" => [new ChannelDefinition("tcp_local").AddSourceOptIn(1), new ChannelDefinition("ims-ms").DisableDestination(1)],
            _ => [],
        });
        var optionDat = FakePlugins.Slot(1, "a", slotOptions) + (directory ? $"DIRECTORY_FILE={Folder.Write("directory.ldif", Directory)}\n" : "");
        await using var host = _plugins.Host(Folder, optionDat, channels);

        Assert.That(host.SlotsNothingOptsIn("tcp_local", "ims-ms").Select(s => s.Slot), Is.EqualTo(canBeChosen ? Array.Empty<int>() : new[] { 1 }));
    }

    // Every recipient goes out on the destination channel: its disable keyword turns the slot off for all, whatever opted them in.
    [TestCase("tcp_local sourcespamfilter1\n\nims-ms disabledestinationspamfilter1\n", "destination channel ims-ms has disabledestinationspamfilter1")]
    [TestCase("tcp_local disablesourcespamfilter1\n\nims-ms destinationspamfilter1\n", "source channel tcp_local has disablesourcespamfilter1")]
    [TestCase("tcp_intranet sourcespamfilter1\n",
        "nothing opts one in (no sourcespamfilter1optin for source channel tcp_local, no destinationspamfilter1optin for destination channel ims-ms, no LDAP_*OPTIN1 with a directory)")]
    public async Task Why_a_slot_filters_no_message_names_the_keyword_that_turns_it_off_or_what_is_missing(string table, string why)
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        await using var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a"), ChannelTable.Load(Folder.Write("imta.cnf", table)));

        Assert.That(host.SlotsNothingOptsIn("tcp_local", "ims-ms"), Is.EqualTo(new[] { (1, why) }));
    }

    [Test]
    public void What_can_opt_a_message_in_to_a_slot_is_said_keyword_by_keyword()
    {
        var slot = SpamFilterHostOptions.Load(Folder.Write("option.dat", FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\nLDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n")))
            .Slots.Single();
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1), new ChannelDefinition("ims-ms").AddDestinationOptIn(1, "spam", "virus")]);

        var (canOptIn, why) = OptInSelection.OptInFor(slot, channels, hasDirectory: true, "tcp_local", "ims-ms");

        Assert.That(canOptIn, Is.True);
        Assert.That(why, Is.EqualTo("every message: source channel tcp_local has sourcespamfilter1; every recipient: destination channel ims-ms has "
            + "destinationspamfilter1optin spam,virus; the senders, users and domains the directory opts in (LDAP_OPTIN1, LDAP_DOMAIN_ATTR_OPTIN1)"));
    }

    [Test]
    public async Task LDAP_OPTINX_selects_the_recipient_whose_user_entry_has_the_attribute_and_only_that_recipient()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), Message(null, null, "bob@example.com", "carol@example.com"));

        var call = _plugins.Calls.Single();
        Assert.That(call.Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(call.Submission.OptIn, Is.EqualTo(new[] { "spam", "virus" }));
        Assert.That(result.Deliveries, Has.Count.EqualTo(2));
        Assert.That(Filtered(result.For("bob@example.com")), Is.True);
        Assert.That(result.For("carol@example.com").Message, Is.EqualTo(Encoding.UTF8.GetBytes(Text)), "carol's copy is the original");
        Assert.That(result.For("carol@example.com").Envelope.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "carol@example.com" }));
        Assert.That(result.Log, Does.Contain("slot 1 (fake a): for <bob@example.com>: user (uid=bob) has mailAntiUBEService (LDAP_OPTIN1) = spam, virus"));
        Assert.That(result.Log, Does.Contain("slot 1 (fake a): not for <carol@example.com>: nothing opts it in"));
    }

    [Test]
    public async Task LDAP_SOURCE_OPTINX_selects_every_recipient_of_a_message_the_user_sends()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_SOURCE_OPTIN1=outbound\n"), Message(null, null, "carol@example.com", "dave@example.org"));

        Assert.That(_plugins.Calls.Single().Submission.Recipients, Has.Count.EqualTo(2));
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "outbound-spam" }));
        Assert.That(result.Deliveries.Single().Recipients, Is.EqualTo(new[] { "carol@example.com", "dave@example.org" }));
        Assert.That(Filtered(result.Deliveries.Single()), Is.True);
    }

    [Test]
    public async Task LDAP_DOMAIN_ATTR_OPTINX_selects_every_recipient_of_the_domain()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n"),
            Message(null, null, "x@example.net", "carol@example.com", "y@EXAMPLE.NET"));

        Assert.That(_plugins.Calls.Single().Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "x@example.net", "y@EXAMPLE.NET" }));
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "Spam", "bulk" }));
        Assert.That(Filtered(result.For("y@example.net")), Is.True);
        Assert.That(Filtered(result.For("carol@example.com")), Is.False);
    }

    [Test]
    public async Task destinationspamfilterXoptin_selects_the_recipients_routed_to_the_channel_with_its_values()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("ims-ms").AddDestinationOptIn(1, "spam", "virus"), new ChannelDefinition("tcp_local")]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a"),
            Message(null, new Dictionary<string, string> { ["carol@example.com"] = "ims-ms", ["<dave@example.org>"] = "tcp_local" }, "carol@example.com", "dave@example.org"), channels);

        Assert.That(_plugins.Calls.Single().Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "carol@example.com" }));
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "spam", "virus" }));
        Assert.That(result.Log, Does.Contain("slot 1 (fake a): for <carol@example.com>: destination channel ims-ms has destinationspamfilter1optin spam,virus"));
        Assert.That(Filtered(result.For("dave@example.org")), Is.False);
    }

    [Test]
    public async Task destinationspamfilterX_without_values_selects_with_no_opt_in_values()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("ims-ms").AddDestinationOptIn(1)]);

        await FilterAsync(FakePlugins.Slot(1, "a"), Message(null, new Dictionary<string, string> { ["carol@example.com"] = "ims-ms" }, "carol@example.com"), channels);

        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.Empty);
    }

    [Test]
    public async Task sourcespamfilterXoptin_selects_every_recipient_of_a_message_from_the_channel()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1, "spam")]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), Message("tcp_local", null, "carol@example.com", "dave@example.org"), channels);

        Assert.That(_plugins.Calls.Single().Submission.Recipients, Has.Count.EqualTo(2));
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "spam" }));
        Assert.That(result.Deliveries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task sourcespamfilterX_without_values_selects_every_recipient_with_no_values()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1)]);

        await FilterAsync(FakePlugins.Slot(1, "a"), Message("tcp_local", null, "carol@example.com"), channels);

        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.Empty);
    }

    [Test]
    public async Task A_message_on_a_channel_the_table_does_not_know_is_selected_by_nothing_of_the_channel()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1)]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a"), Message("tcp_other", null, "carol@example.com"), channels);

        Assert.That(_plugins.Calls, Is.Empty);
        Assert.That(result.Deliveries.Single().Slots, Is.Empty);
    }

    [Test]
    public async Task disablesourcespamfilterX_turns_the_slot_off_for_the_message_whatever_opted_in()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_intranet").DisableSource(1), new ChannelDefinition("ims-ms").AddDestinationOptIn(1, "spam")]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"),
            Message("tcp_intranet", new Dictionary<string, string> { ["bob@example.com"] = "ims-ms" }, "bob@example.com"), channels);

        Assert.That(_plugins.Calls, Is.Empty);
        Assert.That(result.Log, Does.Contain("slot 1 (fake a): not for any recipient: source channel tcp_intranet has disablesourcespamfilter1"));
    }

    [Test]
    public async Task disabledestinationspamfilterX_removes_the_recipients_routed_to_the_channel_whatever_opted_in()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1, "spam"), new ChannelDefinition("tcp_archive").DisableDestination(1)]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"),
            Message("tcp_local", new Dictionary<string, string> { ["bob@example.com"] = "tcp_archive" }, "bob@example.com", "carol@example.com"), channels);

        Assert.That(_plugins.Calls.Single().Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "carol@example.com" }));
        Assert.That(Filtered(result.For("bob@example.com")), Is.False);
        Assert.That(result.Log, Does.Contain("slot 1 (fake a): not for <bob@example.com>: destination channel tcp_archive has disabledestinationspamfilter1"));
    }

    [Test]
    public async Task A_recipients_opt_in_values_are_the_union_of_its_sources_sender_side_first_without_repeats()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable(
        [
            new ChannelDefinition("tcp_local").AddSourceOptIn(1, "virus"),
            new ChannelDefinition("ims-ms").AddDestinationOptIn(1, "SPAM", "phish"),
        ]);

        await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\nLDAP_SOURCE_OPTIN1=outbound\nLDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n"),
            Message("tcp_local", new Dictionary<string, string> { ["bob@example.com"] = "ims-ms" }, "bob@example.com"), channels);

        // source channel, sender; then bob's user values, then his destination channel's.
        Assert.That(_plugins.Calls.Single().Submission.OptIn, Is.EqualTo(new[] { "virus", "outbound-spam", "spam", "phish" }));
    }

    [Test]
    public async Task Recipients_with_different_opt_in_values_are_filtered_in_separate_calls_each_with_exactly_its_values()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1, "virus")]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\nLDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n"),
            Message("tcp_local", null, "bob@example.com", "x@example.net", "carol@example.com", "y@example.net"), channels);

        Assert.That(_plugins.Calls.Select(c => (string.Join(",", c.Submission.Recipients.Select(r => r.Address)), string.Join(",", c.Submission.OptIn!))), Is.EqualTo(new[]
        {
            ("bob@example.com", "virus,spam"),
            ("x@example.net,y@example.net", "virus,Spam,bulk"),
            ("carol@example.com", "virus"),
        }), "bob's spam is not carol's: no plug-in call sees another recipient's values");
        Assert.That(result.Deliveries.Select(d => string.Join(",", d.Recipients)), Is.EqualTo(new[] { "bob@example.com", "x@example.net,y@example.net", "carol@example.com" }));
        Assert.That(result.Deliveries.All(Filtered), Is.True);
    }

    [Test]
    public async Task Recipients_with_the_same_values_in_another_order_or_case_are_filtered_together()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("ims-ms").AddDestinationOptIn(1, "VIRUS", "spam")]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"),
            Message(null, new Dictionary<string, string> { ["carol@example.com"] = "ims-ms" }, "bob@example.com", "carol@example.com"), channels);

        var call = _plugins.Calls.Single();
        Assert.That(call.Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com", "carol@example.com" }));
        Assert.That(call.Submission.OptIn, Is.EqualTo(new[] { "spam", "virus" }), "the first recipient's values, in its order");
        Assert.That(result.Deliveries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Sender_side_opt_in_is_the_original_senders_even_after_a_slot_changed_the_sender()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\"; changesender \"<carol@example.com>\";"));
        _plugins.Add("b", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1)]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b", "LDAP_SOURCE_OPTIN2=outbound\n"), Message("tcp_local", null, "dave@example.org"), channels);

        Assert.That(_plugins.Calls.Select(c => (c.Plugin, c.Submission.MailFrom)), Is.EqualTo(new[] { ("a", "alice@example.org"), ("b", "carol@example.com") }));
        Assert.That(_plugins.Calls[1].Submission.OptIn, Is.EqualTo(new[] { "outbound-spam" }), "alice, who sent the message, opted it in");
        Assert.That(Filtered(result.Deliveries.Single()), Is.True);
    }

    [Test]
    public async Task A_group_made_only_of_recipients_an_earlier_slot_added_is_found_by_their_address()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"vnd.spamfiltermilter\"; addrecipient \"<bob@example.com>\";"));
        _plugins.Add("b", FakePlugins.Verdict(Tagging));
        var channels = new ChannelTable([new ChannelDefinition("tcp_local").AddSourceOptIn(1)]);

        var result = await FilterAsync(FakePlugins.Slot(1, "a") + FakePlugins.Slot(2, "b", "LDAP_OPTIN2=mailAntiUBEService\n"), Message("tcp_local", null, "dave@example.org"), channels);

        Assert.That(_plugins.Calls[1].Submission.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@example.com" }));
        var bob = result.For("bob@example.com");
        Assert.That((bob.Recipients, Filtered(bob)), Is.EqualTo((Array.Empty<string>(), true)));
        Assert.That(Filtered(result.For("dave@example.org")), Is.False);
    }

    [Test]
    public async Task An_attribute_present_with_only_empty_values_opts_nothing_in()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));

        await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), Message(null, null, "erin@example.com"));

        Assert.That(_plugins.Calls, Is.Empty);
    }

    [Test]
    public async Task Slots_that_select_different_recipients_give_each_group_its_own_copy()
    {
        _plugins.Add("a", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-A\" \"1\";"));
        _plugins.Add("b", FakePlugins.Verdict("require \"editheader\"; addheader :last \"X-B\" \"1\";"));
        var channels = new ChannelTable([new ChannelDefinition("ims-ms").AddDestinationOptIn(2, "spam")]);
        var routes = new Dictionary<string, string> { ["bob@example.com"] = "ims-ms", ["carol@example.com"] = "ims-ms" };

        var result = await FilterAsync(FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n") + FakePlugins.Slot(2, "b"),
            Message(null, routes, "bob@example.com", "carol@example.com", "dave@example.org"), channels);

        string Of(string r) => Encoding.UTF8.GetString(result.For(r).Message);
        Assert.That(result.Deliveries, Has.Count.EqualTo(3));
        Assert.That(Of("bob@example.com"), Does.Contain("X-A: 1\r\nX-B: 1\r\n"));
        Assert.That(Of("carol@example.com"), Does.Contain("X-B: 1\r\n").And.Not.Contain("X-A"));
        Assert.That(Of("dave@example.org"), Is.EqualTo(Text));
        Assert.That(_plugins.Calls.Select(c => (c.Plugin, string.Join(",", c.Submission.Recipients.Select(r => r.Address)))), Is.EqualTo(new[]
        {
            ("a", "bob@example.com"),
            ("b", "bob@example.com"),
            ("b", "carol@example.com"),
        }), "slot 2 runs once per copy, each copy as earlier slots left it");
        Assert.That(result.For("bob@example.com").Slots, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public async Task The_directory_is_asked_once_per_address_for_the_whole_message()
    {
        _plugins.Add("a", FilterVerdict.Default);
        _plugins.Add("b", FilterVerdict.Default);
        var directory = new Mock<IOptInDirectory>();
        directory.Setup(d => d.FindUserAsync(It.IsAny<string>(), It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new DirectoryEntry("uid=x", [KeyValuePair.Create("mailAntiUBEService", (IReadOnlyList<string>)["spam"])]));
        directory.Setup(d => d.FindDomainAsync(It.IsAny<string>(), It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync((DirectoryEntry?)null);
        await using var host = _plugins.Host(Folder,
            FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\nLDAP_DOMAIN_ATTR_OPTIN1=mailAntiUBEService\n") + FakePlugins.Slot(2, "b", "LDAP_OPTIN2=mailAntiUBEService\nLDAP_SOURCE_OPTIN2=outbound\n"),
            directory: directory.Object);

        await host.FilterAsync(Message(null, null, "bob@example.com", "carol@example.com"));

        directory.Verify(d => d.FindUserAsync("bob@example.com", It.Is<IReadOnlyCollection<string>>(a => a.SequenceEqual(new[] { "mailAntiUBEService", "outbound" })), It.IsAny<CancellationToken>()), Times.Once);
        directory.Verify(d => d.FindUserAsync("alice@example.org", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()), Times.Once);
        directory.Verify(d => d.FindDomainAsync("example.com", It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task A_directory_that_cannot_be_asked_refuses_the_message_for_now()
    {
        _plugins.Add("a", FakePlugins.Verdict(Tagging));
        var directory = new Mock<IOptInDirectory>();
        directory.Setup(d => d.FindUserAsync(It.IsAny<string>(), It.IsAny<IReadOnlyCollection<string>>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new OptInDirectoryException("LDAP ldap://ldap:389/o=example (anonymous): looking up user bob@example.com: The LDAP server is unavailable."));
        await using var host = _plugins.Host(Folder, FakePlugins.Slot(1, "a", "LDAP_OPTIN1=mailAntiUBEService\n"), directory: directory.Object);

        var result = await host.FilterAsync(Message(null, null, "bob@example.com", "carol@example.com"));

        var delivery = result.Deliveries.Single();
        Assert.That((delivery.Disposition, delivery.Reply), Is.EqualTo((Disposition.TempFail, new SmtpReply(451, "4.4.3", "Directory server failure - try again later"))));
        Assert.That(delivery.Recipients, Is.EqualTo(new[] { "bob@example.com", "carol@example.com" }));
        Assert.That(_plugins.Calls, Is.Empty);
    }
}
