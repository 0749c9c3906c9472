using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// SMFIC_MACRO: <c>cmdcode</c>, then <c>name\0value\0</c> pairs. As Postfix does (milter.c, milter_macro_lookup), a
/// macro without a value is left out, and the packet is sent even when no macro of the list has one: then it holds
/// only the command byte, which libmilter ignores (st_macros finds no string and answers nothing), keeping that
/// stage's earlier values. Pairs that would make the packet larger than the milter accepts are left out.
/// </summary>
internal static class MacroPacket
{
    /// <summary>
    /// Writes the macros of <paramref name="names"/> that go with <paramref name="command"/>, then, when
    /// <paramref name="extrasOutside"/> is given, the host's macros that appear in none of its lists. Returns the names
    /// left out because they did not fit, or null when none was.
    /// </summary>
    public static List<string>? Write(PacketWriter writer, MilterCommand command, IReadOnlyList<string> names, MacroTable macros,
        MacroLists? extrasOutside)
    {
        writer.Begin(MilterCommand.Macro);
        writer.WriteByte((byte)command);
        List<string>? leftOut = null;
        for (var i = 0; i < names.Count; i++) // no enumerator: this runs before every body packet
        {
            var name = names[i];
            if (macros.TryGet(name, out var value))
            {
                TryWritePair(writer, name, value, ref leftOut);
            }
        }

        if (extrasOutside is not null)
        {
            foreach (var (name, value) in macros.ExtrasOutside(extrasOutside))
            {
                TryWritePair(writer, name, value, ref leftOut);
            }
        }

        writer.End();
        return leftOut;
    }

    private static void TryWritePair(PacketWriter writer, string name, string value, ref List<string>? leftOut)
    {
        if (!writer.TryWriteCStringPair(name, value))
        {
            (leftOut ??= []).Add(name);
        }
    }
}
