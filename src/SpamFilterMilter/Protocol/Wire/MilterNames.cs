using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// The words logs and errors use for wire codes: libmilter's names (<c>SMFIC_BODYEOB</c>, <c>SMFIR_REPLYCODE</c>),
/// the names of flag bits, and the stage each command belongs to. Made once; asking allocates nothing.
/// </summary>
internal static class MilterNames
{
    /// <summary>libmilter's name for a command or reply code, for log lines ("SMFIC_BODYEOB").</summary>
    public static string Name(MilterCommand command) => command switch
    {
        MilterCommand.Abort => "SMFIC_ABORT",
        MilterCommand.Body => "SMFIC_BODY",
        MilterCommand.Connect => "SMFIC_CONNECT",
        MilterCommand.Macro => "SMFIC_MACRO",
        MilterCommand.EndOfBody => "SMFIC_BODYEOB",
        MilterCommand.Helo => "SMFIC_HELO",
        MilterCommand.QuitNewConnection => "SMFIC_QUIT_NC",
        MilterCommand.Header => "SMFIC_HEADER",
        MilterCommand.Mail => "SMFIC_MAIL",
        MilterCommand.EndOfHeaders => "SMFIC_EOH",
        MilterCommand.OptionNegotiation => "SMFIC_OPTNEG",
        MilterCommand.Quit => "SMFIC_QUIT",
        MilterCommand.Rcpt => "SMFIC_RCPT",
        MilterCommand.Data => "SMFIC_DATA",
        MilterCommand.Unknown => "SMFIC_UNKNOWN",
        _ => $"SMFIC_0x{(byte)command:X2}",
    };

    /// <summary>
    /// What a failure while waiting for the answer to <paramref name="command"/> is named after
    /// ("SMFIC_BODY reply", as in Postfix's "can't read SMFIC_BODY reply packet header"). Asked once
    /// per event, so the names are made once, for every possible code.
    /// </summary>
    public static string ReplyStage(MilterCommand command) => ReplyStages[(byte)command];

    private static readonly string[] ReplyStages = [.. Enumerable.Range(0, 256).Select(code => Name((MilterCommand)code) + " reply")];

    /// <inheritdoc cref="Name(MilterCommand)"/>
    public static string Name(MilterReply reply) => reply switch
    {
        MilterReply.AddRecipient => "SMFIR_ADDRCPT",
        MilterReply.DeleteRecipient => "SMFIR_DELRCPT",
        MilterReply.AddRecipientWithArgs => "SMFIR_ADDRCPT_PAR",
        MilterReply.Shutdown => "SMFIR_SHUTDOWN",
        MilterReply.Accept => "SMFIR_ACCEPT",
        MilterReply.ReplaceBody => "SMFIR_REPLBODY",
        MilterReply.Continue => "SMFIR_CONTINUE",
        MilterReply.Discard => "SMFIR_DISCARD",
        MilterReply.ChangeSender => "SMFIR_CHGFROM",
        MilterReply.ConnectionFailure => "SMFIR_CONN_FAIL",
        MilterReply.AddHeader => "SMFIR_ADDHEADER",
        MilterReply.InsertHeader => "SMFIR_INSHEADER",
        MilterReply.SetSymbolList => "SMFIR_SETSYMLIST",
        MilterReply.ChangeHeader => "SMFIR_CHGHEADER",
        MilterReply.Progress => "SMFIR_PROGRESS",
        MilterReply.Quarantine => "SMFIR_QUARANTINE",
        MilterReply.Reject => "SMFIR_REJECT",
        MilterReply.Skip => "SMFIR_SKIP",
        MilterReply.TempFail => "SMFIR_TEMPFAIL",
        MilterReply.ReplyCode => "SMFIR_REPLYCODE",
        MilterReply.OptionNegotiation => "SMFIC_OPTNEG",
        _ => IsPrintable((byte)reply) ? $"unknown reply '{(char)reply}'" : $"unknown reply 0x{(byte)reply:X2}",
    };

    private static bool IsPrintable(byte b) => b is >= 0x21 and < 0x7F;

    /// <summary>Names of the set bits, for logs ("ADDHDRS|CHGHDRS").</summary>
    public static string Describe(ActionFlags flags) => DescribeBits((uint)flags, ActionNames);

    /// <inheritdoc cref="Describe(ActionFlags)"/>
    public static string Describe(ProtocolFlags flags) => DescribeBits((uint)flags, ProtocolNames);

    private static readonly string[] ActionNames =
        ["ADDHDRS", "CHGBODY", "ADDRCPT", "DELRCPT", "CHGHDRS", "QUARANTINE", "CHGFROM", "ADDRCPT_PAR", "SETSYMLIST"];

    private static readonly string[] ProtocolNames =
    [
        "NOCONNECT", "NOHELO", "NOMAIL", "NORCPT", "NOBODY", "NOHDRS", "NOEOH", "NR_HDR", "NOUNKNOWN", "NODATA",
        "SKIP", "RCPT_REJ", "NR_CONN", "NR_HELO", "NR_MAIL", "NR_RCPT", "NR_DATA", "NR_UNKN", "NR_EOH", "NR_BODY",
        "HDR_LEADSPC", "bit21", "bit22", "bit23", "bit24", "bit25", "bit26", "bit27", "MDS_256K", "MDS_1M", "bit30", "bit31",
    ];

    private static string DescribeBits(uint bits, string[] names)
    {
        if (bits == 0)
        {
            return "none";
        }

        var parts = new List<string>();
        for (var i = 0; i < 32; i++)
        {
            if ((bits & (1u << i)) != 0)
            {
                parts.Add(i < names.Length ? names[i] : $"bit{i}");
            }
        }

        return string.Join('|', parts);
    }

    /// <summary>The stage a command belongs to: a failure while sending it, or waiting for its answer, happened there.</summary>
    public static FilterStage StageOf(MilterCommand command) => command switch
    {
        MilterCommand.OptionNegotiation or MilterCommand.Connect => FilterStage.Connect,
        MilterCommand.Helo => FilterStage.Helo,
        MilterCommand.Mail => FilterStage.Mail,
        MilterCommand.Rcpt => FilterStage.Rcpt,
        MilterCommand.Data => FilterStage.Data,
        MilterCommand.Header => FilterStage.Header,
        MilterCommand.EndOfHeaders => FilterStage.EndOfHeaders,
        MilterCommand.Body => FilterStage.Body,
        MilterCommand.EndOfBody => FilterStage.EndOfMessage,
        MilterCommand.Unknown => FilterStage.Unknown,
        _ => FilterStage.Close, // QUIT, QUIT_NC; ABORT and MACRO travel with the next command
    };
}
