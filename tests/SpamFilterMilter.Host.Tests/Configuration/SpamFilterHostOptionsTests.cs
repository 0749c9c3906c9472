using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Configuration;

namespace SpamFilterMilter.Host.Tests.Configuration;

/// <summary>option.dat: one test per option, the slot rules, and every kind of error naming file, line and option.</summary>
public class SpamFilterHostOptionsTests : TempFolderTest
{
    private const string Slot1 = "spamfilter1_library=/plugins/p.dll\nspamfilter1_config_file=/etc/p.opt\n";

    private SpamFilterHostOptions Load(string text) => SpamFilterHostOptions.Load(Folder.Write("option.dat", text));

    private SpamFilterConfigurationException Error(string text) =>
        Assert.Throws<SpamFilterConfigurationException>(() => Load(text))!;

    [Test]
    public void A_slot_with_library_and_config_file_takes_every_other_default()
    {
        var slot = Load(Slot1).Slots.Single();

        Assert.Multiple(() =>
        {
            Assert.That(slot.Number, Is.EqualTo(1));
            Assert.That(slot.Library, Is.EqualTo("/plugins/p.dll"));
            Assert.That(slot.ConfigFile, Is.EqualTo("/etc/p.opt"));
            Assert.That(slot.Optional, Is.False, "spamfilterX_optional defaults to 0");
            Assert.That(slot.NullAction, Is.Null, "spamfilterX_null_action defaults to none");
            Assert.That(slot.StringAction!.Url, Is.EqualTo("data:,$U"), "spamfilterX_string_action defaults to data:,$U");
            Assert.That(slot.VerdictRules, Is.Empty);
            Assert.That(slot.UserOptInAttribute, Is.Null);
        });
    }

    [Test]
    public void spamfilterX_library_relative_is_taken_from_the_plugin_folder_and_config_file_from_the_option_file_folder()
    {
        var path = Folder.Write("option.dat", "spamfilter1_library=SpamFilterMilter/SpamFilterMilter.dll\nspamfilter1_config_file=milter.opt\n");

        var slot = SpamFilterHostOptions.Load(path, "/opt/host/plugins").Slots.Single();

        Assert.That(slot.Library, Is.EqualTo("/opt/host/plugins/SpamFilterMilter/SpamFilterMilter.dll"));
        Assert.That(slot.ConfigFile, Is.EqualTo(Path.Combine(Folder.Path, "milter.opt")));
    }

    [Test]
    public void spamfilterX_library_relative_defaults_to_the_option_file_folder()
    {
        var slot = Load("spamfilter1_library=p.dll\nspamfilter1_config_file=p.opt\n").Slots.Single();

        Assert.That(slot.Library, Is.EqualTo(Path.Combine(Folder.Path, "p.dll")));
    }

    [Test]
    public void A_name_without_a_slot_number_means_slot_1()
    {
        var slot = Load("spamfilter_library=/p.dll\nspamfilter_config_file=/p.opt\nspamfilter_optional=1\nLDAP_OPTIN=mailAntiUBEService\n").Slots.Single();

        Assert.That((slot.Number, slot.Optional, slot.UserOptInAttribute), Is.EqualTo((1, true, "mailAntiUBEService")));
    }

    [Test]
    public void Names_are_case_insensitive_and_slots_come_out_in_number_order()
    {
        var options = Load("SPAMFILTER3_LIBRARY=/c.dll\nSpamFilter3_Config_File=/c.opt\nspamfilter2_library=/b.dll\nspamfilter2_config_file=/b.opt\nldap_optin2=mailAntiUBEService\n");

        Assert.That(options.Slots.Select(s => s.Number), Is.EqualTo(new[] { 2, 3 }));
        Assert.That(options.Slots[0].UserOptInAttribute, Is.EqualTo("mailAntiUBEService"));
    }

    [Test]
    public void Comment_and_blank_lines_are_skipped_and_blanks_around_names_and_values_ignored()
    {
        var slot = Load("! a comment\n# another\n\n   spamfilter1_library =  /p.dll  \nspamfilter1_config_file=/p.opt\n").Slots.Single();

        Assert.That(slot.Library, Is.EqualTo("/p.dll"));
    }

    [TestCase("0", false)]
    [TestCase("1", true)]
    public void spamfilterX_optional_is_0_or_1(string value, bool optional)
    {
        Assert.That(Load(Slot1 + $"spamfilter1_optional={value}\n").Slots[0].Optional, Is.EqualTo(optional));
    }

