using System.Net;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Smtp;

namespace SpamFilterMilter.Host.Tests.Smtp;

/// <summary>
/// FAILURE_ACTION at SMTP time, with the milter plug-in loaded by path and a real libmilter milter that is too slow
/// (or none at all): <c>shutdown</c> answers 421 and the session closes, where <c>tempfail</c> answers 451 and the
/// session goes on, as Postfix's smtpd does with milter_default_action = shutdown and tempfail.
/// </summary>
[Category("Integration")]
public class SmtpFailurePolicyTests : TempFolderTest
{
    // Each row: where the milter fails, the policy, the answer there and whether the session closes.
    [TestCase("connect", "shutdown", "421 mta.example Service unavailable - try again later", true)]
    [TestCase("mail", "shutdown", "421 4.7.1 Service unavailable - try again later", true)]
    [TestCase("eom", "shutdown", "421 4.7.1 Service unavailable - try again later", true)]
    [TestCase("mail", "tempfail", "451 4.7.1 Service unavailable - try again later", false)]
    [TestCase("eom", "tempfail", "451 4.7.1 Service unavailable - try again later", false)]
    public async Task A_milter_that_fails_gets_the_policys_answer(string stage, string policy, string answer, bool closes)
    {
        // At connect nothing listens; elsewhere the milter sleeps 0.6 s where COMMAND_TIMEOUT and CONTENT_TIMEOUT allow 0.2 s.
        await using var milter = stage == "connect" ? null : await MilterProcess.StartLibmilterAsync("-a", $"{stage}=sleep:600");
        var options = $"COMMAND_TIMEOUT=20\nCONTENT_TIMEOUT=20\nFAILURE_ACTION={policy}\n";
        var optionFile = milter?.OptionFile(Folder, options)
            ?? Folder.Write("milter.opt", $"HOST=127.0.0.1\nPORT={ServerProcess.FreePort()}\n{options}");
        await using var plugin = DeployedPlugin.Create(optionFile);
        await using var session = new SmtpFilterSession(plugin.OpenSession(), "mta.example");

        var answers = new List<SmtpAnswer> { await session.ConnectAsync(ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 4321, "client.example.net")) };
        if (!answers[^1].ClosesSession)
        {
            answers.Add(await session.HeloAsync("client.example.net"));
            answers.Add(await session.MailAsync("<alice@example.org>", []));
        }

        if (!answers[^1].IsRefused)
        {
            answers.Add(await session.RcptAsync("<bob@example.com>", []));
            answers.Add(await session.DataAsync());
            answers.Add((await session.MessageAsync(new MemoryStream(Encoding.ASCII.GetBytes("Subject: slow\r\n\r\nbody\r\n")))).Answer);
        }

        var refused = answers.Single(a => a.IsRefused);
        Assert.That((refused.Refusal!.ToString(), refused.ClosesSession), Is.EqualTo((answer, closes)));
        Assert.That(answers.IndexOf(refused), Is.EqualTo(stage switch { "connect" => 0, "mail" => 2, _ => 5 }), "answered at the stage that failed");
    }
}
