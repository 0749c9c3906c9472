namespace SpamFilterMilter.Host.Running;

/// <summary>What <see cref="ConfigurationCheck.RunAsync"/> found: every finding, in the order checked, and a summary.</summary>
public sealed class ConfigurationReport
{
    internal ConfigurationReport(IReadOnlyList<ConfigurationFinding> findings, int slots, bool reached, int reachedCount = 0)
    {
        Findings = findings;
        Slots = slots;
        Reached = reached;
        ReachedCount = reachedCount;
    }

    /// <summary>Every finding: problems, notes and what passed.</summary>
    public IReadOnlyList<ConfigurationFinding> Findings { get; }

    /// <summary>The slots that are on (their plug-ins were loaded and created, or tried).</summary>
    public int Slots { get; }

    /// <summary>Whether the milters were to be reached (<c>--reach</c>); how many were is <see cref="ReachedCount"/>.</summary>
    public bool Reached { get; }

    /// <summary>How many slots' milters answered and negotiated (with <c>--reach</c>); a plug-in that did not load is not.</summary>
    public int ReachedCount { get; }

    /// <summary>The number of problems.</summary>
    public int Problems => Findings.Count(f => f.Kind == FindingKind.Problem);

    /// <summary><see cref="ToolExitCode.Success"/> without problems, else <see cref="ToolExitCode.ProblemsFound"/>.</summary>
    public ToolExitCode ExitCode => Problems == 0 ? ToolExitCode.Success : ToolExitCode.ProblemsFound;

    /// <summary>The last line, e.g. <c>check-config: 1 problem, 0 notes; 2 slots checked, milters reached: 1 of 2</c>.</summary>
    public string Summary
    {
        get
        {
            var notes = Findings.Count(f => f.Kind == FindingKind.Note);
            return $"check-config: {Count(Problems, "problem")}, {Count(notes, "note")}; {Count(Slots, "slot")} checked, "
                // The count, not a bare "reached": a slot whose plug-in did not load, or whose milter did not answer, is not.
                + (Reached ? $"milters reached: {ReachedCount} of {Slots}" : "milters not reached (--reach reaches them)");
        }
    }

    /// <summary>What a tool prints: one line per finding, then <see cref="Summary"/>.</summary>
    public IEnumerable<string> Lines() => Findings.Select(f => f.ToString()).Append(Summary);

    private static string Count(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";
}
