using SpamFilterMilter.Relay;

// spamfilter-relay: an SMTP relay with milters in front, for a mail server that has none (docs/relay.md).
// Exit status as the other tools (ToolExitCode): 0 stopped (Ctrl+C, SIGTERM), 1 a bad option.dat or channel table, or
// an address it cannot listen on, 2 a wrong command line.
return await RelayCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
