using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// The Sieve tests (RFC 5228 §5: header, address, envelope, exists, size, true, false, not, allof, anyof),
/// called conditions here so that they are not taken for unit tests: whether one holds for the message as
/// edited so far.
/// </summary>
internal static class SieveConditions
{
    /// <summary>True when <paramref name="test"/> holds for <paramref name="draft"/> (its fields, size and envelope now).</summary>
    public static bool Holds(Call test, MessageDraft draft)
    {
        switch (test.Name)
        {
            case "true": return true;
            case "false": return false;
            case "not": return !Holds(test.Tests[0], draft);
            case "allof": return test.Tests.All(t => Holds(t, draft));
            case "anyof": return test.Tests.Any(t => Holds(t, draft));
            case "exists":
                return test.Strings(0).All(name => draft.Fields.Any(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase)));
            case "size":
                return test.TagNumber(":over") is { } over ? draft.Length > over : draft.Length < test.TagNumber(":under")!.Value;
            case "header":
            {
                var matcher = SieveMatcher.For(test);
                return test.Strings(0).Any(name => draft.Fields
                    .Where(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                    .Any(f => matcher.Any(HeaderText.TestValue(f.Value), test.Strings(1))));
            }

            case "address":
            {
                var matcher = SieveMatcher.For(test);
                var part = AddressPart(test);
                return test.Strings(0).Any(name => draft.Fields
                    .Where(f => f.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                    .SelectMany(f => HeaderValue.Addresses(f.Value))
                    .Any(a => matcher.Any(HeaderText.Part(a, part), test.Strings(1))));
            }

            case "envelope":
            {
                var matcher = SieveMatcher.For(test);
                var part = AddressPart(test);
                var current = draft.Envelope;
                var addresses = test.Strings(0).SelectMany(p => p.Equals("from", StringComparison.OrdinalIgnoreCase)
                    ? [MailPath.Bare(current.MailFrom)]
                    : current.Recipients.Select(r => MailPath.Bare(r.Address)));
                return addresses.Any(a => matcher.Any(HeaderText.Part(a, part), test.Strings(1)));
            }

            default:
                throw test.Error($"unsupported test \"{test.Name}\""); // the parser lets none through
        }
    }

    private static string AddressPart(Call test) =>
        test.Has(":localpart") ? ":localpart" : test.Has(":domain") ? ":domain" : ":all";
}
