namespace SpamFilterMilter.Tests.Support;

/// <summary>
/// SMTP commands as a host's SMTP server turns them into <see cref="IFilterSession"/> calls, written as text:
/// <c>EHLO name; MAIL a; RCPT b; RCPT! c; DATA; MSG [subject]; HDR; EOH; BODY; EOM; XYZZY; RSET; QUIT</c>
/// (<c>RCPT!</c> a recipient the host refused, <c>MSG</c> the whole content through MessageAsync, <c>HDR</c>, <c>EOH</c>,
/// <c>BODY</c> and <c>EOM</c> the content stage by stage, <c>XYZZY</c> an unknown command, <c>RSET</c> AbortAsync,
/// <c>QUIT</c> CloseAsync). Each call's answer is one letter: c continue, a accept, r reject, t tempfail, d discard,
/// - none (RSET, QUIT).
/// </summary>
internal static class SmtpCalls
{
    /// <summary>Plays <paramref name="calls"/> (separated by <c>;</c>) and returns each answer, separated by spaces.</summary>
    public static async Task<string> PlayAsync(IFilterSession session, string calls)
    {
        var answers = new List<string>();
        foreach (var call in calls.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            answers.Add(await CallAsync(session, call));
        }

        return string.Join(' ', answers);
    }

    /// <summary>Makes one call; its answer in one letter. Failures are not expected: an answer that carries one fails the test.</summary>
    public static async Task<string> CallAsync(IFilterSession session, string call)
    {
        var words = call.Split(' ');
        var argument = words.Length > 1 ? words[1] : "x";
        switch (words[0])
        {
            case "MSG":
                using (var message = new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {argument}\r\n\r\nbody\r\n")))
                {
                    return Letter(await session.MessageAsync(message), call);
                }

            case "EOM":
                return Letter(await session.EndOfMessageAsync(), call);
            case "RSET":
                await session.AbortAsync();
                return "-";
            case "QUIT":
                await session.CloseAsync();
                return "-";
        }

        var decision = words[0] switch
        {
            "EHLO" => await session.HeloAsync(argument + ".example.net"),
            "MAIL" => await session.MailAsync(argument.Contains('@') ? argument : argument + "@example.org"),
            "RCPT" => await session.RcptAsync(argument.Contains('@') ? argument : argument + "@example.com"),
            "RCPT!" => await session.RcptRejectedAsync(argument, new SmtpReply(550, "5.1.1", "No such user")),
            "DATA" => await session.DataAsync(),
            "HDR" => await session.HeaderAsync("Subject", " partial"),
            "EOH" => await session.EndOfHeadersAsync(),
            "BODY" => await session.BodyAsync(Encoding.ASCII.GetBytes("body\r\n")),
            "XYZZY" => await session.UnknownAsync("XYZZY"),
            _ => throw new ArgumentException($"no such call: {call}", nameof(call)),
        };
        Assert.That(decision.Failure, Is.Null, call);
        return Letter(decision.Action);
    }

    private static string Letter(FilterVerdict verdict, string call)
    {
        Assert.That(verdict.Failure, Is.Null, call);
        return Letter(verdict.Action);
    }

    private static string Letter(FilterAction action) => action switch
    {
        FilterAction.Continue => "c",
        FilterAction.Accept => "a",
        FilterAction.Reject => "r",
        FilterAction.TempFail => "t",
        _ => "d",
    };
}
