using System.CommandLine;
using SpamFilterMilter.Cli;
using SpamFilterMilter.Contract;

// spamfilter-milter check | probe | bench. Exit status: 0 fine, 1 the milter failed, 2 bad usage or option file.
var root = new RootCommand("Check messages through a milter, see what a milter negotiates, benchmark the SpamFilterMilter client.")
{
    CheckCommand.Create(Console.Out),
    ProbeCommand.Create(Console.Out),
    BenchCommand.Create(Console.Out),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        await Console.Error.WriteLineAsync(error.Message);
    }

    return 2;
}

try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (SpamFilterConfigurationException e)
{
    await Console.Error.WriteLineAsync(e.Message);
    return 2;
}
catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException)
{
    await Console.Error.WriteLineAsync(e.Message);
    return 2;
}
