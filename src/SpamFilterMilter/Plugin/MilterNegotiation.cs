using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Plugin;

/// <summary>What a milter asked for in SMFIC_OPTNEG (<see cref="MilterPlugin.ProbeAsync"/>).</summary>
public sealed record MilterNegotiation
{
    private static readonly (MacroStage Wire, FilterStage Stage)[] MacroStages =
    [
        (MacroStage.Connect, FilterStage.Connect), (MacroStage.Helo, FilterStage.Helo), (MacroStage.Mail, FilterStage.Mail),
        (MacroStage.Rcpt, FilterStage.Rcpt), (MacroStage.Data, FilterStage.Data), (MacroStage.EndOfMessage, FilterStage.EndOfMessage),
        (MacroStage.EndOfHeaders, FilterStage.EndOfHeaders),
    ];

    /// <summary>The milter, as log lines name it (<c>127.0.0.1:8890</c>).</summary>
    public required string Endpoint { get; init; }

    /// <summary>Where the connection really went (the address, or the route through a SOCKS server).</summary>
    public required string Remote { get; init; }

    /// <summary>The protocol version the milter speaks (2 to 6).</summary>
    public required uint Version { get; init; }

    /// <summary>The modifications the milter may make.</summary>
    public required ActionFlags Actions { get; init; }

    /// <summary>The steps in force: what the milter asked to be left out or unanswered, and what it understands.</summary>
    public required ProtocolFlags Steps { get; init; }

    /// <summary>The largest packet payload either side may send.</summary>
    public required int MaxPacket { get; init; }

    /// <summary>The macros the milter asked for, by stage; a stage it asked nothing for is absent (the default list applies there).</summary>
    public required IReadOnlyDictionary<FilterStage, IReadOnlyList<string>> Macros { get; init; }

    /// <summary>Problems that did not stop the negotiation.</summary>
    public required IReadOnlyList<string> Warnings { get; init; }

    /// <summary>The actions in libmilter's words (<c>ADDHDRS|CHGHDRS</c>).</summary>
    public string DescribeActions() => MilterNames.Describe(Actions);

    /// <summary>The steps in libmilter's words (<c>NOHELO|NR_HDR</c>).</summary>
    public string DescribeSteps() => MilterNames.Describe(Steps);

    /// <summary>
    /// The negotiation in one line, e.g. <c>milter 127.0.0.1:8890 (connected to 127.0.0.1:8890): protocol version 6, actions
    /// ADDHDRS|CHGHDRS, steps NOHELO, max packet 65535</c>, warnings after it.
    /// </summary>
    public string Summary() =>
        $"milter {Endpoint} (connected to {Remote}): protocol version {Version}, actions {DescribeActions()}, steps {DescribeSteps()}, max packet {MaxPacket}"
        + string.Concat(Warnings.Select(w => "; warning: " + w));

    internal static MilterNegotiation From(string endpoint, string remote, NegotiatedOptions options) => new()
    {
        Endpoint = endpoint,
        Remote = remote,
        Version = options.Version,
        Actions = options.Actions,
        Steps = options.Protocol,
        MaxPacket = options.MaxPayload,
        Macros = MacroStages.Where(s => options.MacroLists[(int)s.Wire] is not null)
            .ToDictionary(s => s.Stage, s => options.MacroLists[(int)s.Wire]!),
        Warnings = options.Warnings,
    };
}
