using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Wire;

/// <summary>
/// The names logs and failures give wire codes and flags (<see cref="MilterNames"/>), against libmilter's own
/// (mfdef.h), and the codes MilterWire.cs gives them. That a failure really carries the reply step is checked where
/// failures happen: MilterSessionReplyTests, FaultTableTests.
/// </summary>
public class MilterNamesTests
{
    private static readonly (char Code, string Name, FilterStage Stage)[] Commands =
    [
        ('A', "SMFIC_ABORT", FilterStage.Close), ('B', "SMFIC_BODY", FilterStage.Body), ('C', "SMFIC_CONNECT", FilterStage.Connect),
        ('D', "SMFIC_MACRO", FilterStage.Close), ('E', "SMFIC_BODYEOB", FilterStage.EndOfMessage), ('H', "SMFIC_HELO", FilterStage.Helo),
        ('K', "SMFIC_QUIT_NC", FilterStage.Close), ('L', "SMFIC_HEADER", FilterStage.Header), ('M', "SMFIC_MAIL", FilterStage.Mail),
        ('N', "SMFIC_EOH", FilterStage.EndOfHeaders), ('O', "SMFIC_OPTNEG", FilterStage.Connect), ('Q', "SMFIC_QUIT", FilterStage.Close),
        ('R', "SMFIC_RCPT", FilterStage.Rcpt), ('T', "SMFIC_DATA", FilterStage.Data), ('U', "SMFIC_UNKNOWN", FilterStage.Unknown),
    ];

    private static readonly (char Code, string Name)[] Replies =
    [
        ('+', "SMFIR_ADDRCPT"), ('-', "SMFIR_DELRCPT"), ('2', "SMFIR_ADDRCPT_PAR"), ('4', "SMFIR_SHUTDOWN"), ('a', "SMFIR_ACCEPT"),
        ('b', "SMFIR_REPLBODY"), ('c', "SMFIR_CONTINUE"), ('d', "SMFIR_DISCARD"), ('e', "SMFIR_CHGFROM"), ('f', "SMFIR_CONN_FAIL"),
        ('h', "SMFIR_ADDHEADER"), ('i', "SMFIR_INSHEADER"), ('l', "SMFIR_SETSYMLIST"), ('m', "SMFIR_CHGHEADER"), ('p', "SMFIR_PROGRESS"),
        ('q', "SMFIR_QUARANTINE"), ('r', "SMFIR_REJECT"), ('s', "SMFIR_SKIP"), ('t', "SMFIR_TEMPFAIL"), ('y', "SMFIR_REPLYCODE"),
        ('O', "SMFIC_OPTNEG"),
    ];

    private static IEnumerable<TestCaseData> CommandRows() =>
        Commands.Select(c => new TestCaseData(c.Code, c.Name, c.Stage).SetArgDisplayNames(c.Name));

    [TestCaseSource(nameof(CommandRows))]
    public void Each_command_code_has_libmilters_name_a_reply_step_named_after_it_and_its_stage(char code, string name, FilterStage stage)
    {
        var command = (MilterCommand)(byte)code;

        var step = MilterNames.ReplyStage(command);

        Assert.That(MilterNames.Name(command), Is.EqualTo(name));
        Assert.That(step, Is.EqualTo(name + " reply"), "as Postfix words it: \"can't read SMFIC_BODY reply packet header\"");
        Assert.That(MilterNames.ReplyStage(command), Is.SameAs(step), "made once, not per event");
        Assert.That(MilterNames.StageOf(command), Is.EqualTo(stage));
    }

    [Test]
    public void Every_command_MilterWire_defines_is_in_the_table_above()
    {
        Assert.That(Enum.GetValues<MilterCommand>().Select(c => (char)(byte)c), Is.EquivalentTo(Commands.Select(c => c.Code)));
        Assert.That(Enum.GetValues<MilterReply>().Select(r => (char)(byte)r), Is.EquivalentTo(Replies.Select(r => r.Code)));
    }

    private static IEnumerable<TestCaseData> ReplyRows() =>
        Replies.Select(r => new TestCaseData(r.Code, r.Name).SetArgDisplayNames(r.Name));

    [TestCaseSource(nameof(ReplyRows))]
    public void Each_reply_code_has_libmilters_name(char code, string name)
    {
        Assert.That(MilterNames.Name((MilterReply)(byte)code), Is.EqualTo(name));
    }

    [Test]
    public void An_undefined_code_is_named_by_its_value()
    {
        Assert.That(MilterNames.Name((MilterCommand)0x01), Is.EqualTo("SMFIC_0x01"));
        Assert.That(MilterNames.ReplyStage((MilterCommand)0x01), Is.EqualTo("SMFIC_0x01 reply"));
        Assert.That(MilterNames.Name((MilterReply)'Z'), Is.EqualTo("unknown reply 'Z'"), "a printable code as itself");
        Assert.That(MilterNames.Name((MilterReply)0x7F), Is.EqualTo("unknown reply 0x7F"), "any other as a number");
    }

    [Test]
    public void Flags_are_described_by_their_libmilter_names_and_unknown_bits_by_number()
    {
        Assert.That(MilterNames.Describe(ActionFlags.None), Is.EqualTo("none"));
        Assert.That(MilterNames.Describe(ActionFlags.AddHeaders | ActionFlags.ChangeHeaders | ActionFlags.SetSymbolList), Is.EqualTo("ADDHDRS|CHGHDRS|SETSYMLIST"));
        Assert.That(MilterNames.Describe((ActionFlags)0x200), Is.EqualTo("bit9"));
        Assert.That(MilterNames.Describe(ProtocolFlags.NoConnect | ProtocolFlags.HeaderLeadingSpace | ProtocolFlags.MaxDataSize1M), Is.EqualTo("NOCONNECT|HDR_LEADSPC|MDS_1M"));
        Assert.That(MilterNames.Describe((ProtocolFlags)0x80000000), Is.EqualTo("bit31"));
    }
}
