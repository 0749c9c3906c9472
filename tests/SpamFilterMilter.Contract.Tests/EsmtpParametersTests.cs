namespace SpamFilterMilter.Contract.Tests;

/// <summary>ESMTP parameters have one shape everywhere: a list, one parameter per entry, compared by value (EsmtpParameters.cs).</summary>
public class EsmtpParametersTests
{
    [TestCase(null, new string[0])]
    [TestCase("", new string[0])]
    [TestCase("   ", new string[0])]
    [TestCase("RET=FULL", new[] { "RET=FULL" })]
    [TestCase("RET=FULL ENVID=x", new[] { "RET=FULL", "ENVID=x" })]
    [TestCase(" NOTIFY=NEVER  ORCPT=rfc822;a@b ", new[] { "NOTIFY=NEVER", "ORCPT=rfc822;a@b" })]
    public void A_milters_argument_string_is_split_at_spaces_as_Postfix_splits_it(string? text, string[] parameters)
    {
        Assert.That(EsmtpParameters.Split(text), Is.EqualTo(parameters));
    }

    [TestCase("BODY=8BITMIME", "BODY")]
    [TestCase("SMTPUTF8", "SMTPUTF8")]
    [TestCase("ORCPT=rfc822;a=b@c", "ORCPT")]
    public void The_keyword_is_the_text_before_the_first_equals_sign(string parameter, string keyword)
    {
        Assert.That(EsmtpParameters.Keyword(parameter), Is.EqualTo(keyword));
    }

    [TestCase("BODY=8BITMIME", "BODY", "8BITMIME")]
    [TestCase("SMTPUTF8", "SMTPUTF8", null)]
    [TestCase("RET=", "RET", "")]
    [TestCase("ORCPT=rfc822;a=b@c", "ORCPT", "rfc822;a=b@c")]
    [TestCase("=x", "", "x")]
    public void A_parameter_splits_at_its_first_equals_sign_into_keyword_and_value(string parameter, string keyword, string? value)
    {
        Assert.That(EsmtpParameters.KeywordAndValue(parameter), Is.EqualTo((keyword, value)));
    }

    private static IEnumerable<TestCaseData> EqualPairs()
    {
        yield return new TestCaseData(new AddRecipient("<a@b>", ["NOTIFY=NEVER"]), new AddRecipient("<a@b>", new List<string> { "NOTIFY=NEVER" }))
            .SetArgDisplayNames("AddRecipient, an array and a list");
        yield return new TestCaseData(new AddRecipient("<a@b>"), new AddRecipient("<a@b>", [])).SetArgDisplayNames("AddRecipient without parameters");
        yield return new TestCaseData(new ChangeSender("<a@b>", ["RET=FULL", "ENVID=x"]), new ChangeSender("<a@b>", EsmtpParameters.Split("RET=FULL ENVID=x")))
            .SetArgDisplayNames("ChangeSender");
        yield return new TestCaseData(new EnvelopeRecipient("a@b", ["NOTIFY=NEVER"]), new EnvelopeRecipient("a@b", new List<string> { "NOTIFY=NEVER" }))
            .SetArgDisplayNames("EnvelopeRecipient");
        yield return new TestCaseData(new EnvelopeRecipient("a@b"), new EnvelopeRecipient("a@b", [])).SetArgDisplayNames("EnvelopeRecipient without parameters");
    }

    [TestCaseSource(nameof(EqualPairs))]
    public void Records_with_the_same_parameters_in_other_lists_are_equal(object a, object b)
    {
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a.GetHashCode(), Is.EqualTo(b.GetHashCode()));
    }

    private static IEnumerable<TestCaseData> UnequalPairs()
    {
        yield return new TestCaseData(new AddRecipient("<a@b>", ["NOTIFY=NEVER"]), new AddRecipient("<a@b>")).SetArgDisplayNames("parameters or none");
        yield return new TestCaseData(new ChangeSender("<a@b>", ["RET=FULL", "ENVID=x"]), new ChangeSender("<a@b>", ["ENVID=x", "RET=FULL"])).SetArgDisplayNames("another order");
        yield return new TestCaseData(new ChangeSender("<a@b>", ["RET=FULL"]), new ChangeSender("<a@b>", ["ret=full"])).SetArgDisplayNames("another case");
        yield return new TestCaseData(new AddRecipient("<a@b>"), new ChangeSender("<a@b>")).SetArgDisplayNames("another edit");
    }

    [TestCaseSource(nameof(UnequalPairs))]
    public void Records_with_other_parameters_differ(object a, object b)
    {
        Assert.That(a, Is.Not.EqualTo(b));
    }

    [Test]
    public void Parameters_are_never_null_and_print_as_their_entries()
    {
        var recipient = new EnvelopeRecipient("a@b", null);
        var submission = new MessageSubmission { MailFrom = "a@b", Recipients = [recipient], Message = Stream.Null, MailParameters = null! };

        Assert.That((recipient.Parameters, submission.MailParameters), Is.EqualTo((Array.Empty<string>(), Array.Empty<string>())));
        Assert.That(new ChangeSender("<a@b>", ["RET=FULL", "ENVID=x"]).ToString(), Is.EqualTo("ChangeSender { Address = <a@b>, Parameters = [RET=FULL, ENVID=x] }"));
        Assert.That(new EnvelopeRecipient("a@b").ToString(), Is.EqualTo("EnvelopeRecipient { Address = a@b, Parameters = [] }"));
    }
}
