using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Running;
using SpamFilterMilter.Host.Smtp;
using SpamFilterMilter.SampleMilter;
using SpamFilterMilter.SmtpServer;
using SpamFilterMilter.Tools;

namespace SpamFilterMilter.Relay;

/// <summary>The relay's command line: where it listens, which option.dat filters, where messages go.</summary>
internal static partial class RelayCommand
{
    /// <summary>Where etc/milter.opt points: <c>--sample-milter</c> starts the bundled sample milter there.</summary>
    public static readonly IPEndPoint SampleMilterEndPoint = new(IPAddress.Loopback, 8890);

    public static RootCommand Create(TextWriter output, TextWriter error)
    {
        var listen = new Option<IPEndPoint[]>("--listen")
        {
            Description = "Address and port to listen on; give it again for more (0.0.0.0:25 and [::]:25: [::] is IPv6 alone).",
            DefaultValueFactory = _ => [new IPEndPoint(IPAddress.Loopback, 2525)],
            Arity = ArgumentArity.OneOrMore,
            CustomParser = result =>
            {
                var endPoints = new List<IPEndPoint>();
                foreach (var token in result.Tokens)
                {
                    if (!IPEndPoint.TryParse(token.Value, out var endPoint))
                    {
                        return Refuse<IPEndPoint[]>(result, $"--listen: \"{token.Value}\" is not address:port.");
                    }

                    endPoints.Add(endPoint);
                }

                return [.. endPoints];
            },
        };
        var serverName = new Option<string>("--server-name") { Description = "The relay's host name (greeting, Received field, EHLO to the next hop).", DefaultValueFactory = _ => Dns.GetHostName() };
        var options = new Option<FileInfo>("--options") { Description = "The option.dat whose spamfilterX slots filter every message.", Required = true };
        var plugins = new Option<DirectoryInfo>("--plugins")
        {
            Description = "The plug-in folder a relative spamfilterX_library is taken from.",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(AppContext.BaseDirectory, "plugins")),
        };
        var channels = new Option<FileInfo?>("--channels") { Description = "The channel table (imta.cnf-style) for channel opt-in. SIGHUP reads it again." };
        var sourceChannel = new Option<string?>("--source-channel") { Description = "The channel messages come in on (sourcespamfilterXoptin)." };
        var destinationChannel = new Option<string?>("--destination-channel") { Description = "The channel every recipient is routed to (destinationspamfilterXoptin)." };
        var nextHop = new Option<DnsEndPoint?>("--next-hop")
        {
            Description = "Relay each message to this SMTP server, host:port, before answering the client.",
            CustomParser = result => NextHop.TryParse(result.Tokens.Single().Value) is { } endPoint ? endPoint
                : Refuse<DnsEndPoint>(result, $"--next-hop: \"{result.Tokens.Single().Value}\" is not host:port."),
        };
        var nextHopTls = new Option<NextHopTlsLevel>("--next-hop-tls")
        {
            Description = "STARTTLS to the next hop, as Postfix's smtp_tls_security_level: none; may (the default: when offered, the certificate not checked); "
                + "encrypt (required); verify (required, the certificate checked against the CAs and the name).",
            DefaultValueFactory = _ => NextHopTlsLevel.May,
            CustomParser = result => result.Tokens.Single().Value switch
            {
                "none" => NextHopTlsLevel.None,
                "may" => NextHopTlsLevel.May,
                "encrypt" => NextHopTlsLevel.Encrypt,
                "verify" => NextHopTlsLevel.Verify,
                var other => Refuse<NextHopTlsLevel>(result, $"--next-hop-tls: \"{other}\" is not none, may, encrypt or verify."),
            },
        };
        var nextHopTlsCaFile = new Option<FileInfo?>("--next-hop-tls-ca-file")
        {
            Description = "With --next-hop-tls verify: the CA certificates (PEM) the next hop's must chain to (Postfix's smtp_tls_CAfile); default: the system's. SIGHUP reads it again.",
        };
        var nextHopTlsName = new Option<string?>("--next-hop-tls-name")
        {
            Description = "With --next-hop-tls verify: the name the next hop's certificate must bear (also sent as SNI); default: the host of --next-hop.",
        };
        var maildir = new Option<DirectoryInfo?>("--maildir") { Description = "Store each message in this maildir instead (fileinto folders as Maildir++ folders)." };
        var quarantine = new Option<DirectoryInfo?>("--quarantine") { Description = "The maildir held messages go to (default: the .Quarantine folder of --maildir, else ./quarantine)." };
        var maxConnections = Limit("--max-connections",
            "Sessions open at once from all clients; past it no connection is accepted until one ends, new clients wait in the listen queue (Postfix's default_process_limit; 0: no limit).",
            SmtpServerFilteringOptions.DefaultMaxConnections, "");
        var maxPerClient = Limit("--max-connections-per-client",
            "Sessions one client address may have open at once; one more is greeted 421 4.7.0 (Postfix's smtpd_client_connection_count_limit; 0: no limit).",
            SmtpServerFilteringOptions.DefaultMaxConnectionsPerClient, "");
        var exempt = Networks("--exempt-network",
            "A client network --max-connections-per-client does not limit (10.0.0.0/8, or one address); give it again for more. "
                + "Given, it replaces the default, loopback (127.0.0.0/8 and ::1), as Postfix's mynetworks does.",
            SmtpServerFilteringOptions.DefaultConnectionLimitExemptions);
        var relayDomain = new Option<string[]>("--relay-domain")
        {
            Description = "A domain any client may send to (Postfix's relay_domains with reject_unauth_destination): example.com is itself alone, "
                + ".example.com its subdomains; give it again for more. Given (or --relay-network), other recipients from clients outside --relay-network "
                + "that did not authenticate are answered 554 5.7.1 Relay access denied. Default: every recipient from every client (docs/relay.md).",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = result =>
            {
                foreach (var token in result.Tokens)
                {
                    if (!IsDomainPattern(token.Value))
                    {
                        return Refuse<string[]>(result, $"--relay-domain: \"{token.Value}\" is not a domain: example.com, or .example.com for its subdomains.");
                    }
                }

                return [.. result.Tokens.Select(token => token.Value)];
            },
        };
        var relayNetwork = Networks("--relay-network",
            "A client network that may send to any domain once --relay-domain restricts the others (Postfix's mynetworks with permit_mynetworks); "
                + "give it again for more. Given, it replaces the default, loopback (127.0.0.0/8 and ::1). Given without --relay-domain: only these networks may send.",
            SmtpServerFilteringOptions.DefaultRelayNetworks);
        var dropHeader = new Option<string[]>("--drop-header")
        {
            Description = "Header fields left out of each message before the milters see it, as Postfix's message_drop_headers: names, separated by commas "
                + "or blanks, or given again for more. Given, it replaces the default, Postfix's: Bcc, Content-Length, Resent-Bcc, Return-Path; "
                + "--drop-header '' keeps every field.",
            DefaultValueFactory = _ => [.. SmtpFilterSession.DefaultDroppedHeaderFields],
            Arity = ArgumentArity.OneOrMore,
            CustomParser = result =>
            {
                // As Postfix reads a list parameter: commas and blanks between the names.
                string[] names = [.. result.Tokens.SelectMany(token => token.Value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))];
                try
                {
                    return [.. SmtpFilterSession.CheckDroppedHeaderFields(names)];
                }
                catch (ArgumentException e)
                {
                    return Refuse<string[]>(result, $"--drop-header: {e.Message}");
                }
            },
        };
        var maxSize = Limit("--max-message-size", "The largest message accepted, in bytes (0: no limit).", 10_240_000, " bytes");
        var nextHopTimeout = Seconds("--next-hop-timeout", "Seconds the next hop may take over one message, from connecting to its answer to the final dot.",
            1, RelayOptions.DefaultNextHopTimeout);
        var maxRecipients = Limit("--max-recipients",
            "Recipients one message may have; one more is answered 452 4.5.3 Error: too many recipients (Postfix's smtpd_recipient_limit; 0: no limit).",
            SmtpServerFilteringOptions.DefaultMaxRecipients, "");
        var hardErrorLimit = Limit("--hard-error-limit",
            "Errors (4xx and 5xx replies) a session may make; then 421 4.7.0 Error: too many errors and close (Postfix's smtpd_hard_error_limit; 0: no limit).",
            SmtpServerFilteringOptions.DefaultHardErrorLimit, "");
        var softErrorLimit = Limit("--soft-error-limit",
            "Errors after which each reply waits --error-sleep-time (Postfix's smtpd_soft_error_limit; 0: never).",
            SmtpServerFilteringOptions.DefaultSoftErrorLimit, "");
        var errorSleepTime = Seconds("--error-sleep-time", "Seconds each reply waits past --soft-error-limit (Postfix's smtpd_error_sleep_time).",
            0, SmtpServerFilteringOptions.DefaultErrorSleepTime);
        var readTimeout = Seconds("--read-timeout",
            "Seconds one read from a client may wait for its next bytes (a command, the message, a TLS handshake); then 421 4.4.2 and close (Postfix's smtpd_timeout).",
            1, SmtpServerFilteringOptions.DefaultReadTimeout);
        var sessionTimeout = Seconds("--session-timeout",
            "Seconds one session may last in all, however busy; then 421 4.4.2 and close (0: no limit, as Postfix has none).", 0, TimeSpan.Zero);
        var shutdownTimeout = Seconds("--shutdown-timeout", "Seconds a stop (SIGTERM, Ctrl+C) lets the messages under way finish; then they are answered 421 (0: at once).",
            0, RelayOptions.DefaultShutdownTimeout);
        var metricsOtlp = new Option<Uri?>("--metrics-otlp")
        {
            Description = "Send the milters' metrics by OTLP over HTTP to this URL (an OpenTelemetry Collector's http://127.0.0.1:4318/v1/metrics, or Prometheus's /api/v1/otlp/v1/metrics).",
            CustomParser = result => Uri.TryCreate(result.Tokens.Single().Value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
                ? url.AbsolutePath != "/" ? url
                    : Refuse<Uri>(result, $"--metrics-otlp: \"{result.Tokens.Single().Value}\" has no path: give the whole URL (a Collector's ends in /v1/metrics).")
                : Refuse<Uri>(result, $"--metrics-otlp: \"{result.Tokens.Single().Value}\" is not an http:// or https:// URL."),
        };
        var metricsInterval = Seconds("--metrics-interval", "Seconds between two sendings of --metrics-otlp.", 1, RelayOptions.DefaultMetricsInterval);
        var tlsCertificate = new Option<FileInfo?>("--tls-certificate")
        {
            Description = "Offer STARTTLS with this certificate: PEM, the intermediates behind it (certbot's fullchain.pem). SIGHUP reads it again.",
        };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "The certificate's private key, PEM (certbot's privkey.pem); default: in the --tls-certificate file." };
        var sampleMilter = new Option<bool>("--sample-milter") { Description = $"Also start the bundled sample milter on {SampleMilterEndPoint}, where etc/milter.opt points." };
        var verbose = new Option<bool>("--verbose") { Description = "Log each message's slots, verdicts and actions (Debug)." };

        var command = new RootCommand("spamfilter-relay: an SMTP relay that runs every message through the milters option.dat selects, "
            + "gives the client their reply, and relays the result to a next hop or stores it in a maildir.")
        {
            listen, serverName, options, plugins, channels, sourceChannel, destinationChannel, nextHop, nextHopTimeout, nextHopTls, nextHopTlsCaFile, nextHopTlsName, maildir, quarantine, maxSize, maxConnections, maxPerClient, exempt,
            relayDomain, relayNetwork, dropHeader,
            readTimeout, sessionTimeout, maxRecipients, hardErrorLimit, softErrorLimit, errorSleepTime,
            shutdownTimeout, metricsOtlp, metricsInterval, tlsCertificate, tlsKey, sampleMilter, verbose,
        };
        command.Validators.Add(result =>
        {
            if ((result.GetResult(nextHop) is null) == (result.GetResult(maildir) is null))
            {
                result.AddError(result.GetResult(nextHop) is null
                    ? "Give one of --next-hop and --maildir: where the messages go."
                    : "Give one of --next-hop and --maildir, not both.");
            }

            if (result.GetResult(metricsInterval) is { Implicit: false } && result.GetResult(metricsOtlp) is null)
            {
                result.AddError("--metrics-interval: only with --metrics-otlp.");
            }

            if (result.GetResult(tlsKey) is not null && result.GetResult(tlsCertificate) is null)
            {
                result.AddError("--tls-key: only with --tls-certificate.");
            }

            if (result.GetResult(nextHopTls) is { Implicit: false } && result.GetResult(nextHop) is null)
            {
                result.AddError("--next-hop-tls: only with --next-hop.");
            }

            foreach (var verifyOnly in new Option[] { nextHopTlsCaFile, nextHopTlsName })
            {
                if (result.GetResult(verifyOnly) is not null && result.GetValue(nextHopTls) != NextHopTlsLevel.Verify)
                {
                    result.AddError($"{verifyOnly.Name}: only with --next-hop-tls verify.");
                }
            }
        });
        command.SetAction((result, cancellationToken) =>
        {
            var box = result.GetValue(maildir)?.FullName;
            var settings = new RelayOptions
            {
                Listen = result.GetValue(listen)!,
                ServerName = result.GetValue(serverName)!,
                OptionFile = result.GetValue(options)!.FullName,
                PluginFolder = result.GetValue(plugins)!.FullName,
                ChannelFile = result.GetValue(channels)?.FullName,
                SourceChannel = result.GetValue(sourceChannel),
                DestinationChannel = result.GetValue(destinationChannel),
                NextHop = result.GetValue(nextHop),
                Maildir = box,
                Quarantine = result.GetValue(quarantine)?.FullName ?? (box is null ? Path.GetFullPath("quarantine") : Path.Combine(box, ".Quarantine")),
                MaxMessageSize = result.GetValue(maxSize),
                MaxConnections = result.GetValue(maxConnections),
                MaxConnectionsPerClient = result.GetValue(maxPerClient),
                ConnectionLimitExemptions = result.GetValue(exempt)!,
                // Either option turns the restriction on; --relay-network alone: no domain is open to everyone.
                RelayDomains = result.GetResult(relayDomain) is not null || result.GetResult(relayNetwork) is not null ? result.GetValue(relayDomain) ?? [] : null,
                RelayNetworks = result.GetValue(relayNetwork)!,
                DroppedHeaderFields = result.GetValue(dropHeader)!,
                NextHopTimeout = TimeSpan.FromSeconds(result.GetValue(nextHopTimeout)),
                NextHopTls = result.GetValue(nextHopTls),
                NextHopTlsCaFile = result.GetValue(nextHopTlsCaFile)?.FullName,
                NextHopTlsName = result.GetValue(nextHopTlsName),
                ReadTimeout = TimeSpan.FromSeconds(result.GetValue(readTimeout)),
                MaxRecipients = result.GetValue(maxRecipients),
                HardErrorLimit = result.GetValue(hardErrorLimit),
                SoftErrorLimit = result.GetValue(softErrorLimit),
                ErrorSleepTime = TimeSpan.FromSeconds(result.GetValue(errorSleepTime)),
                SessionTimeout = result.GetValue(sessionTimeout) is > 0 and var session ? TimeSpan.FromSeconds(session) : Timeout.InfiniteTimeSpan,
                ShutdownTimeout = TimeSpan.FromSeconds(result.GetValue(shutdownTimeout)),
                MetricsOtlp = result.GetValue(metricsOtlp),
                MetricsInterval = TimeSpan.FromSeconds(result.GetValue(metricsInterval)),
                TlsCertificate = result.GetValue(tlsCertificate)?.FullName,
                TlsKey = result.GetValue(tlsKey)?.FullName,
            };
            return RunAsync(settings, result.GetValue(sampleMilter), result.GetValue(verbose), output, error, cancellationToken);
        });
        return command;
    }

    /// <summary>
    /// Runs the command line <paramref name="args"/>; exits as the other tools do (<see cref="ToolExitCode"/>): 0 stopped
    /// (Ctrl+C, SIGTERM), 1 a bad option.dat or channel table, or an address it cannot listen on, 2 a wrong command line.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var parsed = Create(output, error).Parse(args);
        if (await CommandLineUsage.RefuseAsync(parsed, error).ConfigureAwait(false))
        {
            return (int)ToolExitCode.Usage;
        }

        // The relay handles SIGINT and SIGTERM itself (RunAsync below): System.CommandLine's handler would end the
        // process with 130 or 143, which a service manager counts as a failure, after the relay had stopped cleanly.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, Output = output, Error = error }).ConfigureAwait(false);
    }

    /// <summary>An option of whole seconds from <paramref name="min"/> to 3600, defaulting to <paramref name="byDefault"/>.</summary>
    private static Option<int> Seconds(string name, string description, int min, TimeSpan byDefault) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => (int)byDefault.TotalSeconds,
        CustomParser = result => int.TryParse(result.Tokens.Single().Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds >= min && seconds <= 3600
            ? seconds
            : Refuse<int>(result, $"{name}: {result.Tokens.Single().Value}: {min} to 3600 seconds."),
    };

    /// <summary>A limit: a whole number, 0 (none) or more, defaulting to <paramref name="byDefault"/>.</summary>
    private static Option<int> Limit(string name, string description, int byDefault, string unit) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => byDefault,
        CustomParser = result => int.TryParse(result.Tokens.Single().Value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit)
            ? limit
            : Refuse<int>(result, $"{name}: 0 or more{unit}."),
    };

    /// <summary>An option of client networks (<see cref="NetworkOf"/>), given again for more, defaulting to <paramref name="byDefault"/>.</summary>
    private static Option<IPNetwork[]> Networks(string name, string description, IReadOnlyList<IPNetwork> byDefault) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => [.. byDefault],
        Arity = ArgumentArity.OneOrMore,
        CustomParser = result =>
        {
            var networks = new List<IPNetwork>();
            foreach (var token in result.Tokens)
            {
                if (NetworkOf(token.Value) is not { } network)
                {
                    return Refuse<IPNetwork[]>(result,
                        $"{name}: \"{token.Value}\" is not a network: an address, or an address and a prefix length with no bit set past it (10.0.0.0/8, 2001:db8::/32).");
                }

                networks.Add(network);
            }

            return [.. networks];
        },
    };

    /// <summary>Whether <paramref name="text"/> is a domain name (letters, digits, hyphens; dots between), with a leading dot or without.</summary>
    internal static bool IsDomainPattern(string text) => DomainPattern().IsMatch(text);

    [GeneratedRegex(@"\A\.?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z")]
    private static partial Regex DomainPattern();

    /// <summary>
    /// A network as Postfix's mynetworks takes one: address/prefix, or an address alone (all its bits); null if it is
    /// neither. An IPv4 address must have its four parts: .NET would read "10" as 0.0.0.10 and "10.1" as 10.0.0.1.
    /// </summary>
    internal static IPNetwork? NetworkOf(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var address = slash < 0 ? text : text[..slash];
        if (!address.Contains(':', StringComparison.Ordinal) && address.Count(c => c == '.') != 3)
        {
            return null;
        }

        if (!IPAddress.TryParse(address, out var first))
        {
            return null;
        }

        // IPNetwork would clear bits past the prefix (10.1.2.3/8 as 10.0.0.0/8); Postfix refuses such a network, as here.
        return slash < 0 ? new IPNetwork(first, first.AddressFamily == AddressFamily.InterNetwork ? 32 : 128)
            : IPNetwork.TryParse(text, out var network) && network.BaseAddress.Equals(first) ? network
            : null;
    }

    /// <summary>Reports <paramref name="message"/> as the option's parse error; the value returned is never used.</summary>
    private static T? Refuse<T>(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return default;
    }

    /// <summary>
    /// Runs the relay until <paramref name="cancellationToken"/> fires or Ctrl+C or SIGTERM comes, then stops it
    /// gracefully (<see cref="RelayServer.StopAsync"/>; a second signal stops it at once): 0; 1 for a bad option.dat or
    /// channel table, or when it cannot listen (or the sample milter cannot).
    /// </summary>
    public static async Task<int> RunAsync(RelayOptions options, bool sampleMilter, bool verbose, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var logging = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = LogText.TimestampFormat + " ";
            })
            .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information)
            .Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace));
        var logger = logging.CreateLogger("SpamFilterMilter.Relay");
        // Ctrl+C and SIGTERM stop the relay: no new message, those under way may finish within --shutdown-timeout, the
        // rest get 421 4.3.2 (the client keeps them), then it exits 0. A second signal cuts the wait short.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var hurry = new CancellationTokenSource();
        var why = "stop requested";
        var signals = 0;
        SampleMilterServer? milter = null;
        RelayServer? relay = null;
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        var reloadAfterStart = 0; // a SIGHUP while the relay still starts: the files may have changed after it read them
        // The administrator's habit, as with Postfix and sendmail: SIGHUP reads the configuration again. Registered
        // before the start, which loads plug-ins for a while, so that an early SIGHUP cannot end the process.
        using var hangUp = HangUpSignal.Register(signal =>
        {
            signal.Cancel = true; // not the default action, which ends the process
            RelayLog.ReloadRequested(logger);
            Interlocked.Exchange(ref reloadAfterStart, 1);
            if (Volatile.Read(ref relay) is { } running && Interlocked.Exchange(ref reloadAfterStart, 0) == 1)
            {
                _ = running.ReloadAsync(CancellationToken.None); // whoever takes the request back reloads: this handler or the start
            }
        });
        try
        {
            if (sampleMilter)
            {
                milter = SampleMilterServer.Start(SampleMilterEndPoint);
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"sample milter listening on {milter.EndPoint}")).ConfigureAwait(false);
            }

            // No token for the server itself: a signal drains it (below), which cancels it after the drain.
            relay = await RelayServer.StartAsync(options, logging, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SpamFilterConfigurationException e)
        {
            await ConfigurationProblems.WriteAsync(e, error).ConfigureAwait(false);
            await DisposeAsync(milter).ConfigureAwait(false);
            return (int)ToolExitCode.ProblemsFound;
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException or IOException)
        {
            await error.WriteLineAsync(milter is null && sampleMilter ? $"cannot start the sample milter on {SampleMilterEndPoint}: {e.Message}" : e.Message).ConfigureAwait(false);
            await DisposeAsync(milter).ConfigureAwait(false);
            return (int)ToolExitCode.ProblemsFound;
        }

        var started = relay;
        await using (started)
        {
            if (Interlocked.Exchange(ref reloadAfterStart, 0) == 1)
            {
                _ = started.ReloadAsync(CancellationToken.None);
            }

            await output.WriteLineAsync($"spamfilter-relay listening on {string.Join(" and ", started.EndPoints)}; Ctrl+C stops it, SIGHUP reloads option.dat and the channel table").ConfigureAwait(false);
            try
            {
                await started.Completion.WaitAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                await started.StopAsync(why, options.ShutdownTimeout, hurry.Token).ConfigureAwait(false);
            }

            try
            {
                await started.Completion.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopped
            }

            Volatile.Write(ref relay, null); // a SIGHUP from now on finds no relay to reload: it is being disposed
        }

        await DisposeAsync(milter).ConfigureAwait(false);
        RelayLog.Stopped(logger); // a service manager's journal shows the relay ended as asked, not that it died
        return (int)ToolExitCode.Success;

        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true; // not the default action: the relay ends by itself once stopped
            // Each signal comes on a thread of its own: two at once still count as two. The cancellations run their
            // callbacks on the thread pool, not on the signal's thread.
            if (Interlocked.Increment(ref signals) > 1 || stopping.IsCancellationRequested)
            {
                _ = hurry.CancelAsync(); // the second: the administrator will not wait
                return;
            }

            why = signal.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
            if (Volatile.Read(ref relay) is null)
            {
                RelayLog.StopDuringStart(logger, why); // loading the plug-ins may take a while: say it was heard
            }

            _ = stopping.CancelAsync();
        }
    }

    private static async ValueTask DisposeAsync(SampleMilterServer? milter)
    {
        if (milter is not null)
        {
            await milter.DisposeAsync().ConfigureAwait(false);
        }
    }
}
