namespace SpamFilterMilter.Testing.Smtp;

/// <summary>What swaks printed (the whole dialogue: "-&gt;" lines it sent, "&lt;-" and "&lt;~" lines it got) and its exit code.</summary>
/// <param name="ExitCode">0 when the message was accepted; 21 banner, 22 HELO, 23 MAIL, 24 no RCPT accepted, 25 DATA, 26 the message refused, 6 the connection closed.</param>
/// <param name="Output">Everything swaks printed.</param>
public sealed record SwaksRun(int ExitCode, string Output)
{
    /// <summary>The server's replies as swaks shows them ("250 Ok"), in order, without swaks's markers.</summary>
    public IReadOnlyList<string> Replies =>
        [.. Output.Split('\n').Where(line => line.StartsWith("<- ", StringComparison.Ordinal) || line.StartsWith("<** ", StringComparison.Ordinal))
            .Select(line => line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..].Trim(' ', '\r'))];

    public override string ToString() => $"swaks exited {ExitCode}:\n{Output}";
}

/// <summary>swaks, the SMTP client the Debian package swaks installs, run against a server on loopback.</summary>
public static class Swaks
{
    /// <summary>
    /// Sends one message to 127.0.0.1:<paramref name="port"/>: from <paramref name="from"/> to each of <paramref name="to"/>
    /// (swaks goes on to DATA when at least one is accepted), the message read from <paramref name="messageFile"/>
    /// as it is, EHLO <c>client.example</c>.
    /// </summary>
    public static async Task<SwaksRun> SendAsync(int port, string from, IEnumerable<string> to, string messageFile, params string[] more)
    {
        var (exitCode, output) = await ServerProcess.RunAsync("/usr/bin/swaks",
            ["--server", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--helo", "client.example", "--from", from, "--to", string.Join(',', to), "--data", "@" + messageFile, .. more],
            TimeSpan.FromSeconds(60));
        return new SwaksRun(exitCode, output);
    }
}
