using Moq;
using SpamFilterMilter.Testing.Postfix;

namespace SpamFilterMilter.SmtpServer.Tests;

/// <summary>
/// <c>NOOP</c> with text after it, which RFC 5321 §4.1.1.9 allows and Postfix answers 250: SmtpServer 11.1.0's parser
/// answered it <c>502 Unrecognized command</c>, an error towards the session's limit. The pipe gives SmtpServer the NOOP
/// alone in its place (CommandLine).
/// </summary>
public class NoopWithTextTests
{
    private static Mock<IFilterSession> Filter() => FilterSessionMock.ContinuingEverywhere(FilterVerdict.Default);

    [TestCase("NOOP x")]
    [TestCase("noop  hello world")]
    [TestCase("NOOP\tx")]
    [TestCase("NOOP caf\u00e9", TestName = "NOOP with text in UTF-8 is answered 250")]
    public async Task NOOP_with_text_is_answered_250_and_the_transaction_goes_on(string line)
    {
        var store = new MemoryStore();
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, store, addTraceField: false, hardErrorLimit: 1);
        await using var client = await SmtpLineClient.ConnectAsync(server.Port);
        await client.SendAsync("EHLO client.example");
        await client.SendAsync("MAIL FROM:<a@example.org>");

        var noop = await client.SendAsync(line);
        var rcpt = await client.SendAsync("RCPT TO:<b@example.com>");
        var data = await client.SendAsync("DATA");
        var end = await client.SendMessageAsync("Subject: x\r\n\r\nbody\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(noop.Text, Is.EqualTo("250 Ok"), "with an error limit of 1, a 502 would have ended the session");
            Assert.That((rcpt.Code, data.Code, end.Code), Is.EqualTo((250, 354, 250)));
            Assert.That(store.Messages, Has.Count.EqualTo(1));
        });
    }

    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Postfix_and_the_integration_answer_NOOP_with_text_alike()
    {
        await using var postfix = await PostfixInstance.StartAsync("", "mynetworks=127.0.0.0/8");
        await using var server = await FilteringServer.StartAsync(_ => Filter().Object, new MemoryStore());

        var differences = new List<string>();
        foreach (var line in new[] { "NOOP", "NOOP x", "noop  hello world", "NOOP\tx", "NOOP caf\u00e9" })
        {
            var fromPostfix = (await LiveComparison.RepliesAsync(postfix.SmtpPort, line))[0];
            var ours = (await LiveComparison.RepliesAsync(server.Port, line))[0];
            if (LiveComparison.Difference(line, 250, fromPostfix, ours) is { } difference)
            {
                differences.Add(difference);
            }
        }

        Assert.That(differences, Is.Empty, string.Join("\n", differences));
    }
}
