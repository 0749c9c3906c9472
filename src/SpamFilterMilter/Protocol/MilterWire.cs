namespace SpamFilterMilter.Protocol;

// Every Milter wire code, named once (docs/protocol.md has the payload layouts).
// Values are libmilter's (include/libmilter/mfdef.h, mfapi.h); the comment gives the libmilter name
// and the protocol version that introduced the code.

/// <summary>Commands the MTA sends to the milter (SMFIC_*).</summary>
internal enum MilterCommand : byte
{
    Abort = (byte)'A',        // SMFIC_ABORT     v2  end the current message; no reply
    Body = (byte)'B',         // SMFIC_BODY      v2  a body chunk
    Connect = (byte)'C',      // SMFIC_CONNECT   v2  host name, family, port, address
    Macro = (byte)'D',        // SMFIC_MACRO     v2  macros for the next command; no reply
    EndOfBody = (byte)'E',    // SMFIC_BODYEOB   v2  end of message: modifications, then the verdict
    Helo = (byte)'H',         // SMFIC_HELO      v2
    QuitNewConnection = (byte)'K', // SMFIC_QUIT_NC v6 QUIT, a new connection follows; no reply
    Header = (byte)'L',       // SMFIC_HEADER    v2  name, value
    Mail = (byte)'M',         // SMFIC_MAIL      v2  sender, then ESMTP arguments
    EndOfHeaders = (byte)'N', // SMFIC_EOH       v2
    OptionNegotiation = (byte)'O', // SMFIC_OPTNEG v2 version, actions, protocol steps
    Quit = (byte)'Q',         // SMFIC_QUIT      v2  no reply
    Rcpt = (byte)'R',         // SMFIC_RCPT      v2  recipient, then ESMTP arguments
    Data = (byte)'T',         // SMFIC_DATA      v4
    Unknown = (byte)'U',      // SMFIC_UNKNOWN   v3  an SMTP command the MTA does not know
}

/// <summary>Replies the milter sends to the MTA (SMFIR_*).</summary>
internal enum MilterReply : byte
{
    AddRecipient = (byte)'+',          // SMFIR_ADDRCPT     v2  EOM only
    DeleteRecipient = (byte)'-',       // SMFIR_DELRCPT     v2  EOM only
    AddRecipientWithArgs = (byte)'2',  // SMFIR_ADDRCPT_PAR v6  EOM only
    Shutdown = (byte)'4',              // SMFIR_SHUTDOWN    v6  defined; libmilter never sends it
    Accept = (byte)'a',                // SMFIR_ACCEPT      v2
    ReplaceBody = (byte)'b',           // SMFIR_REPLBODY    v2  EOM only, may come in many chunks
    Continue = (byte)'c',              // SMFIR_CONTINUE    v2
    Discard = (byte)'d',               // SMFIR_DISCARD     v2
    ChangeSender = (byte)'e',          // SMFIR_CHGFROM     v6  EOM only
    ConnectionFailure = (byte)'f',     // SMFIR_CONN_FAIL   v6  defined; libmilter never sends it
    AddHeader = (byte)'h',             // SMFIR_ADDHEADER   v2  EOM only
    InsertHeader = (byte)'i',          // SMFIR_INSHEADER   v6  EOM only
    SetSymbolList = (byte)'l',         // SMFIR_SETSYMLIST  v6  defined; lists travel inside OPTNEG
    ChangeHeader = (byte)'m',          // SMFIR_CHGHEADER   v2  EOM only
    Progress = (byte)'p',              // SMFIR_PROGRESS    v6  still working; keep waiting
    Quarantine = (byte)'q',            // SMFIR_QUARANTINE  v2 (8.13)
    Reject = (byte)'r',                // SMFIR_REJECT      v2
    Skip = (byte)'s',                  // SMFIR_SKIP        v6  skip further events of this kind
    TempFail = (byte)'t',              // SMFIR_TEMPFAIL    v2
    ReplyCode = (byte)'y',             // SMFIR_REPLYCODE   v2  full SMTP reply text
    OptionNegotiation = (byte)'O',     // SMFIC_OPTNEG as a reply
}

