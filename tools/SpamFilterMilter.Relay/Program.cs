using System.CommandLine;
using SpamFilterMilter.Relay;

// spamfilter-relay: an SMTP relay with milters in front, for a mail server that has none (docs/relay.md).
// Exit status: 0 stopped (Ctrl+C, SIGTERM), 1 cannot listen, 2 bad usage or a bad option.dat.
// The relay handles SIGINT and SIGTERM itself (RelayCommand.RunAsync): System.CommandLine's handler would end the
// process with 130 or 143, which a service manager counts as a failure, after the relay had stopped cleanly.
return await RelayCommand.Create(Console.Out, Console.Error).Parse(args)
    .InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
