using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Sieve;

/// <summary>The Sieve tests (header, address, envelope, exists, size, not, allof, anyof, true, false) and the parser's errors.</summary>
public class SieveTestAndParserTests
{
    private const string Message =
        "From: \"Alice A.\" <Alice@Example.ORG> (the sender)\r\n" +
        "To: Friends: bob@example.com, Carol <carol@sub.example.com>;, dave@example.net\r\n" +
        "Subject: =?UTF-8?B?TG90dGVyeQ==?= =?ISO-8859-1?Q?gewinn=E9?=\r\n" +
        "X-Folded: first\r\n" +
        "\tsecond\r\n" +
        "X-Score: 9.5\r\n" +
        "\r\n" +
        "Body\r\n";

    private static readonly Envelope Envelope = new("<bounce@example.org>", null, [new EnvelopeRecipient("bob@example.com"), new EnvelopeRecipient("dave@example.net")]);

    /// <summary>True when the test holds: the script files into "yes" only then.</summary>
    private static bool Holds(string test, string capabilities = "") =>
        SieveScript.Parse($"require [\"fileinto\"{capabilities}];\nif {test} {{ fileinto \"yes\"; }}")
            .Run(Encoding.UTF8.GetBytes(Message), Envelope).Folders.Contains("yes");

    private static SieveException ParseError(string script) => Assert.Throws<SieveException>(() => SieveScript.Parse(script))!;

    [TestCase("header :is \"X-Score\" \"9.5\"", true)]
    [TestCase("header :is \"x-score\" \"9.\"", false)]
    [TestCase("header :contains \"X-Score\" \".5\"", true)]
    [TestCase("header :matches \"X-Score\" \"?.*\"", true)]
    [TestCase("header :matches \"X-Score\" \"9\\\\.5\"", true)]
    [TestCase("header :matches \"X-Score\" \"*\\\\*\"", false)]
    [TestCase("header :is [\"X-Missing\", \"X-Score\"] [\"1\", \"9.5\"]", true)]
    [TestCase("header \"X-Score\" \"9.5\"", true)]
    public void header_compares_field_values_with_is_contains_or_matches(string test, bool holds)
    {
        Assert.That(Holds(test), Is.EqualTo(holds));
    }

    [Test]
    public void header_compares_case_insensitively_unless_the_comparator_is_i_octet()
    {
        Assert.That(Holds("header :is \"X-Folded\" \"FIRST\tSECOND\""), Is.True);
        Assert.That(Holds("header :comparator \"i;octet\" :is \"X-Folded\" \"FIRST\tSECOND\""), Is.False);
        Assert.That(Holds("header :comparator \"i;octet\" :is \"X-Folded\" \"first\tsecond\""), Is.True);
    }

    [Test]
    public void header_unfolds_and_decodes_encoded_words()
    {
        Assert.That(Holds("header :is \"Subject\" \"Lotterygewinné\""), Is.True);
    }

    [TestCase(":all", "carol@sub.example.com", true)]
    [TestCase(":localpart", "carol", true)]
    [TestCase(":domain", "sub.example.com", true)]
    [TestCase(":domain", "example.net", true)]
    [TestCase(":all", "Friends", false)]
    public void address_compares_the_addresses_of_a_field_or_their_parts(string part, string key, bool holds)
    {
        Assert.That(Holds($"address {part} :is \"To\" \"{key}\""), Is.EqualTo(holds));
    }

    [Test]
    public void address_skips_display_names_and_comments()
    {
        Assert.That(Holds("address :is \"From\" \"alice@example.org\""), Is.True);
        Assert.That(Holds("address :contains \"From\" \"sender\""), Is.False);
    }

