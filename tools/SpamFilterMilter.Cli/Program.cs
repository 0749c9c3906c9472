using SpamFilterMilter.Cli;

// spamfilter-milter check | probe | bench. Exit status: 0 fine, 1 the milter failed, 2 bad usage or option file.
return await CommandLine.RunAsync(args, Terminal.FromConsole()).ConfigureAwait(false);
