using System.Globalization;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Options;

/// <summary>Every option of the milter option file, described once: name, default as documented, meaning and parser.</summary>
public sealed partial class MilterOptions
{
    /// <summary>One option: its name, whether it is required, its default as documented, and how it is parsed.</summary>
    internal sealed record Descriptor(string Name, bool Required, string Default, string Summary, Action<MilterOptions, string> Apply)
    {
        /// <summary>The whole numbers the option accepts, or null for one that is not a number.</summary>
        public (int Min, int Max)? Range { get; init; }

        /// <summary>
        /// For an option with a <see cref="Range"/>: reads the typed property back in the option's unit (a whole number,
        /// or hundredths of a second) with the value as a developer wrote it, or null when unset (its default applies),
        /// so that <see cref="Validate"/> checks options set in code against this same range.
        /// </summary>
        public Func<MilterOptions, (double Value, string Written)?>? Current { get; init; }

        /// <summary>
        /// For an option without a range: what is wrong with its typed property as set in code (a choice cast from a
        /// number that is none, a list left null), or null; <see cref="Validate"/> asks every descriptor that has one.
        /// </summary>
        public Func<MilterOptions, string?>? Check { get; init; }
    }

    /// <summary>Every option the file may hold, in documentation order.</summary>
    internal static IReadOnlyDictionary<string, Descriptor> Descriptors { get; } = new[]
    {
        new Descriptor("HOST", true, "(required)",
            "Milter host name or address (every DNS address tried in order), or unix:/path; or several servers separated by commas, each optionally host:port, among which messages are spread.",
            (o, v) =>
            {
                var entries = MilterServer.ParseList(v);
                if (entries is [{ Port: null } one])
                {
                    // One server, as HOST always was.
                    o.UnixSocketPath = one.UnixSocketPath;
                    o.Host = one.UnixSocketPath is null ? one.Host : v;
                }
                else
                {
                    o.UnixSocketPath = null;
                    o.Host = string.Join(",", entries.Select(e => e.UnixSocketPath is not null ? e.Host
                        : (e.Host.Contains(':', StringComparison.Ordinal) ? $"[{e.Host}]" : e.Host) + (e.Port is { } port ? $":{port}" : string.Empty)));
                }
            }),
        Integer("PORT", true, "(required)", "Milter TCP port.", 1, 65535,
            o => o.Port, (o, number) => o.Port = number),
        Integer("DEBUG", false, "0", "0 warnings and failures, 1 one line per message, 2 every packet.", 0, 2,
            o => o.Debug, (o, number) => o.Debug = number),
        Duration("TIMEOUT", "3600", "Hundredths of a second allowed for each connect, write and read, unless CONNECT_TIMEOUT, COMMAND_TIMEOUT or CONTENT_TIMEOUT says otherwise.",
            o => o.Timeout, (o, duration) => o.Timeout = duration),
        new Descriptor("SOCKS_HOST", false, "(none)", "SOCKS5 server to connect through.",
            (o, v) => o.SocksHost = v.Length == 0 ? null : MilterServer.ParseHost(v)),
        Integer("SOCKS_PORT", false, "1080", "SOCKS5 server port.", 1, 65535,
            o => o.SocksPort, (o, number) => o.SocksPort = number),
        new Descriptor("SOCKS_PASSWORD", false, "(none)", "Password for SOCKS5 username/password authentication.",
            (o, v) => o.SocksPassword = v.Length == 0 ? null : v),
        Duration("CONNECT_TIMEOUT", "TIMEOUT", "Hundredths of a second allowed for connecting, all DNS addresses together.",
            o => o._connectTimeout, (o, duration) => o.ConnectTimeout = duration),
        Duration("COMMAND_TIMEOUT", "TIMEOUT", "Hundredths of a second allowed for each write and read of OPTNEG, CONNECT, HELO, MAIL, RCPT, DATA, UNKNOWN and ABORT (Postfix's milter_command_timeout).",
            o => o._commandTimeout, (o, duration) => o.CommandTimeout = duration),
        Duration("CONTENT_TIMEOUT", "TIMEOUT", "Hundredths of a second allowed for each write and read of a header, the end of headers, a body packet and the end of the message (Postfix's milter_content_timeout).",
            o => o._contentTimeout, (o, duration) => o.ContentTimeout = duration),
        Duration("MESSAGE_TIMEOUT", "30000", "Hundredths of a second the milter may take over one message, all its replies together.",
            o => o.MessageTimeout, (o, duration) => o.MessageTimeout = duration),
        Integer("MAX_REPLIES", false, "10000", "Most packets a milter may send in answer to one event (PROGRESS included).", 1, 1_000_000,
            o => o.MaxReplies, (o, number) => o.MaxReplies = number),
        Integer("MAX_EDITS", false, "1000", "Most modifications a milter may make to one message.", 1, 1_000_000,
            o => o.MaxEdits, (o, number) => o.MaxEdits = number),
        Integer("MAX_PACKET", false, "1048575", "Largest packet accepted from the milter, in bytes.", 65_535, 16 * 1024 * 1024,
            o => o.MaxPacket, (o, number) => o.MaxPacket = number),
        Integer("MAX_REPLACEMENT_BODY", false, "67108864", $"Largest replacement body accepted from the milter, in bytes (a body over {SpilledBodyMiB} MiB is kept on disk).", 0, int.MaxValue,
            o => o.MaxReplacementBody, (o, number) => o.MaxReplacementBody = number),
        new Descriptor("BODY_SPILL_DIRECTORY", false, "(the system's temporary folder)", $"Folder where a replacement body over {SpilledBodyMiB} MiB is kept while the host applies it.",
            (o, v) => o.BodySpillDirectory = v.Length == 0 ? null : ParseDirectory(v)),
        Integer("MAX_REPLY_TEXT", false, "32768", "Longest SMTP reply text accepted from the milter, in characters (a longer quarantine reason is cut to it).", 3, 1_048_576,
            o => o.MaxReplyText, (o, number) => o.MaxReplyText = number),
        new Descriptor("OFFER_MDS", false, "none", "Offer the milter larger packets: none (64 KiB - 1), 256k or 1m; used only if the milter accepts.",
            (o, v) => o.OfferMds = v.ToLowerInvariant() switch
            {
                "none" => OfferMds.None,
                "256k" => OfferMds.Size256K,
                "1m" => OfferMds.Size1M,
                _ => throw new FormatException($"\"{v}\" is not one of: {OfferMdsChoices}"),
            })
        {
            Check = o => Enum.IsDefined(o.OfferMds) ? null : $"\"{o.OfferMds}\" is not one of: {OfferMdsChoices}",
        },
        Integer("POOL_SIZE", false, "0", "Negotiated connections kept for reuse between SMTP sessions (SMFIC_QUIT_NC); 0 keeps none.", 0, 10_000,
            o => o.PoolSize, (o, number) => o.PoolSize = number),
        Duration("POOL_IDLE_TIMEOUT", "6000", "Hundredths of a second a parked connection may wait before it is closed.",
            o => o.PoolIdleTimeout, (o, duration) => o.PoolIdleTimeout = duration),
        Integer("BREAKER_THRESHOLD", false, "(3 with several servers in HOST, 0 with one)", "Consecutive failures after which a server is taken out of service for BREAKER_BACKOFF; 0 never takes one out.", 0, 1000,
            o => o.BreakerThreshold, (o, number) => o.BreakerThreshold = number),
        Duration("BREAKER_BACKOFF", "3000", "Hundredths of a second a server stays out of service before one message probes it.",
            o => o.BreakerBackoff, (o, duration) => o.BreakerBackoff = duration),
        Duration("BREAKER_MAX_BACKOFF", "30000", "Hundredths of a second the back-off may grow to: it doubles each time a probe fails.",
            o => o.BreakerMaxBackoff, (o, duration) => o.BreakerMaxBackoff = duration),
        Choice<IoMode>("IO_MODE", "async", "async: never blocks a thread; blocking: the calling thread waits in the read (least CPU).",
            o => o.IoMode, (o, choice) => o.IoMode = choice),
        Integer("IO_THREADS", false, "(four per core, at least 4, at most 32)", "With IO_MODE=async on Linux, the threads that read this milter's replies (shared by every milter given the same count); more connections share them.", 1, MaxIoThreads,
            o => o.IoThreads, (o, number) => o.IoThreads = number),
        new Descriptor("SOCKS_USER", false, "(the process's user name)", "User name for SOCKS5 username/password authentication.",
            (o, v) => o.SocksUser = v.Length is > 0 and <= 255 ? v : throw new FormatException(SocksUserProblem))
        {
            // Only with a SOCKS server: the default, the process's user name, is empty for a uid without a passwd entry
            // (a container's), and a plug-in that never speaks SOCKS must not be refused for it.
            Check = o => o.SocksHost is not null && o.SocksUser is not { Length: > 0 and <= 255 } ? SocksUserProblem : null,
        },
        Choice<SocksResolve>("SOCKS_RESOLVE", "local", "local: resolve HOST here and try each address through the SOCKS server; remote: the SOCKS server resolves it.",
            o => o.SocksResolve, (o, choice) => o.SocksResolve = choice),
        Choice<FailureAction>("FAILURE_ACTION", "tempfail", "What a message gets when the milter cannot be used: tempfail, accept, reject or shutdown (421, and the SMTP session closes).",
            o => o.FailureAction, (o, choice) => o.FailureAction = choice),
        MacroList("CONNECT_MACROS", MacroStage.Connect, "with CONNECT", o => o.ConnectMacros, (o, v) => o.ConnectMacros = v),
        MacroList("HELO_MACROS", MacroStage.Helo, "with HELO", o => o.HeloMacros, (o, v) => o.HeloMacros = v),
        MacroList("MAIL_MACROS", MacroStage.Mail, "with MAIL", o => o.MailMacros, (o, v) => o.MailMacros = v),
        MacroList("RCPT_MACROS", MacroStage.Rcpt, "with RCPT", o => o.RcptMacros, (o, v) => o.RcptMacros = v),
        MacroList("DATA_MACROS", MacroStage.Data, "with DATA", o => o.DataMacros, (o, v) => o.DataMacros = v),
        MacroList("EOH_MACROS", MacroStage.EndOfHeaders, "before each header and the end of headers", o => o.EndOfHeaderMacros, (o, v) => o.EndOfHeaderMacros = v),
        MacroList("EOM_MACROS", MacroStage.EndOfMessage, "before each body packet and the end of the message", o => o.EndOfMessageMacros, (o, v) => o.EndOfMessageMacros = v),
        MacroList("UNKNOWN_MACROS", MacroStage.Unknown, "with an unknown command", o => o.UnknownMacros, (o, v) => o.UnknownMacros = v),
        Choice<QueueIdTiming>("QUEUE_ID_TIMING", "postfix", "When the queue id (macro i) is first sent: postfix, from the first accepted recipient on; sendmail, from MAIL on.",
            o => o.QueueIdTiming, (o, choice) => o.QueueIdTiming = choice),
    }.ToDictionary(d => d.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>A stage's macro list, written as Postfix's <c>milter_*_macros</c> (<see cref="MacroNames.ParseList"/>); its default is Postfix's.</summary>
    private static Descriptor MacroList(string name, MacroStage stage, string when, Func<MilterOptions, IReadOnlyList<string>?> get, Action<MilterOptions, IReadOnlyList<string>> set) =>
        new(name, false, MacroNames.DefaultListText[(int)stage] is { Length: > 0 } text ? text : "(none)",
            $"Macros sent {when} unless the milter asks for its own list: names separated by blanks or commas, braces optional.",
            (o, v) => set(o, MacroNames.ParseList(v)))
        {
            Check = o => get(o) is null ? "a list is required (an empty one sends no macro)" : null,
        };

    /// <summary>An option that is one of an enumeration's values, written in lower case; parsed and checked from here.</summary>
    private static Descriptor Choice<T>(string name, string defaultText, string summary, Func<MilterOptions, T> get, Action<MilterOptions, T> set)
        where T : struct, Enum =>
        new(name, false, defaultText, summary, (o, v) => set(o, ParseChoice<T>(v)))
        {
            Check = o => Enum.IsDefined(get(o)) ? null : NotOneOf<T>(get(o).ToString()), // a number cast to the enumeration may be none
        };

    private const string OfferMdsChoices = "none, 256k, 1m";

    private const string SocksUserProblem = "a user name of 1 to 255 characters is required";

    /// <summary>An option that is a whole number from <paramref name="min"/> to <paramref name="max"/>: the range is parsed and documented from here.</summary>
    private static Descriptor Integer(string name, bool required, string defaultText, string summary, int min, int max, Func<MilterOptions, int?> get, Action<MilterOptions, int> set) =>
        new(name, required, defaultText, summary, (o, v) => set(o, ParseInteger(v, min, max)))
        {
            Range = (min, max),
            Current = o => get(o) is { } number ? (number, number.ToString(CultureInfo.InvariantCulture)) : null,
        };

    /// <summary>An option that is a duration in hundredths of a second (<see cref="Hundredths"/>).</summary>
    /// <remarks><paramref name="get"/> gives null for a duration that takes another's value unless set (CONNECT_TIMEOUT takes TIMEOUT's): that one's check reports it.</remarks>
    private static Descriptor Duration(string name, string defaultText, string summary, Func<MilterOptions, TimeSpan?> get, Action<MilterOptions, TimeSpan> set) =>
        new(name, false, defaultText, summary, (o, v) => set(o, Hundredths(v)))
        {
            Range = (1, MaxHundredths),
            Current = o => get(o) is { } duration ? InHundredths(duration) : null,
        };

    /// <summary>A duration set in code, in the option file's unit, and as written (a TimeSpan) for the message.</summary>
    private static (double Value, string Written) InHundredths(TimeSpan duration)
    {
        var hundredths = duration.Ticks / (double)(TimeSpan.TicksPerMillisecond * 10);
        return (hundredths, $"{duration.ToString("c", CultureInfo.InvariantCulture)} ({hundredths.ToString("0.##", CultureInfo.InvariantCulture)} hundredths of a second)");
    }

    private static int ParseInteger(string value, int min, int max)
    {
        // A minus sign is read so that -1 is told it is too small; a plus sign is refused, as option.dat's numbers
        // refuse it (the host library's OptionSetting): an option file is written one way.
        if (value.StartsWith('+'))
        {
            throw new FormatException($"\"{value}\" is not a whole number (write it without a sign)");
        }

        if (!int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
        {
            // Digits too many for a whole number are a number out of range, not a malformed one.
            throw !System.Numerics.BigInteger.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var big)
                ? new FormatException($"\"{value}\" is not a whole number")
                : new FormatException(OutOfRange(value, big > max, min, max));
        }

        if (number < min || number > max)
        {
            throw new FormatException(OutOfRange(number.ToString(CultureInfo.InvariantCulture), number > max, min, max));
        }

        return number;
    }

    /// <summary>What a number outside its option's range is told, read from a file or set in code alike.</summary>
    private static string OutOfRange(string written, bool tooLarge, int min, int max) =>
        $"{written} is {(tooLarge ? "too large" : "too small")}: out of range ({min} to {max})";

    /// <summary>The longest duration an option may give: a day, in hundredths of a second.</summary>
    private const int MaxHundredths = 8_640_000;

    /// <summary>A duration in hundredths of a second (Messaging Server's unit), up to a day.</summary>
    private static TimeSpan Hundredths(string value) => TimeSpan.FromMilliseconds(10.0 * ParseInteger(value, 1, MaxHundredths));

    private static T ParseChoice<T>(string value)
        where T : struct, Enum
    {
        if (Enum.TryParse<T>(value, ignoreCase: true, out var choice) && Enum.IsDefined(choice) && !char.IsDigit(value[0]))
        {
            return choice;
        }

        throw new FormatException(NotOneOf<T>(value));
    }

    private static string NotOneOf<T>(string written)
        where T : struct, Enum =>
        $"\"{written}\" is not one of: {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}";

    /// <summary>The most I/O threads <c>IO_THREADS</c> may ask for: each has a stack and an epoll instance of its own, all started at once.</summary>
    internal const int MaxIoThreads = 1024;

    /// <summary>The size past which a replacement body goes to a file (<see cref="MessageBodyBuilder.DefaultMemoryLimit"/>), in MiB.</summary>
    private const int SpilledBodyMiB = MessageBodyBuilder.DefaultMemoryLimit / (1024 * 1024);

    /// <summary>An existing folder, by absolute path: a relative one would depend on the host's working directory.</summary>
    private static string ParseDirectory(string value) =>
        !Path.IsPathFullyQualified(value) ? throw new FormatException($"\"{value}\" is not an absolute path")
        : !Directory.Exists(value) ? throw new FormatException($"the folder \"{value}\" does not exist")
        : value;
}