    [TestCase("yes")]
    [TestCase("2")]
    public void spamfilterX_optional_other_than_0_or_1_is_an_error_naming_file_line_and_option(string value)
    {
        var e = Error(Slot1 + $"spamfilter1_optional={value}\n");

        Assert.That(e.Message, Is.EqualTo($"{Path.Combine(Folder.Path, "option.dat")}:3: option spamfilter1_optional: \"{value}\" is not 0 or 1"));
        Assert.That((e.Line, e.Option), Is.EqualTo((3, "spamfilter1_optional")));
    }

    [Test]
    public void spamfilterX_null_action_is_read_and_decoded()
    {
        var slot = Load(Slot1 + "spamfilter1_null_action=data:,require \"fileinto\"; fileinto \"SPAM_CAN\";\n").Slots[0];

        Assert.That(slot.NullAction!.Template, Is.EqualTo("require \"fileinto\"; fileinto \"SPAM_CAN\";"));
    }

    [Test]
    public void spamfilterX_string_action_is_read_and_keeps_U_for_the_verdict()
    {
        var slot = Load(Slot1 + "spamfilter1_string_action=data:,require [\"addheader\"];addheader \"Spam-test: $U\";\n").Slots[0];

        Assert.That(slot.StringAction!.UsesVerdict, Is.True);
        Assert.That(slot.StringAction.Expand("True ; 18.3 / 5.0"), Is.EqualTo("require [\"addheader\"];addheader \"Spam-test: True ; 18.3 / 5.0\";"));
    }

    [Test]
    public void An_empty_action_means_no_action()
    {
        Assert.That(Load(Slot1 + "spamfilter1_string_action=\n").Slots[0].StringAction, Is.Null);
    }

    [Test]
    public void spamfilterX_verdict_M_and_action_M_pairs_are_kept_in_M_order()
    {
        var slot = Load(Slot1 +
            "spamfilter1_verdict_3=*virus*\nspamfilter1_action_3=data:,discard;\n" +
            "spamfilter1_verdict_0=spam\nspamfilter1_action_0=data:,require \"fileinto\"; fileinto \"Junk\";\n").Slots[0];

        Assert.That(slot.VerdictRules.Select(r => (r.Index, r.Pattern.Text, r.Action.Template)), Is.EqualTo(new[]
        {
            (0, "spam", "require \"fileinto\"; fileinto \"Junk\";"),
            (3, "*virus*", "discard;"),
        }));
    }

    [Test]
    public void A_verdict_pattern_may_be_1024_characters_but_not_more()
    {
        var longest = new string('a', 1024);
        Assert.That(Load(Slot1 + $"spamfilter1_verdict_0={longest}\nspamfilter1_action_0=data:,discard;\n").Slots[0].VerdictRules[0].Pattern.Text, Is.EqualTo(longest));

        var e = Error(Slot1 + $"spamfilter1_verdict_0={longest}a\nspamfilter1_action_0=data:,discard;\n");
        Assert.That(e.Problem, Does.Contain("1025 characters long; at most 1024"));
    }

    [Test]
    public void A_verdict_without_its_action_and_an_action_without_its_verdict_are_errors()
    {
        Assert.That(Error(Slot1 + "spamfilter1_verdict_2=spam\n").Message, Does.EndWith(":3: option spamfilter1_verdict_2: has no spamfilter1_action_2"));
        Assert.That(Error(Slot1 + "spamfilter1_action_5=data:,discard;\n").Message, Does.EndWith(":3: option spamfilter1_action_5: has no spamfilter1_verdict_5"));
    }

