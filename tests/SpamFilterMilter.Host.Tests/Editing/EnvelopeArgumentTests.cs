using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Tests.Editing;

/// <summary>
/// A MAIL or RCPT argument as a person writes it for a tool: the path and its ESMTP parameters come apart as an SMTP
/// server reads them, and whatever a server would refuse as a syntax error is refused with what is wrong.
/// </summary>
public class EnvelopeArgumentTests
{
    private static IEnumerable<TestCaseData> WellFormed()
    {
        // the text, the address, the parameters
        yield return Row("a path and MAIL parameters", "<a@example.com> BODY=8BITMIME SIZE=12", "a@example.com", "BODY=8BITMIME", "SIZE=12");
        yield return Row("RCPT parameters with ';' and '@' in a value", "<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.org",
            "b@example.org", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@example.org");
        yield return Row("a path alone", "<a@example.com>", "a@example.com");
        yield return Row("a path without brackets, as tools always took it", "a@example.com", "a@example.com");
        yield return Row("a path without brackets and parameters", "a@example.com RET=HDRS", "a@example.com", "RET=HDRS");
        yield return Row("the null sender", "<> BODY=7BIT", "", "BODY=7BIT");
        yield return Row("nothing: the null sender", "", "");
        yield return Row("a parameter without a value", "<a@example.com> SMTPUTF8", "a@example.com", "SMTPUTF8");
        yield return Row("blanks around and between", "  <a@example.com>   BODY=8BITMIME  ", "a@example.com", "BODY=8BITMIME");
        yield return Row("a quoted local part with a space and a '>'", "<\"a >b\"@example.com> RET=FULL", "\"a >b\"@example.com", "RET=FULL");
        yield return Row("UTF-8 (RFC 6531)", "<jörg@example.de> SMTPUTF8 ENVID=\u00e9t\u00e9", "jörg@example.de", "SMTPUTF8", "ENVID=\u00e9t\u00e9");
        yield return Row("a source route", "<@relay.example:a@example.com>", "@relay.example:a@example.com");
    }

    private static IEnumerable<TestCaseData> Malformed()
    {
        // the text, what the message says
        yield return Bad("no closing bracket", "<a@example.com BODY=8BITMIME", "unbalanced '<' (no '>' closes the path)");
        yield return Bad("two opening brackets", "<<a@example.com>", "unbalanced '<'");
        yield return Bad("a '<' in a bare path", "a@example.com<", "unbalanced '<'");
        yield return Bad("a closing bracket alone", "a@example.com> BODY=8BITMIME", "unbalanced '>' (no '<' opens the path)");
        yield return Bad("a parameter glued to the path", "<a@example.com>BODY=8BITMIME", "a space must follow the '>' that closes the path");
        yield return Bad("an unterminated quoted string", "<\"a@example.com>", "a quoted string in the path has no closing '\"'");
        yield return Bad("no keyword", "<a@example.com> =8BITMIME", "\"=8BITMIME\" is not an ESMTP parameter (keyword[=value]): it has no keyword");
        yield return Bad("an underscore in the keyword", "<a@example.com> X_FOO=1", "\"X_FOO=1\" is not an ESMTP parameter (keyword[=value]): a keyword is letters");
        yield return Bad("a keyword starting with '-'", "<a@example.com> -X=1", "a keyword is letters, digits and '-', starting with a letter or digit");
        yield return Bad("an empty value", "<a@example.com> BODY=", "\"BODY=\" is not an ESMTP parameter (keyword[=value]): the value after '=' is empty");
        yield return Bad("an '=' in the value", "<a@example.com> ENVID=a=b", "a value may not hold \"=\"");
        yield return Bad("a CR LF in the address", "<a@example.com>\r\nRCPT TO:<evil@example.net>", "a control character (\"\\r\")");
        yield return Bad("a tab between the parameters", "<a@example.com> BODY=8BITMIME\tSIZE=1", "a control character (\"\\t\")");
        yield return Bad("a NUL in a value", "<a@example.com> ENVID=a\0b", "a control character (\"\\x00\")");
        yield return Bad("a DEL", "<a@example.com\u007f>", "a control character (\"\\x7f\")");
    }

    private static TestCaseData Row(string name, string text, string address, params string[] parameters) =>
        new TestCaseData(text, address, parameters).SetArgDisplayNames(name);

    private static TestCaseData Bad(string name, string text, string said) => new TestCaseData(text, said).SetArgDisplayNames(name);

    [TestCaseSource(nameof(WellFormed))]
    public void A_path_and_its_parameters_come_apart_as_an_SMTP_server_reads_them(string text, string address, string[] parameters)
    {
        var (parsedAddress, parsedParameters) = EnvelopeArgument.Parse(text);

        Assert.That(parsedAddress, Is.EqualTo(address));
        Assert.That(parsedParameters, Is.EqualTo(parameters));
    }

    [TestCaseSource(nameof(Malformed))]
    public void What_an_SMTP_server_would_refuse_is_refused_with_what_is_wrong(string text, string said)
    {
        var e = Assert.Throws<FormatException>(() => EnvelopeArgument.Parse(text));

        Assert.That(e!.Message, Does.Contain(said));
    }

    [Test]
    public void Splitting_the_path_leaves_the_words_after_it_unchecked()
    {
        var (address, words) = EnvelopeArgument.SplitPath("<bob@example.com> tcp_local NOTIFY=NEVER");

        Assert.That(address, Is.EqualTo("bob@example.com"));
        Assert.That(words, Is.EqualTo(new[] { "tcp_local", "NOTIFY=NEVER" }));
        Assert.That(EnvelopeArgument.ParameterProblem("tcp_local"), Does.Contain("a keyword is letters"), "the caller checks what it takes for parameters");
    }
}
