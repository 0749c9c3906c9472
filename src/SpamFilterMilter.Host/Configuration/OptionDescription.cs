namespace SpamFilterMilter.Host.Configuration;

/// <summary>One option the host reads from option.dat, for documentation and the reference host.</summary>
/// <param name="Name">The name, with X for the slot and M for the verdict/action pair.</param>
/// <param name="Default">The default as documented (<c>none</c> when there is none).</param>
/// <param name="Meaning">One sentence.</param>
public sealed record OptionDescription(string Name, string Default, string Meaning);
