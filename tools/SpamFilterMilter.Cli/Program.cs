using SpamFilterMilter.Cli;

// spamfilter-milter check | probe | check-config | bench | soak. Exit status (ToolExitCode): 0 fine, 1 problems found, 2 bad usage.
return await CommandLine.RunAsync(args, Terminal.FromConsole()).ConfigureAwait(false);