/// <summary>Modifications a milter may make (SMFIF_*), the second OPTNEG word.</summary>
[Flags]
internal enum ActionFlags : uint
{
    None = 0,
    AddHeaders = 0x001,          // SMFIF_ADDHDRS
    ChangeBody = 0x002,          // SMFIF_CHGBODY
    AddRecipients = 0x004,       // SMFIF_ADDRCPT
    DeleteRecipients = 0x008,    // SMFIF_DELRCPT
    ChangeHeaders = 0x010,       // SMFIF_CHGHDRS
    Quarantine = 0x020,          // SMFIF_QUARANTINE
    ChangeSender = 0x040,        // SMFIF_CHGFROM      v6
    AddRecipientsWithArgs = 0x080, // SMFIF_ADDRCPT_PAR v6
    SetSymbolList = 0x100,       // SMFIF_SETSYMLIST   v6
    All = 0x1FF,                 // SMFI_CURR_ACTS
}

/// <summary>Protocol steps (SMFIP_*), the third OPTNEG word.</summary>
[Flags]
internal enum ProtocolFlags : uint
{
    None = 0,
    NoConnect = 0x00000001,      // SMFIP_NOCONNECT   don't send CONNECT
    NoHelo = 0x00000002,         // SMFIP_NOHELO
    NoMail = 0x00000004,         // SMFIP_NOMAIL
    NoRcpt = 0x00000008,         // SMFIP_NORCPT
    NoBody = 0x00000010,         // SMFIP_NOBODY
    NoHeaders = 0x00000020,      // SMFIP_NOHDRS
    NoEndOfHeaders = 0x00000040, // SMFIP_NOEOH
    NoReplyHeader = 0x00000080,  // SMFIP_NR_HDR (NOHREPL)
    NoUnknown = 0x00000100,      // SMFIP_NOUNKNOWN
    NoData = 0x00000200,         // SMFIP_NODATA
    Skip = 0x00000400,           // SMFIP_SKIP        MTA understands SMFIR_SKIP
    RcptRejected = 0x00000800,   // SMFIP_RCPT_REJ    MTA also sends rejected RCPTs
    NoReplyConnect = 0x00001000, // SMFIP_NR_CONN
    NoReplyHelo = 0x00002000,    // SMFIP_NR_HELO
    NoReplyMail = 0x00004000,    // SMFIP_NR_MAIL
    NoReplyRcpt = 0x00008000,    // SMFIP_NR_RCPT
    NoReplyData = 0x00010000,    // SMFIP_NR_DATA
    NoReplyUnknown = 0x00020000, // SMFIP_NR_UNKN
    NoReplyEndOfHeaders = 0x00040000, // SMFIP_NR_EOH
    NoReplyBody = 0x00080000,    // SMFIP_NR_BODY
    HeaderLeadingSpace = 0x00100000, // SMFIP_HDR_LEADSPC keep the space after the colon
    All = 0x001FFFFF,            // SMFI_CURR_PROT
    MaxDataSize256K = 0x10000000, // SMFIP_MDS_256K   internal: 256 KiB - 1 packets
    MaxDataSize1M = 0x20000000,  // SMFIP_MDS_1M     internal: 1 MiB - 1 packets
    Internal = 0x70000000,       // SMFI_INTERNAL
}

/// <summary>Macro stages of the OPTNEG symbol lists (SMFIM_*). Note that EOM comes before EOH.</summary>
internal enum MacroStage
{
    Connect = 0,   // SMFIM_CONNECT
    Helo = 1,      // SMFIM_HELO
    Mail = 2,      // SMFIM_ENVFROM
    Rcpt = 3,      // SMFIM_ENVRCPT
    Data = 4,      // SMFIM_DATA
    EndOfMessage = 5, // SMFIM_EOM
    EndOfHeaders = 6, // SMFIM_EOH
}

/// <summary>Protocol constants.</summary>
internal static class MilterConstants
{
    /// <summary>The protocol version we speak and offer.</summary>
    public const uint Version = 6;

    /// <summary>The oldest version we accept from a milter.</summary>
    public const uint MinimumVersion = 2;

    /// <summary>Largest payload libmilter accepts unless MDS_256K/MDS_1M was negotiated (MILTER_MAX_DATA_SIZE).</summary>
    public const int DefaultMaxPayload = 65535;

    /// <summary>Payload limits for the MDS flags.</summary>
    public const int MaxPayload256K = 262143;
    public const int MaxPayload1M = 1048575;

    /// <summary>The number of macro stages (SMFIM_*).</summary>
    public const int MacroStageCount = 7;

    /// <summary>Connect address families (SMFIA_*).</summary>
    public const byte FamilyUnknown = (byte)'U';
    public const byte FamilyUnix = (byte)'L';
    public const byte FamilyInet = (byte)'4';
    public const byte FamilyInet6 = (byte)'6';

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
}