    [Test]
    public void envelope_compares_the_envelope_sender_and_recipients()
    {
        Assert.That(Holds("envelope :is \"from\" \"bounce@example.org\"", ", \"envelope\""), Is.True);
        Assert.That(Holds("envelope :domain :is \"to\" \"example.net\"", ", \"envelope\""), Is.True);
        Assert.That(Holds("envelope :is \"to\" \"carol@sub.example.com\"", ", \"envelope\""), Is.False);
        Assert.That(ParseError("require \"envelope\"; if envelope \"received\" \"x\" { keep; }").Problem, Is.EqualTo("unsupported envelope part \"received\" (from or to)"));
        Assert.That(ParseError("if envelope \"from\" \"x\" { keep; }").Problem, Is.EqualTo("test \"envelope\" needs require \"envelope\""));
    }

    [TestCase("exists \"X-Score\"", true)]
    [TestCase("exists [\"X-Score\", \"subject\"]", true)]
    [TestCase("exists [\"X-Score\", \"X-Missing\"]", false)]
    public void exists_holds_when_every_field_is_there(string test, bool holds)
    {
        Assert.That(Holds(test), Is.EqualTo(holds));
    }

    [TestCase("size :over 100", true)]
    [TestCase("size :under 1K", true)]
    [TestCase("size :over 1K", false)]
    public void size_compares_the_message_size_in_bytes(string test, bool holds)
    {
        Assert.That(Holds(test), Is.EqualTo(holds));
    }

    [TestCase("true", true)]
    [TestCase("false", false)]
    [TestCase("not false", true)]
    [TestCase("allof(true, exists \"X-Score\")", true)]
    [TestCase("allof(true, false)", false)]
    [TestCase("anyof(false, header :is \"X-Score\" \"9.5\")", true)]
    [TestCase("anyof(false, not true)", false)]
    public void true_false_not_allof_and_anyof_combine_tests(string test, bool holds)
    {
        Assert.That(Holds(test), Is.EqualTo(holds));
    }

    [Test]
    public void A_test_sees_a_header_added_earlier_in_the_script()
    {
        var outcome = SieveScript.Parse("require [\"editheader\", \"fileinto\"];\naddheader \"X-Added\" \"1\";\nif exists \"X-Added\" { fileinto \"seen\"; }")
            .Run(Encoding.UTF8.GetBytes(Message), Envelope);

        Assert.That(outcome.Folders, Is.EqualTo(new[] { "seen" }));
    }

    [Test]
    public void An_unsupported_command_is_an_error_with_its_line_and_column()
    {
        Assert.That(ParseError("keep;\nvacation \"I am away\";").Message, Is.EqualTo("line 2, column 1: unsupported command \"vacation\""));
        Assert.That(ParseError("if true {\n   notify \"x\";\n}").Message, Is.EqualTo("line 2, column 4: unsupported command \"notify\""));
    }

