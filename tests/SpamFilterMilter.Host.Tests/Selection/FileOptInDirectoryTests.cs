using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Selection;

namespace SpamFilterMilter.Host.Tests.Selection;

/// <summary>The file-backed directory: an LDIF file, users by address attributes, domains by domain attributes.</summary>
public class FileOptInDirectoryTests : TempFolderTest
{
    private const string Ldif =
        "version: 1\n" +
        "# people\n" +
        "dn: uid=bob,ou=people,o=example\n" +
        "mail: Bob@Example.com\n" +
        "mailAlternateAddress: robert@example.com\n" +
        "mailEquivalentAddress: bob@mail.example.com\n" +
        "mailAntiUBEService: spam\n" +
        "mailAntiUBEService;lang-en: virus\n" +
        "description: a very long value that\n" +
        "  continues on the next line\n" +
        "\n" +
        "dn: uid=carol,ou=people,o=example\n" +
        "mail: carol@example.com\n" +
        "mailAntiUBEService:: YnVsaw==\n" +
        "\n" +
        "dn: dc=example.org,ou=domains,o=example\n" +
        "associatedDomain: example.org\n" +
        "associatedDomain: example.net\n" +
        "mailAntiUBEService: spam\n";

    private static readonly string[] OptIn = ["mailAntiUBEService"];

    private FileOptInDirectory Load(string text = Ldif) => FileOptInDirectory.Load(Folder.Write("directory.ldif", text));

    [TestCase("bob@example.com")]
    [TestCase("BOB@EXAMPLE.COM")]
    [TestCase("robert@example.com")]
    [TestCase("bob@mail.example.com")]
    public async Task A_user_is_found_by_any_address_attribute_whatever_the_case(string address)
    {
        var user = await Load().FindUserAsync(address, OptIn);

        Assert.That(user!.Name, Is.EqualTo("uid=bob,ou=people,o=example"));
        Assert.That(user.Values("mailantiubeservice"), Is.EqualTo(new[] { "spam", "virus" }), "attribute options are dropped, names compare case-insensitively");
    }

    [Test]
    public async Task Only_the_attributes_asked_for_come_back_and_a_missing_one_is_empty()
    {
        var user = await Load().FindUserAsync("bob@example.com", ["description", "mailDeliveryOption"]);

        Assert.That(user!.Values("description"), Is.EqualTo(new[] { "a very long value that continues on the next line" }));
        Assert.That(user.Values("mailDeliveryOption"), Is.Empty);
        Assert.That(user.Values("mailAntiUBEService"), Is.Empty, "not asked for");
    }

    [Test]
    public async Task A_comment_may_wrap_and_its_continuation_is_not_part_of_the_attribute_before_it()
    {
        var directory = Load("dn: uid=dave\nmail: dave@example.com\nmailAntiUBEService: spam\n# a long comment that\n wraps onto a second line\nmailAntiUBEService: virus\n");

        var user = await directory.FindUserAsync("dave@example.com", OptIn);

        Assert.That(user!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "spam", "virus" }));
    }

    [Test]
    public async Task A_base64_value_is_decoded()
    {
        var user = await Load().FindUserAsync("carol@example.com", OptIn);

        Assert.That(user!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "bulk" }));
    }

    [Test]
    public async Task A_domain_is_found_by_associatedDomain()
    {
        var directory = Load();

        Assert.That((await directory.FindDomainAsync("EXAMPLE.NET", OptIn))!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "spam" }));
        Assert.That(await directory.FindDomainAsync("example.com", OptIn), Is.Null);
        Assert.That(await directory.FindUserAsync("example.org", OptIn), Is.Null, "a domain name is not a user address");
    }

    [Test]
    public async Task Someone_not_in_the_file_is_not_found()
    {
        Assert.That(await Load().FindUserAsync("dave@example.com", OptIn), Is.Null);
    }

    [Test]
    public async Task The_address_and_domain_attributes_can_be_chosen()
    {
        var directory = FileOptInDirectory.Load(Folder.Write("d.ldif", "dn: cn=x\nrfc822Mailbox: x@example.com\nsunPreferredDomain: example.edu\nmailAntiUBEService: spam\n"),
            ["rfc822Mailbox"], ["sunPreferredDomain"]);

        Assert.That(await directory.FindUserAsync("x@example.com", OptIn), Is.Not.Null);
        Assert.That(await directory.FindDomainAsync("example.edu", OptIn), Is.Not.Null);
    }

    [TestCase("dn: cn=a\nnot a line\n", 2, null, "not an LDIF line: expected attribute: value")]
    [TestCase("mail: a@example.com\n", 1, "mail", "an entry must start with a dn: line")]
    [TestCase("dn: cn=a\nchangetype: add\n", 2, "changetype", "change records are not supported: list entries only")]
    [TestCase("dn: cn=a\nmail:: ***\n", 2, "mail", "the value after :: is not valid base64")]
    [TestCase("dn: cn=a\njpegPhoto:< file:///tmp/a.jpg\n", 2, "jpegPhoto", "values read from URLs (:<) are not supported")]
    [TestCase("dn: cn=a\nmail: x@example.com\n\ndn: cn=b\nmailAlternateAddress: X@example.com\n", 4, "mailAlternateAddress", "address X@example.com of cn=b is also claimed by cn=a (line 1)")]
    public void A_malformed_file_is_an_error_at_its_line(string text, int line, string? attribute, string problem)
    {
        var e = Assert.Throws<SpamFilterConfigurationException>(() => Load(text))!;

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((line, attribute, problem)));
    }

    [Test]
    public async Task The_sample_directory_in_etc_loads()
    {
        var directory = FileOptInDirectory.Load(Repository.Path("etc/directory.ldif"));

        Assert.That((await directory.FindUserAsync("bob@example.com", OptIn))!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "spam", "virus" }));
        Assert.That((await directory.FindUserAsync("carol@example.com", OptIn))!.Values("mailAntiUBEService"), Is.Empty);
        Assert.That((await directory.FindDomainAsync("example.org", OptIn))!.Values("mailAntiUBEService"), Is.EqualTo(new[] { "spam" }));
    }
}
