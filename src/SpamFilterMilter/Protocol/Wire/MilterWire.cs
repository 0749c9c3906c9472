namespace SpamFilterMilter.Protocol.Wire;

// Every Milter wire code, named once (docs/protocol.md has the payload layouts; MilterNames has the names logs use).
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
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Flags: the libmilter SMFIF_ bits.")]
public enum ActionFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>SMFIF_ADDHDRS</summary>
    AddHeaders = 0x001,
    /// <summary>SMFIF_CHGBODY</summary>
    ChangeBody = 0x002,
    /// <summary>SMFIF_ADDRCPT</summary>
    AddRecipients = 0x004,
    /// <summary>SMFIF_DELRCPT</summary>
    DeleteRecipients = 0x008,
    /// <summary>SMFIF_CHGHDRS</summary>
    ChangeHeaders = 0x010,
    /// <summary>SMFIF_QUARANTINE</summary>
    Quarantine = 0x020,
    /// <summary>SMFIF_CHGFROM      v6</summary>
    ChangeSender = 0x040,
    /// <summary>SMFIF_ADDRCPT_PAR v6</summary>
    AddRecipientsWithArgs = 0x080,
    /// <summary>SMFIF_SETSYMLIST   v6</summary>
    SetSymbolList = 0x100,
    /// <summary>SMFI_CURR_ACTS</summary>
    All = 0x1FF,
}

/// <summary>Protocol steps (SMFIP_*), the third OPTNEG word.</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Flags: the libmilter SMFIP_ bits.")]
public enum ProtocolFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>SMFIP_NOCONNECT   don't send CONNECT</summary>
    NoConnect = 0x00000001,
    /// <summary>SMFIP_NOHELO</summary>
    NoHelo = 0x00000002,
    /// <summary>SMFIP_NOMAIL</summary>
    NoMail = 0x00000004,
    /// <summary>SMFIP_NORCPT</summary>
    NoRcpt = 0x00000008,
    /// <summary>SMFIP_NOBODY</summary>
    NoBody = 0x00000010,
    /// <summary>SMFIP_NOHDRS</summary>
    NoHeaders = 0x00000020,
    /// <summary>SMFIP_NOEOH</summary>
    NoEndOfHeaders = 0x00000040,
    /// <summary>SMFIP_NR_HDR (NOHREPL)</summary>
    NoReplyHeader = 0x00000080,
    /// <summary>SMFIP_NOUNKNOWN</summary>
    NoUnknown = 0x00000100,
    /// <summary>SMFIP_NODATA</summary>
    NoData = 0x00000200,
    /// <summary>SMFIP_SKIP        MTA understands SMFIR_SKIP</summary>
    Skip = 0x00000400,
    /// <summary>SMFIP_RCPT_REJ    MTA also sends rejected RCPTs</summary>
    RcptRejected = 0x00000800,
    /// <summary>SMFIP_NR_CONN</summary>
    NoReplyConnect = 0x00001000,
    /// <summary>SMFIP_NR_HELO</summary>
    NoReplyHelo = 0x00002000,
    /// <summary>SMFIP_NR_MAIL</summary>
    NoReplyMail = 0x00004000,
    /// <summary>SMFIP_NR_RCPT</summary>
    NoReplyRcpt = 0x00008000,
    /// <summary>SMFIP_NR_DATA</summary>
    NoReplyData = 0x00010000,
    /// <summary>SMFIP_NR_UNKN</summary>
    NoReplyUnknown = 0x00020000,
    /// <summary>SMFIP_NR_EOH</summary>
    NoReplyEndOfHeaders = 0x00040000,
    /// <summary>SMFIP_NR_BODY</summary>
    NoReplyBody = 0x00080000,
    /// <summary>SMFIP_HDR_LEADSPC keep the space after the colon</summary>
    HeaderLeadingSpace = 0x00100000,
    /// <summary>SMFI_CURR_PROT</summary>
    All = 0x001FFFFF,
    /// <summary>SMFIP_MDS_256K   internal: 256 KiB - 1 packets</summary>
    MaxDataSize256K = 0x10000000,
    /// <summary>SMFIP_MDS_1M     internal: 1 MiB - 1 packets</summary>
    MaxDataSize1M = 0x20000000,
    /// <summary>SMFI_INTERNAL</summary>
    Internal = 0x70000000,
}

/// <summary>
/// Macro stages of the OPTNEG symbol lists (SMFIM_*). Note that EOM comes before EOH. The end-of-header list also goes
/// before each header, the end-of-message list before each body packet (Postfix).
/// </summary>
internal enum MacroStage
{
    Connect = 0,   // SMFIM_CONNECT
    Helo = 1,      // SMFIM_HELO
    Mail = 2,      // SMFIM_ENVFROM
    Rcpt = 3,      // SMFIM_ENVRCPT
    Data = 4,      // SMFIM_DATA
    EndOfMessage = 5, // SMFIM_EOM
    EndOfHeaders = 6, // SMFIM_EOH
    Unknown = 7,   // no SMFIM list: only configured (Postfix's milter_unknown_command_macros)
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

    /// <summary>The number of macro stages a milter may ask for (SMFIM_*).</summary>
    public const int MacroStageCount = 7;

    /// <summary>The number of macro stages configured (<see cref="MacroStage"/>): the SMFIM_* ones and UNKNOWN.</summary>
    public const int ConfiguredMacroStageCount = 8;

    /// <summary>Connect address families (SMFIA_*).</summary>
    public const byte FamilyUnknown = (byte)'U';
    public const byte FamilyUnix = (byte)'L';
    public const byte FamilyInet = (byte)'4';
    public const byte FamilyInet6 = (byte)'6';
}