    [TestCase("spamfilter0_library=/p.dll", "the slot number must be 1 to 8")]
    [TestCase("spamfilter9_library=/p.dll", "the slot number must be 1 to 8")]
    [TestCase("LDAP_OPTIN9=mailAntiUBEService", "the slot number must be 1 to 8")]
    [TestCase("spamfilter1_verdict_8=spam", "the pair number must be 0 to 7")]
    [TestCase("spamfilter1_returnpath=1", "unknown option")]
    [TestCase("LOG_CONNECTION=1", "unknown option")]
    [TestCase("ldap_optout1=noFilter", "not supported: opt-out attributes are not implemented (remove the user's opt-in value, or use disablesourcespamfilterX / disabledestinationspamfilterX on a channel)")]
    [TestCase("alias_optin1=spam", "not supported: this host has no alias file (opt recipients in through LDAP_OPTINX, their domain or a channel)")]
    [TestCase("ALIAS_OPTOUT2=spam", "not supported: this host has no alias file (opt recipients in through LDAP_OPTINX, their domain or a channel)")]
    [TestCase("spamfilter1_null_optin=none", "not supported: Messaging Server never documented its meaning; here any non-empty opt-in value opts in")]
    [TestCase("LDAP_NULL_OPTIN=none", "unknown option")]
    [TestCase("SPAMFILTER1_X_MESSAGE_BUDGET=10", "unknown option")]
    [TestCase("LDAP_OPTIN1=mail AntiUBE", "\"mail AntiUBE\" is not an attribute name")]
    [TestCase("spamfilter1_libary=/p.dll", "unknown option (did you mean spamfilter1_library?)")]
    [TestCase("spamfiltr2_library=/p.dll", "unknown option (did you mean spamfilter2_library?)")]
    [TestCase("spamfilter1_verdcit_3=spam", "unknown option (did you mean spamfilter1_verdict_3?)")]
    [TestCase("LDAP_OPTN3=mailAntiUBEService", "unknown option (did you mean LDAP_OPTIN3?)")]
    [TestCase("directory_fiel=/etc/users.ldif", "unknown option (did you mean DIRECTORY_FILE?)")]
    [TestCase("spamfilter_config_fil=/etc/milter.opt", "unknown option (did you mean spamfilter_config_file?)")]
    public void A_bad_option_is_an_error_at_its_line(string line, string problem)
    {
        var e = Error("! slot 1\n" + line + "\n");

        Assert.That((e.Line, e.Problem), Is.EqualTo((2, problem)));
        Assert.That(e.Option, Is.EqualTo(line[..line.IndexOf('=', StringComparison.Ordinal)]));
    }

    [Test]
    public void A_line_without_an_equals_sign_is_an_error()
    {
        var e = Error(Slot1 + "spamfilter1_optional 1\n");

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((3, (string?)null, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)")));
    }

    [Test]
    public void An_option_set_twice_is_an_error_even_through_its_unnumbered_name()
    {
        var e = Error("spamfilter_library=/a.dll\nspamfilter1_config_file=/a.opt\nSPAMFILTER1_LIBRARY=/b.dll\n");

        Assert.That(e.Message, Does.EndWith(":3: option SPAMFILTER1_LIBRARY: is already set at line 1"));
    }

    [Test]
    public void A_library_without_its_config_file_is_an_error()
    {
        var e = Error("spamfilter2_library=/p.dll\n");

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((1, "spamfilter2_config_file", "is required with spamfilter2_library")));
    }

    [Test]
    public void A_slot_with_options_but_no_library_is_off_and_noted()
    {
        var options = Load(Slot1 + "spamfilter4_optional=1\nLDAP_OPTIN4=mailAntiUBEService\n");

        Assert.That(options.Slots.Select(s => s.Number), Is.EqualTo(new[] { 1 }));
        Assert.That(options.Notes, Is.EqualTo(new[] { "slot 4 has options but no spamfilter4_library: it is off" }));
    }

    [Test]
    public void An_action_that_is_not_a_data_URL_is_an_error()
    {
        var e = Error(Slot1 + "spamfilter1_null_action=file:///etc/junk.sieve\n");

        Assert.That(e.Problem, Is.EqualTo("only data: URLs are supported (the script inline, e.g. data:,discard), not file:"));
    }

    [Test]
    public void An_action_without_U_is_checked_as_Sieve_when_read()
    {
        var e = Error(Slot1 + "spamfilter1_null_action=data:,keep;%0Avacation \"gone\";\n");

        Assert.That(e.Message, Does.EndWith(":3: option spamfilter1_null_action: the Sieve script is wrong: line 2, column 1: unsupported command \"vacation\""));
    }

    [Test]
    public void An_action_with_U_is_checked_as_Sieve_when_read_with_a_placeholder_verdict()
    {
        var e = Error(Slot1 + "spamfilter1_string_action=data:,$U%0Avacation \"gone\";\n");

        Assert.That(e.Message, Does.EndWith(":3: option spamfilter1_string_action: the Sieve script is wrong (with $U replaced by an empty verdict): line 2, column 1: unsupported command \"vacation\""));
    }

