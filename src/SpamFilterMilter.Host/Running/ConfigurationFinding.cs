using System.Text;

namespace SpamFilterMilter.Host.Running;

/// <summary>How much a <see cref="ConfigurationFinding"/> matters.</summary>
public enum FindingKind
{
    /// <summary>Checked and fine (a plug-in loaded and created, a milter reached).</summary>
    Passed,

    /// <summary>Worth knowing, not wrong (a slot with options but no library is off).</summary>
    Note,

    /// <summary>Wrong: the host would refuse to start, or a slot would fail every message.</summary>
    Problem,
}

/// <summary>One thing <see cref="ConfigurationCheck"/> found, with where it is when that is known.</summary>
/// <param name="Kind">Whether it is fine, a note or a problem.</param>
/// <param name="Text">What was found, without the location.</param>
/// <param name="File">The file at fault (option.dat, the channel table, the directory file, a plug-in or its option file), or null.</param>
/// <param name="Line">The 1-based line at fault, or 0.</param>
/// <param name="Option">The option at fault, or null.</param>
/// <param name="Slot">The slot X it is about, or 0.</param>
public sealed record ConfigurationFinding(FindingKind Kind, string Text, string? File = null, int Line = 0, string? Option = null, int Slot = 0)
{
    /// <summary>
    /// One line: the kind, the slot, the place and the text, e.g.
    /// <c>problem: slot 2: /etc/milter2.opt:3: option TIMEOUT: 99999999999 is too large: out of range (1 to 8640000)</c>.
    /// </summary>
    public override string ToString()
    {
        var line = new StringBuilder(Kind switch { FindingKind.Passed => "ok", FindingKind.Note => "note", _ => "problem" }).Append(": ");
        if (Slot > 0)
        {
            line.Append("slot ").Append(Slot).Append(": ");
        }

        if (File is not null)
        {
            line.Append(File);
            if (Line > 0)
            {
                line.Append(':').Append(Line);
            }

            line.Append(": ");
        }

        if (Option is not null)
        {
            line.Append("option ").Append(Option).Append(": ");
        }

        return line.Append(Text).ToString();
    }
}
