using System.Text;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// SMFIC_MACRO: <c>cmdcode</c>, then <c>name\0value\0</c> pairs. Only macros with a value are sent, and no packet at
/// all when none has one: libmilter refuses a packet holding only the command byte (dec_argv finds no string) and
/// keeps the stage's earlier values, so an empty packet could not clear them anyway. TODO(limit): a host macro
/// removed in mid-session therefore stays visible to a libmilter milter with its old value until that stage's next
/// packet; the session's own macros always have values at their stages. Pairs that would make the packet larger than
/// the milter accepts are left out.
/// </summary>
internal static class MacroPacket
{
    /// <summary>
    /// Writes the macros of <paramref name="stage"/> that go with <paramref name="command"/>: the list the milter asked
    /// for, or the default list (plus the host's extra macros at the stage they go with). Returns the names left out
    /// because they did not fit, or null when none was.
    /// </summary>
    public static List<string>? Write(PacketWriter writer, MilterCommand command, MacroStage stage, MacroTable macros,
        IReadOnlyList<string>? requested)
    {
        var names = requested ?? MacroNames.DefaultLists[(int)stage];
        writer.Begin(MilterCommand.Macro);
        writer.WriteByte((byte)command);
        var any = false;
        List<string>? leftOut = null;
        foreach (var name in names)
        {
            if (macros.TryGet(name, out var value))
            {
                any |= TryWritePair(writer, name, value, ref leftOut);
            }
        }

        if (requested is null && stage == MacroNames.ExtraMacroStage)
        {
            foreach (var (name, value) in macros.Extras)
            {
                any |= TryWritePair(writer, name, value, ref leftOut);
            }
        }

        if (any)
        {
            writer.End();
        }
        else
        {
            writer.Cancel();
        }

        return leftOut;
    }

    private static bool TryWritePair(PacketWriter writer, string name, string value, ref List<string>? leftOut)
    {
        var size = Encoding.UTF8.GetByteCount(name) + Encoding.UTF8.GetByteCount(value) + 2;
        if (writer.CurrentPayloadLength + size > writer.MaxPayload)
        {
            (leftOut ??= []).Add(name);
            return false;
        }

        writer.WriteCString(name);
        writer.WriteCString(value);
        return true;
    }
}
