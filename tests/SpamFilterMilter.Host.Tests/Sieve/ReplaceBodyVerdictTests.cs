using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;
using SpamFilterMilter.Host.Sieve;

namespace SpamFilterMilter.Host.Tests.Sieve;

/// <summary>
/// <c>replacebody :verdict</c> (vnd.spamfiltermilter): the body is the verdict's own, given to the run, never copied
/// through the script; exactly one of <c>:verdict</c> and a base64 body; without a verdict body, a clear error.
/// </summary>
public class ReplaceBodyVerdictTests
{
    private const string Message = "From: alice@example.org\r\nSubject: hello\r\n\r\nThe original body.\r\n";

    private const string Script = "require \"vnd.spamfiltermilter\"; replacebody :verdict;";

    private static readonly Envelope Envelope = new("alice@example.org", null, [new EnvelopeRecipient("bob@example.com")]);

    [Test]
    public void The_verdict_s_body_replaces_the_message_body()
    {
        MessageBody body = Encoding.ASCII.GetBytes("New body\r\n");

        var outcome = SieveScript.Parse(Script).Run(Encoding.ASCII.GetBytes(Message), Envelope, body);

        Assert.That(Encoding.ASCII.GetString(outcome.Message), Is.EqualTo("From: alice@example.org\r\nSubject: hello\r\n\r\nNew body\r\n"));
        Assert.That(outcome.Edits.Single(), Is.EqualTo(new ReplaceBody(body)));
        Assert.That(((ReplaceBody)outcome.Edits.Single()).Body, Is.SameAs(body), "the verdict's body itself, not a copy");
        Assert.That(outcome.Message, Is.EqualTo(MessageEditor.Apply(Encoding.ASCII.GetBytes(Message), [new ReplaceBody(body)])), "as MessageEditor applies it");
    }

    [Test]
    public void Without_a_verdict_body_replacebody_verdict_is_a_clear_error()
    {
        var script = SieveScript.Parse(Script);

        var error = Assert.Throws<SieveException>(() => script.Run(Encoding.ASCII.GetBytes(Message), Envelope))!;

        Assert.That(error.Problem, Is.EqualTo("replacebody :verdict needs a verdict that replaces the body; there is none"));
        Assert.That((error.Line, error.Column), Is.EqualTo((1, 33)));
    }

    [TestCase("require \"vnd.spamfiltermilter\"; replacebody :verdict \"TmV3\";", "replacebody takes the new body in base64 or :verdict, one of the two")]
    [TestCase("require \"vnd.spamfiltermilter\"; replacebody;", "replacebody takes the new body in base64 or :verdict, one of the two")]
    [TestCase("replacebody :verdict;", "command \"replacebody\" needs require \"vnd.spamfiltermilter\"")]
    [TestCase("require \"vnd.spamfiltermilter\"; replacebody :verdict :verdict;", ":verdict is given twice")]
    public void replacebody_takes_either_verdict_or_base64(string script, string problem)
    {
        Assert.That(Assert.Throws<SieveException>(() => SieveScript.Parse(script))!.Problem, Is.EqualTo(problem));
    }
}