    [TestCase("data:,$U")]
    [TestCase("data:,addtag \"[$U]\";")]
    [TestCase("data:,require \"fileinto\";%0A$U%0Afileinto \"Junk\";")]
    [TestCase("data:,require \"fileinto\"; fileinto $U;")]
    public void An_action_with_U_that_some_verdict_makes_right_is_accepted(string url)
    {
        Assert.That(Load(Slot1 + $"spamfilter1_string_action={url}\n").Slots[0].StringAction!.Url, Is.EqualTo(url));
    }

    [Test]
    public void A_verdict_pattern_ending_in_a_lone_dollar_is_an_error()
    {
        var e = Error(Slot1 + "spamfilter1_verdict_0=price in $\nspamfilter1_action_0=data:,discard;\n");

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((3, "spamfilter1_verdict_0", "the pattern ends in a $ that quotes nothing (write $$ for a $)")));
    }

    [Test]
    public void The_option_descriptions_name_exactly_the_options_the_reader_accepts()
    {
        // One working value per documented option, X = 1 and M = 0; each is loaded on its own (with what it needs).
        var values = new Dictionary<string, string>
        {
            ["spamfilterX_library"] = "/p.dll",
            ["spamfilterX_config_file"] = "/p.opt",
            ["spamfilterX_optional"] = "1",
            ["spamfilterX_null_action"] = "data:,discard;",
            ["spamfilterX_string_action"] = "data:,$U",
            ["spamfilterX_verdict_M"] = "*spam*",
            ["spamfilterX_action_M"] = "data:,discard;",
            ["LDAP_OPTINX"] = "mailAntiUBEService",
            ["LDAP_SOURCE_OPTINX"] = "mailAntiUBEService",
            ["LDAP_DOMAIN_ATTR_OPTINX"] = "mailAntiUBEService",
            ["SPAMFILTER_MESSAGE_BUDGET"] = "30",
            ["DIRECTORY_FILE"] = "directory.ldif",
            ["DIRECTORY_ADDRESS_ATTRIBUTES"] = "mail",
            ["DIRECTORY_DOMAIN_ATTRIBUTES"] = "associatedDomain",
            ["LDAP_HOST"] = "ldap.example.com",
            ["LDAP_PORT"] = "1389",
            ["LDAP_BIND_DN"] = "cn=mta,o=example",
            ["LDAP_BIND_PASSWORD"] = "secret",
            ["LDAP_BASE_DN"] = "o=example",
            ["LDAP_TIMEOUT"] = "5",
        };
        const string ldap = "LDAP_HOST=ldap.example.com\nLDAP_BASE_DN=o=example\n";
        var needs = new Dictionary<string, string>
        {
            ["spamfilter1_library"] = "spamfilter1_config_file=/p.opt\n",
            ["spamfilter1_config_file"] = "spamfilter1_library=/p.dll\n",
            ["spamfilter1_verdict_0"] = "spamfilter1_action_0=data:,keep;\n",
            ["spamfilter1_action_0"] = "spamfilter1_verdict_0=x\n",
            ["LDAP_PORT"] = ldap,
            ["LDAP_BIND_DN"] = ldap,
            ["LDAP_BIND_PASSWORD"] = ldap + "LDAP_BIND_DN=cn=mta,o=example\n",
            ["LDAP_BASE_DN"] = "LDAP_HOST=ldap.example.com\n",
            ["LDAP_HOST"] = "LDAP_BASE_DN=o=example\n",
            ["LDAP_TIMEOUT"] = ldap,
        };

        Assert.That(values.Keys, Is.EquivalentTo(SpamFilterHostOptions.Descriptions.Select(d => d.Name)), "every documented option has a value here");
        foreach (var (documented, value) in values)
        {
            var name = documented.Replace("spamfilterX_", "spamfilter1_", StringComparison.Ordinal);
            name = name.EndsWith("_M", StringComparison.Ordinal) ? name[..^1] + "0" : name;
            name = name.EndsWith('X') ? name[..^1] + "1" : name;
            var extra = needs.GetValueOrDefault(name, string.Empty);
            var slot = name.StartsWith("spamfilter1_library", StringComparison.Ordinal) || name.StartsWith("spamfilter1_config_file", StringComparison.Ordinal) ? string.Empty : Slot1;
            Assert.DoesNotThrow(() => Load(slot + extra + $"{name}={value}\n"), documented);
        }

        Assert.That(Error("spamfilter1_fields=1\n").Problem, Is.EqualTo("unknown option"), "an option not documented is not accepted");
    }

    [Test]
    public void Each_option_written_at_its_documented_default_changes_nothing()
    {
        // LDAP_HOST and its base DN make the other LDAP options count; slot 1 makes the slot options count.
        const string unset = Slot1 + "LDAP_HOST=ldap.example.com\nLDAP_BASE_DN=o=example\n";
        var withDefault = SpamFilterHostOptions.Descriptions.Where(d => d.Default != "none").ToList();

        Assert.Multiple(() =>
        {
            foreach (var option in withDefault)
            {
                var written = Load(unset + $"{option.Name.Replace("spamfilterX_", "spamfilter1_", StringComparison.Ordinal)}={option.Default}\n");
                Assert.That(Values(written), Is.EqualTo(Values(Load(unset))), $"{option.Name}={option.Default} is what the documentation says the default is");
            }
        });
        Assert.That(withDefault.Select(d => d.Name), Is.EquivalentTo(new[]
        {
            "spamfilterX_optional", "spamfilterX_string_action", "DIRECTORY_ADDRESS_ATTRIBUTES", "DIRECTORY_DOMAIN_ATTRIBUTES", "LDAP_PORT", "LDAP_TIMEOUT",
        }));

        static string Values(SpamFilterHostOptions options)
        {
            var (slot, directory) = (options.Slots.Single(), options.Directory);
            return $"{slot.Optional} {slot.StringAction?.Url} {string.Join(',', directory.AddressAttributes)} {string.Join(',', directory.DomainAttributes)} {directory.LdapPort} {directory.LdapTimeout}";
        }
    }

    [Test]
    public void LDAP_OPTINX_LDAP_SOURCE_OPTINX_and_LDAP_DOMAIN_ATTR_OPTINX_are_read_per_slot()
    {
        var slot = Load(Slot1 + "LDAP_OPTIN1=mailAntiUBEService\nldap_source_optin1=outboundFilter\nLDAP_DOMAIN_ATTR_OPTIN=domainFilter\n").Slots[0];

        Assert.That((slot.UserOptInAttribute, slot.SourceOptInAttribute, slot.DomainOptInAttribute),
            Is.EqualTo(("mailAntiUBEService", "outboundFilter", "domainFilter")));
    }

    [Test]
    public void Without_directory_options_there_is_no_directory_and_the_attribute_defaults_apply()
    {
        var directory = Load(Slot1).Directory;

        Assert.That(directory.IsConfigured, Is.False);
        Assert.That(directory.AddressAttributes, Is.EqualTo(new[] { "mail", "mailAlternateAddress", "mailEquivalentAddress" }));
        Assert.That(directory.DomainAttributes, Is.EqualTo(new[] { "associatedDomain" }));
        Assert.That(directory.LdapPort, Is.EqualTo(389));
        Assert.That(directory.LdapTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public void DIRECTORY_FILE_is_relative_to_the_option_file_and_the_attribute_lists_are_read()
    {
        var directory = Load("DIRECTORY_FILE=users.ldif\nDIRECTORY_ADDRESS_ATTRIBUTES=mail, rfc822Mailbox\nDIRECTORY_DOMAIN_ATTRIBUTES=sunPreferredDomain,associatedDomain\n").Directory;

        Assert.That(directory.File, Is.EqualTo(Path.Combine(Folder.Path, "users.ldif")));
        Assert.That(directory.AddressAttributes, Is.EqualTo(new[] { "mail", "rfc822Mailbox" }));
        Assert.That(directory.DomainAttributes, Is.EqualTo(new[] { "sunPreferredDomain", "associatedDomain" }));
    }

    [Test]
    public void The_LDAP_options_are_read_and_the_password_never_shows_in_the_description()
    {
        var directory = Load("LDAP_HOST=ldap.example.com\nLDAP_PORT=1389\nLDAP_BIND_DN=cn=mta,o=example\nLDAP_BIND_PASSWORD=s3cret\nLDAP_BASE_DN=o=example\nLDAP_TIMEOUT=3\n").Directory;

        Assert.Multiple(() =>
        {
            Assert.That(directory.LdapHost, Is.EqualTo("ldap.example.com"));
            Assert.That(directory.LdapPort, Is.EqualTo(1389));
            Assert.That(directory.LdapBindDn, Is.EqualTo("cn=mta,o=example"));
            Assert.That(directory.LdapBindPassword, Is.EqualTo("s3cret"));
            Assert.That(directory.LdapBaseDn, Is.EqualTo("o=example"));
            Assert.That(directory.LdapTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(directory.ToString(), Is.EqualTo("ldap://ldap.example.com:1389/o=example (bind cn=mta,o=example)"));
        });
    }

    [TestCase("DIRECTORY_FILE=a.ldif\nLDAP_HOST=ldap\nLDAP_BASE_DN=o=x\n", "LDAP_HOST", "set either DIRECTORY_FILE (line 1) or LDAP_HOST, not both")]
    [TestCase("LDAP_HOST=ldap\n", "LDAP_BASE_DN", "is required with LDAP_HOST")]
    [TestCase("LDAP_HOST=ldap\nLDAP_BASE_DN=o=x\nLDAP_PORT=0\n", "LDAP_PORT", "\"0\" is not a port number (1 to 65535)")]
    [TestCase("LDAP_HOST=ldap\nLDAP_BASE_DN=o=x\nLDAP_PORT=4294967296\n", "LDAP_PORT", "\"4294967296\" is too large (at most 65535)")]
    [TestCase("LDAP_HOST=ldap\nLDAP_BASE_DN=o=x\nLDAP_TIMEOUT=3601\n", "LDAP_TIMEOUT", "\"3601\" is too large (at most 3600)")]
    [TestCase("LDAP_HOST=ldap\nLDAP_BASE_DN=o=x\nLDAP_TIMEOUT=soon\n", "LDAP_TIMEOUT", "\"soon\" is not a number of seconds (1 to 3600)")]
    [TestCase("LDAP_BASE_DN=o=x\n", "LDAP_BASE_DN", "has no effect without LDAP_HOST")]
    [TestCase("LDAP_HOST=ldap\nLDAP_BASE_DN=o=x\nLDAP_BIND_PASSWORD=pw\n", "LDAP_BIND_PASSWORD", "is set but LDAP_BIND_DN is not")]
    [TestCase("DIRECTORY_ADDRESS_ATTRIBUTES=mail,(cn)\n", "DIRECTORY_ADDRESS_ATTRIBUTES", "\"mail,(cn)\" is not a list of attribute names (separated by commas)")]
    public void Directory_options_that_do_not_fit_together_are_errors(string text, string option, string problem)
    {
        var e = Error(text);

        Assert.That((e.Option, e.Problem), Is.EqualTo((option, problem)));
    }

    [Test]
    public void A_missing_option_file_is_an_error_naming_it()
    {
        var e = Assert.Throws<SpamFilterConfigurationException>(() => SpamFilterHostOptions.Load(Path.Combine(Folder.Path, "missing.dat")))!;

        Assert.That(e.FilePath, Is.EqualTo(Path.Combine(Folder.Path, "missing.dat")));
        Assert.That(e.Problem, Does.StartWith("cannot read the option file"));
    }

    [Test]
    public void A_folder_given_as_option_dat_is_said_to_be_a_folder()
    {
        var e = Assert.Throws<SpamFilterConfigurationException>(() => SpamFilterHostOptions.Load(Folder.Path))!;

        Assert.That(e.Message, Is.EqualTo($"{Folder.Path}: is a folder; the option file must be a file"));
    }

    [Test]
    public void Reading_with_a_list_of_problems_keeps_every_one_and_the_slots_that_were_right()
    {
        var problems = new List<SpamFilterConfigurationException>();
        var path = Folder.Write("option.dat", Slot1 + "spamfilter1_optional=2\nspamfilter2_library=b.dll\nLDAP_PORT=x\n");

        var options = SpamFilterHostOptions.Read(path, null, problems);

        Assert.That(problems.Select(p => (p.Line, p.Option)), Is.EqualTo(new[] { (3, "spamfilter1_optional"), (4, "spamfilter2_config_file"), (5, "LDAP_PORT") }));
        Assert.That(options.Slots.Select(s => s.Number), Is.EqualTo(new[] { 1 }));
        Assert.Throws<SpamFilterConfigurationException>(() => SpamFilterHostOptions.Load(path), "Load still throws the first");
    }
}
