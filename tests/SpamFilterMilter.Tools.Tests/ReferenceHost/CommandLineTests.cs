namespace SpamFilterMilter.Tools.Tests.ReferenceHost;

/// <summary>
/// The reference host's wrong command lines (tools/Shared/CommandLineUsage.cs, every tool's): exit status 2, what is
/// wrong in one line; the commands listed only when the command is what is wrong (without one it runs the demo).
/// </summary>
public class CommandLineTests
{
    private static Task<(int ExitCode, string Output, string Error)> HostAsync(params string[] arguments) =>
        ServerProcess.RunToEndAsync(Path.Combine(AppContext.BaseDirectory, "SpamFilterMilter.ReferenceHost"), arguments, TimeSpan.FromSeconds(60));

    [Test]
    public async Task A_wrong_option_is_named_on_one_line_without_the_list_of_commands()
    {
        var (exit, output, error) = await HostAsync("--debug", "9");

        Assert.That((exit, output), Is.EqualTo((2, "")));
        Assert.That(error.TrimEnd(), Is.EqualTo("--debug: Argument '9' not recognized. Must be one of: '0' '1' '2'"));
    }

    [Test]
    public async Task A_command_it_does_not_know_is_named_with_the_commands_it_has()
    {
        var (exit, _, error) = await HostAsync("frobnicate");

        Assert.That(exit, Is.EqualTo(2));
        Assert.That(error, Does.Contain("'frobnicate'").And.Contain("Commands: demo, filter, check-config ("));
    }
}
