using System.Net;
using SmtpServer.Mail;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// Who may send to which recipients (<see cref="SmtpServerFilteringOptions.RelayDomains"/>), as Postfix's
/// <c>smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination</c> decides: a
/// client in <see cref="SmtpServerFilteringOptions.RelayNetworks"/> or one that authenticated may send anywhere; any
/// other only to the relay domains, and is answered <c>554 5.7.1 &lt;rcpt&gt;: Relay access denied</c>.
/// </summary>
internal sealed class RelayRestriction
{
    private readonly HashSet<string> _domains = new(StringComparer.OrdinalIgnoreCase); // example.com: itself
    private readonly List<string> _parents = []; // .example.com: its subdomains, kept with the dot
    private readonly IReadOnlyList<IPNetwork> _networks;

    private RelayRestriction(IEnumerable<string> domains, IReadOnlyList<IPNetwork> networks)
    {
        foreach (var entry in domains)
        {
            // A trailing dot (the root) changes nothing; Postfix drops it from a recipient's domain too.
            var domain = entry?.Trim().TrimEnd('.') ?? string.Empty;
            if (domain.Length == 0 || domain == "." || domain.Contains('@', StringComparison.Ordinal) || domain.Any(char.IsWhiteSpace) || domain.StartsWith("..", StringComparison.Ordinal))
            {
                throw new ArgumentException($"RelayDomains: \"{entry}\" is not a domain (example.com, or .example.com for its subdomains).", nameof(domains));
            }

            if (domain[0] == '.')
            {
                _parents.Add(domain);
            }
            else
            {
                _domains.Add(domain);
            }
        }

        _networks = networks;
    }

    /// <summary>The restriction <paramref name="options"/> asks for; null when it asks for none (RelayDomains null).</summary>
    public static RelayRestriction? Of(SmtpServerFilteringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options.RelayNetworks, nameof(options.RelayNetworks));
        return options.RelayDomains is { } domains ? new RelayRestriction(domains, options.RelayNetworks) : null;
    }

    /// <summary>What a recipient outside the relay domains is answered from an untrusted client: Postfix's words.</summary>
    public static SmtpReply Denied(IMailbox to) =>
        // Postfix names the address in its internal form, a quoted local part without its quotes (<a b@example.org>), as
        // SmtpServer gives it.
        new(554, "5.7.1", $"<{to.User}@{to.Host}>: Relay access denied");

    /// <summary>Whether <paramref name="client"/> may relay anywhere: it is in a relay network, or authenticated.</summary>
    public bool Trusts(IPAddress? client, bool authenticated) => authenticated || (client is not null && _networks.Any(network => network.Contains(client)));

    /// <summary>
    /// Whether <paramref name="domain"/> is a relay domain: equal to one (letter case aside), or a subdomain of one
    /// written with a leading dot. An address literal (<c>[192.0.2.1]</c>) never is: the relay has no mailbox of its own.
    /// </summary>
    public bool IsRelayDomain(string? domain)
    {
        if (string.IsNullOrEmpty(domain) || domain[0] == '[')
        {
            return false;
        }

        domain = domain.TrimEnd('.');
        return _domains.Contains(domain) || _parents.Exists(parent => domain.EndsWith(parent, StringComparison.OrdinalIgnoreCase));
    }
}
