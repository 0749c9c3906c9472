using SpamFilterMilter.Testing;

namespace SpamFilterMilter.Contract.Tests;

/// <summary>
/// The option-file syntax the host's option.dat and the plug-in's option file share (<see cref="OptionFile"/>). The
/// errors as a plug-in reports them, with file, line and option, are MilterOptionsTests' and SpamFilterHostOptionsTests'.
/// </summary>
public class OptionFileTests : TempFolderTest
{
    [Test]
    public void Each_name_value_line_is_read_with_its_line_number_and_comments_and_blank_lines_are_skipped()
    {
        const string text = "! a Messaging Server comment\n# a comment too\n\n  HOST = 127.0.0.1  \r\nport=8890\nEMPTY=\nURL=ldap://h/?a=b\n";

        var lines = OptionFile.Parse(text, "milter.opt");

        Assert.That(lines, Is.EqualTo(new[]
        {
            new OptionLine("HOST", "127.0.0.1", 4),
            new OptionLine("port", "8890", 5),
            new OptionLine("EMPTY", string.Empty, 6),
            new OptionLine("URL", "ldap://h/?a=b", 7), // the first '=' ends the name
        }));
    }

    [Test]
    public void Read_with_a_list_for_problems_gives_the_lines_that_split_and_lists_the_others_for_a_check_to_go_on()
    {
        var path = Folder.Write("option.dat", "A=1\nno equals\nB=2\na=3\n");
        var problems = new List<SpamFilterConfigurationException>();

        var lines = OptionFile.Read(path, problems);

        Assert.That(lines, Is.EqualTo(new[] { new OptionLine("A", "1", 1), new OptionLine("B", "2", 3) }));
        Assert.That(problems.Select(p => (p.Line, p.Option)), Is.EqualTo(new[] { (2, (string?)null), (4, "A") }));
    }

    [Test]
    public void A_name_given_twice_in_another_case_is_still_given_twice()
    {
        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Parse("Port=1\n\nPORT=2\n", "m.opt"))!;

        Assert.That((error.FilePath, error.Line, error.Option, error.Problem), Is.EqualTo(("m.opt", 3, "PORT", "given twice (first on line 1)")));
    }

    [Test]
    public void Every_bad_line_is_found_the_first_thrown_carrying_the_others_in_file_order()
    {
        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Parse("A=1\nno equals\nB=2\n=3\na=4\n", "m.opt"))!;

        Assert.That(error.AllProblems.Select(e => (e.Line, e.Option, e.Problem)), Is.EqualTo(new[]
        {
            (2, (string?)null, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)"),
            (4, null, "the option name before '=' is empty"),
            (5, "A", "given twice (first on line 1)"),
        }));
        Assert.That(error.Message, Is.EqualTo("m.opt:2: expected option=value, but the line has no '=' (its text is not shown: it may hold a password)"),
            "the message is the first problem's, as before");
    }

    [Test]
    public void One_bad_line_is_thrown_alone()
    {
        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Parse("A=1\nA=2\n", "m.opt"))!;

        Assert.That(error.Line, Is.EqualTo(2));
        Assert.That(error.MoreProblems, Is.Empty);
        Assert.That(error.AllProblems, Is.EqualTo(new[] { error }));
    }

    [Test]
    public void A_line_without_equals_is_refused_without_showing_its_text()
    {
        const string line = "SOCKS_PASSWORD Sup3r-Secret"; // a password line whose '=' was forgotten

        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Parse($"A=1\n{line}\n", "m.opt"))!;

        Assert.That((error.Line, error.Option, error.Problem),
            Is.EqualTo((2, (string?)null, "expected option=value, but the line has no '=' (its text is not shown: it may hold a password)")));
        Assert.That(error.Message, Does.Not.Contain("Sup3r"));
    }

    [Test]
    public void An_empty_text_has_no_options()
    {
        Assert.That(OptionFile.Parse(string.Empty, "m.opt"), Is.Empty);
    }

    [Test]
    public void A_folder_named_as_the_option_file_is_said_to_be_a_folder()
    {
        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Read(Folder.Path))!;

        Assert.That(error.Message, Is.EqualTo($"{Folder.Path}: is a folder; the option file must be a file"));
    }

    [Test]
    public void A_file_that_is_not_UTF_8_is_refused_naming_the_file_the_line_and_the_byte()
    {
        var path = Path.Combine(Folder.Path, "milter.opt");
        // Latin-1: "é" is the one byte 0xE9, which UTF-8 cannot read; it would have become U+FFFD.
        File.WriteAllBytes(path, [.. "HOST=127.0.0.1\nPORT=8890\nSOCKS_USER=Ren"u8, 0xE9, .. "\n"u8]);

        var error = Assert.Throws<SpamFilterConfigurationException>(() => OptionFile.Read(path))!;

        Assert.That(error.Message, Is.EqualTo($"{path}:3: is not UTF-8 text: byte 0xE9 cannot be read as UTF-8 (save the option file as UTF-8)"));
    }

    [Test]
    public void A_UTF_8_file_with_a_byte_order_mark_is_read_without_it()
    {
        var path = Path.Combine(Folder.Path, "milter.opt");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "SOCKS_USER=René\n"u8]);

        Assert.That(OptionFile.Read(path), Is.EqualTo(new[] { new OptionLine("SOCKS_USER", "René", 1) }));
    }
    private static readonly string[] Known = ["HOST", "PORT", "TIMEOUT", "CONNECT_TIMEOUT", "SOCKS_HOST", "SOCKS_PORT", "DEBUG"];

    [TestCase("TIMOUT", "TIMEOUT")]
    [TestCase("TIMEOOUT", "TIMEOUT")]
    [TestCase("TIMEUOT", "TIMEOUT")]
    [TestCase("socks_prot", "SOCKS_PORT")]
    [TestCase("CONECT_TIMOUT", "CONNECT_TIMEOUT")]
    [TestCase("HOTS", "HOST")]
    public void A_mistyped_name_is_matched_to_the_option_it_most_likely_meant(string typed, string meant)
    {
        Assert.That(OptionFile.ClosestName(typed, Known), Is.EqualTo(meant));
    }

    [TestCase("COLOUR")]
    [TestCase("TMOT")]
    [TestCase("DBG")]
    [TestCase("PORT")]
    [TestCase("")]
    public void A_name_that_is_no_near_miss_is_matched_to_nothing(string typed)
    {
        Assert.That(OptionFile.ClosestName(typed, Known), Is.Null);
    }

    [Test]
    public void Of_two_near_names_the_nearer_is_meant_and_of_two_as_near_the_first()
    {
        Assert.That(OptionFile.ClosestName("SOCKS_PORST", ["SOCKS_HOST", "SOCKS_PORT"]), Is.EqualTo("SOCKS_PORT"), "one letter from PORT, two from HOST");
        Assert.That(OptionFile.ClosestName("SOCKS_HORT", ["SOCKS_HOST", "SOCKS_PORT"]), Is.EqualTo("SOCKS_HOST"), "one letter from each: the first");
    }
}