    [TestCase("if spamtest :value \"ge\" \"5\" { discard; }", "line 1, column 4: unsupported test \"spamtest\"")]
    [TestCase("require \"fileinto\"; fileinto :copy \"Junk\";", "line 1, column 30: unsupported tag :copy for fileinto")]
    [TestCase("if header :is :contains \"a\" \"b\" { keep; }", "line 1, column 15: :contains cannot be used with :is")]
    [TestCase("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { keep; }", "line 1, column 4: unsupported comparator \"i;ascii-numeric\"")]
    [TestCase("redirect;", "line 1, column 1: redirect takes 1 argument after its tags, not 0")]
    [TestCase("discard \"now\";", "line 1, column 9: discard takes 0 arguments after its tags, not 1")]
    [TestCase("redirect [\"a@b\"];", "line 1, column 10: argument 1 of redirect must be a string")]
    [TestCase("keep", "line 1, column 5: expected \";\" after keep, found the end of the script")]
    [TestCase("keep;\n  \"stray\";", "line 2, column 3: expected a command, found a string")]
    [TestCase("redirect \"a@b;", "line 1, column 10: the string is not closed (a \" is missing)")]
    [TestCase("elsif true { keep; }", "line 1, column 1: elsif must follow if or elsif")]
    [TestCase("if true { keep; } else true { keep; }", "line 1, column 19: else takes no test")]
    [TestCase("if true;", "line 1, column 8: expected \"{\" to start the block of if, found \";\"")]
    [TestCase("if true keep;", "line 1, column 9: expected \"{\" to start the block of if, found \"keep\"")]
    [TestCase("keep\nfileinto \"Junk\";", "line 2, column 1: expected \";\" after keep, found \"fileinto\"")]
    [TestCase("require \"fileinto\"\nkeep;", "line 2, column 1: expected \";\" after require, found \"keep\"")]
    [TestCase("if header :is \"a\" \"b\" keep;", "line 1, column 23: expected \"{\" to start the block of if, found \"keep\"")]
    [TestCase("if (true) { keep; }", "line 1, column 1: if takes one test, not a test list in parentheses (RFC 5228 §3.1)")]
    [TestCase("if true { keep; } elsif (false) { keep; }", "line 1, column 19: elsif takes one test, not a test list in parentheses (RFC 5228 §3.1)")]
    [TestCase("if anyof true { keep; }", "line 1, column 4: anyof takes a list of tests in parentheses")]
    [TestCase("if allof true { keep; }", "line 1, column 4: allof takes a list of tests in parentheses")]
    [TestCase("if not (true) { keep; }", "line 1, column 4: not takes exactly one test")]
    [TestCase("/* never closed\nkeep;", "line 1, column 1: the comment is not closed (*/ is missing)")]
    [TestCase("keep; $U", "line 1, column 7: unexpected character '$'")]
    [TestCase("if size :over 1 :under 2 { keep; }", "line 1, column 17: :under cannot be used with :over")]
    [TestCase("if size { keep; }", "line 1, column 4: size needs one of :over, :under")]
    [TestCase("if not { keep; }", "line 1, column 4: not takes exactly one test")]
    public void A_script_the_host_cannot_run_is_an_error_with_its_position(string script, string message)
    {
        Assert.That(ParseError(script).Message, Is.EqualTo(message));
    }

    [Test]
    public void Comments_and_multi_line_strings_are_read_as_RFC_5228_says()
    {
        var script = SieveScript.Parse(
            "# a comment\r\n" +
            "require \"reject\"; /* a\r\nblock comment */\r\n" +
            "reject text: # after text:\r\n" +
            "..leading dot\r\n" +
            "line \"two\"\r\n" +
            ".\r\n" +
            ";\r\n");

        var outcome = script.Run(Encoding.UTF8.GetBytes(Message), Envelope);

        Assert.That(outcome.Reply!.Lines, Is.EqualTo(new[] { ".leading dot", "line \"two\"" }));
    }

    [Test]
    public void Quoted_strings_keep_line_breaks_and_drop_backslashes_before_other_characters()
    {
        var outcome = SieveScript.Parse("require \"reject\"; reject \"a \\\"quoted\\\" \\\\ \\x word\nsecond line\";").Run(Encoding.UTF8.GetBytes(Message), Envelope);

        Assert.That(outcome.Reply!.Lines, Is.EqualTo(new[] { "a \"quoted\" \\ x word", "second line" }), "the line break inside the string makes a second reply line");
    }

    [Test]
    public void A_line_break_inside_a_quoted_string_counts_for_the_positions_after_it()
    {
        var e = ParseError("redirect \"a\nb\"; vacation;");

        Assert.That((e.Line, e.Column), Is.EqualTo((2, 5)));
    }

    [Test]
    public void Identifiers_and_tags_are_case_insensitive()
    {
        var outcome = SieveScript.Parse("REQUIRE \"fileinto\"; If Header :CONTAINS \"X-Score\" \"9\" { FileInto \"Junk\"; }").Run(Encoding.UTF8.GetBytes(Message), Envelope);

        Assert.That(outcome.Folders, Is.EqualTo(new[] { "Junk" }));
    }
}
