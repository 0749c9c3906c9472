using SpamFilterMilter.Protocol.Codec;
using SpamFilterMilter.Protocol.Session;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Protocol.Wire;

/// <summary>The names the wire codes go by in log lines and failures.</summary>
public class MilterWireTests
{
    [TestCaseSource(nameof(EveryCommand))]
    public void A_failure_while_waiting_for_an_answer_names_the_command_as_Postfix_does(byte code)
    {
        var command = (MilterCommand)code;
        var stage = MilterNames.ReplyStage(command);

        Assert.That(stage, Is.EqualTo(MilterNames.Name(command) + " reply"));
        Assert.That(stage, Does.StartWith("SMFIC_").And.Not.Contain("0x"), "every defined command has its own name");
        Assert.That(MilterNames.ReplyStage(command), Is.SameAs(stage), "a constant, not built per event");
    }

    [Test]
    public void An_undefined_command_code_is_named_by_its_value()
    {
        Assert.That(MilterNames.ReplyStage((MilterCommand)0x01), Is.EqualTo("SMFIC_0x01 reply"));
    }

    private static IEnumerable<byte> EveryCommand() => Enum.GetValues<MilterCommand>().Select(c => (byte)c);
}
