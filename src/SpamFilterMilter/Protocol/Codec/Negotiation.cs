using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>What a milter and we agreed on in SMFIC_OPTNEG.</summary>
internal sealed record NegotiatedOptions
{
    /// <summary>The protocol version the milter speaks (2 to 6).</summary>
    public required uint Version { get; init; }

    /// <summary>The modifications the milter may make.</summary>
    public required ActionFlags Actions { get; init; }

    /// <summary>
    /// The steps in force: the milter's request plus the NO* steps its version does not know
    /// (NOUNKNOWN below v3, NODATA below v4). MDS bits removed.
    /// </summary>
    public required ProtocolFlags Protocol { get; init; }

    /// <summary>The largest packet payload either side may send.</summary>
    public int MaxPayload { get; init; } = MilterConstants.DefaultMaxPayload;

    /// <summary>
    /// Macro names the milter asked for, per <see cref="MacroStage"/>; null where it asked nothing
    /// (our default list applies). An empty array means "send none for that stage".
    /// </summary>
    public IReadOnlyList<string>?[] MacroLists { get; init; } = new IReadOnlyList<string>?[MilterConstants.MacroStageCount];

    /// <summary>Problems that do not stop the session (logged as warnings).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public bool Has(ProtocolFlags flag) => (Protocol & flag) != 0;
}

/// <summary>
/// SMFIC_OPTNEG: what we offer and how we judge the answer, the way Postfix's milter8_connect and
/// go-milter's negotiate do. A milter may speak an older version (2 to 6; the events it lacks are
/// masked) and may ask for less than offered, never for more.
/// </summary>
internal static class Negotiation
{
    /// <summary>What a failure while negotiating is named after.</summary>
    public const string Step = "SMFIC_OPTNEG reply";

    /// <summary>The steps we offer: every step flag of protocol 6.</summary>
    public const ProtocolFlags OfferedProtocol = ProtocolFlags.All;

    /// <summary>The actions we offer: every modification of protocol 6.</summary>
    public const ActionFlags OfferedActions = ActionFlags.All;

    /// <summary>
    /// Writes the OPTNEG packet.
    /// <code>
    /// +------+---------+---------+----------+
    /// | 'O'  | version | actions | protocol |   three uint32, network order
    /// +------+---------+---------+----------+
    /// </code>
    /// </summary>
    public static void WriteOffer(PacketWriter writer, ProtocolFlags offeredProtocol)
    {
        writer.Begin(MilterCommand.OptionNegotiation);
        writer.WriteUInt32(MilterConstants.Version);
        writer.WriteUInt32((uint)OfferedActions);
        writer.WriteUInt32((uint)offeredProtocol);
        writer.End();
    }

    /// <summary>
    /// Judges the milter's OPTNEG reply: version, actions, steps, then the optional macro lists
    /// (<c>uint32 stage</c>, <c>"name name …"\0</c>, repeated; v6 only).
    /// </summary>
    public static NegotiatedOptions Judge(Frame frame, ProtocolFlags offeredProtocol)
    {
        if (frame.Code != MilterReply.OptionNegotiation)
        {
            throw new MilterProtocolException(MilterFailureKind.Negotiation, FilterStage.Connect, Step,
                $"the milter answered with {MilterNames.Name(frame.Code)} instead of SMFIC_OPTNEG");
        }

        var reader = new PayloadReader(frame.Payload.Span, FilterStage.Connect, Step, "SMFIC_OPTNEG");
        var version = reader.ReadUInt32("version");
        var actions = (ActionFlags)reader.ReadUInt32("actions");
        var protocol = (ProtocolFlags)reader.ReadUInt32("protocol");

        if (version < MilterConstants.MinimumVersion || version > MilterConstants.Version)
        {
            throw new MilterProtocolException(MilterFailureKind.Negotiation, FilterStage.Connect, Step,
                $"the milter speaks protocol version {version}; versions {MilterConstants.MinimumVersion} to {MilterConstants.Version} are supported");
        }

        if ((actions & ~OfferedActions) != 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Negotiation, FilterStage.Connect, Step,
                $"the milter asks for actions we did not offer: {MilterNames.Describe(actions & ~OfferedActions)}");
        }

        // libmilter echoes MDS bits it accepted; they are not steps. Mask before the subset check.
        var maxPayload = MilterConstants.DefaultMaxPayload;
        if ((protocol & ProtocolFlags.MaxDataSize1M & offeredProtocol) != 0)
        {
            maxPayload = MilterConstants.MaxPayload1M;
        }
        else if ((protocol & ProtocolFlags.MaxDataSize256K & offeredProtocol) != 0)
        {
            maxPayload = MilterConstants.MaxPayload256K;
        }

        protocol &= ~ProtocolFlags.Internal;
        if ((protocol & ~offeredProtocol) != 0)
        {
            throw new MilterProtocolException(MilterFailureKind.Negotiation, FilterStage.Connect, Step,
                $"the milter asks for protocol steps we did not offer: {MilterNames.Describe(protocol & ~offeredProtocol)}");
        }

        // Events the milter's version does not know are never sent (Postfix np_mask, sendmail).
        if (version < 3)
        {
            protocol |= ProtocolFlags.NoUnknown;
        }

        if (version < 4)
        {
            protocol |= ProtocolFlags.NoData;
        }

        var warnings = new List<string>();
        var lists = new IReadOnlyList<string>?[MilterConstants.MacroStageCount];
        if (version >= 6 && reader.Remaining > 0)
        {
            ReadMacroLists(frame.Payload.Span[12..], lists, warnings);
            if ((actions & ActionFlags.SetSymbolList) == 0)
            {
                warnings.Add("the milter sent macro lists without asking for SMFIF_SETSYMLIST; honouring them");
            }
        }
        else if (reader.Remaining > 0)
        {
            warnings.Add($"ignoring {reader.Remaining} bytes after the OPTNEG fields of a version {version} milter");
        }

        return new NegotiatedOptions
        {
            Version = version,
            Actions = actions,
            Protocol = protocol,
            MaxPayload = maxPayload,
            MacroLists = lists,
            Warnings = warnings,
        };
    }

    /// <summary>A malformed list is only a warning: the milter still works with our default macros.</summary>
    private static void ReadMacroLists(ReadOnlySpan<byte> data, IReadOnlyList<string>?[] lists, List<string> warnings)
    {
        var reader = new PayloadReader(data, FilterStage.Connect, Step, "macro list");
        while (reader.Remaining > 0)
        {
            uint stage;
            string names;
            try
            {
                stage = reader.ReadUInt32("stage");
                names = reader.ReadCString("names");
            }
            catch (MilterProtocolException e)
            {
                warnings.Add($"malformed macro list ignored: {e.Cause}");
                return;
            }

            if (stage >= MilterConstants.MacroStageCount)
            {
                warnings.Add($"macro list for unknown stage {stage} ignored");
                continue;
            }

            if (lists[stage] is not null)
            {
                warnings.Add($"second macro list for stage {(MacroStage)stage} replaces the first");
            }

            if (names.Length == 0)
            {
                // Postfix (milter.c MILTER_MACRO_EVAL: m->macros->member[0]): an empty list is no list, the stage
                // gets the default; libmilter sends one for smfi_setsymlist(ctx, stage, ""). A list of spaces only
                // names no macro, and none are sent.
                lists[stage] = null;
                continue;
            }

            lists[stage] = names.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(MacroNames.Canonical)
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }
    }
}
