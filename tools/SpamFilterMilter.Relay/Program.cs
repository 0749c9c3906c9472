using SpamFilterMilter.Relay;

// spamfilter-relay: an SMTP relay with milters in front, for a mail server that has none (docs/relay.md).
// Exit status: 0 stopped (Ctrl+C, SIGTERM), 1 cannot listen, 2 bad usage or a bad option.dat.
return await RelayCommand.Create(Console.Out, Console.Error).Parse(args).InvokeAsync().ConfigureAwait(false);
