namespace SpamFilterMilter.Host.Configuration;

/// <summary>A <c>spamfilterX_verdict_M</c> / <c>spamfilterX_action_M</c> pair.</summary>
/// <param name="Index">M, 0 to 7: pairs are tried in this order.</param>
/// <param name="Pattern">The verdict pattern.</param>
/// <param name="Action">The Sieve action run when the verdict matches.</param>
public sealed record VerdictRule(int Index, VerdictPattern Pattern, SieveAction Action);
