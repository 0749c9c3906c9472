using Microsoft.Extensions.Logging;
using SpamFilterMilter.SmtpServer;

namespace SpamFilterMilter.Relay;

/// <summary>
/// The relay's STARTTLS certificate (<c>--tls-certificate</c>, <c>--tls-key</c>) while it runs: which one is offered
/// (7015), read again at SIGHUP (7017 when it cannot be), and a warning when it has lapsed or will soon (7016), at the
/// start, after each reload and daily: when a renewal fails, certbot's deploy hook never sends the SIGHUP.
/// </summary>
internal sealed class RelayCertificate : IAsyncDisposable
{
    /// <summary>How long before its end a certificate is warned of: certbot renews at 30 days left, so 14 means its renewal failed.</summary>
    private static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(14);

    /// <summary>How often the certificate in use is looked at again while the relay runs.</summary>
    private static readonly TimeSpan ExpiryCheckPeriod = TimeSpan.FromDays(1);

    private readonly ILogger _logger;
    private Timer? _expiryCheck;

    /// <summary>Reads the files: throws <see cref="InvalidOperationException"/> naming them when they cannot be used.</summary>
    public RelayCertificate(string certificatePath, string? keyPath, ILogger logger)
    {
        Pem = new PemServerCertificate(certificatePath, keyPath);
        _logger = logger;
    }

    /// <summary>The certificate the endpoints offer.</summary>
    public PemServerCertificate Pem { get; }

    /// <summary>The relay listens: says which certificate it offers, and looks at it again daily from now on.</summary>
    public void Started()
    {
        Log();
        _expiryCheck = new Timer(_ => WarnIfExpiring(), null, ExpiryCheckPeriod, ExpiryCheckPeriod);
    }

    /// <summary>SIGHUP: the renewed certificate for the sessions from now on, or the one in use when it cannot be read.</summary>
    public void Reload()
    {
        try
        {
            Pem.Reload();
            Log();
        }
        catch (InvalidOperationException e)
        {
            RelayLog.TlsCertificateNotReloaded(_logger, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_expiryCheck is not null)
        {
            await _expiryCheck.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Log()
    {
        var current = Pem.Certificate;
        RelayLog.TlsCertificate(_logger, current.Subject, Pem.Intermediates.Count, current.NotAfter.ToUniversalTime());
        WarnIfExpiring();
    }

    private void WarnIfExpiring()
    {
        var current = Pem.Certificate;
        var notAfter = current.NotAfter.ToUniversalTime();
        var left = notAfter - DateTime.UtcNow;
        if (left < ExpiryWarning)
        {
            var lapsed = left <= TimeSpan.Zero;
            RelayLog.TlsCertificateExpiring(_logger, current.Subject, lapsed ? "has expired" : $"expires in {Math.Ceiling(left.TotalDays):0} day(s)", notAfter,
                lapsed ? "clients that verify it do not send over TLS" : "once it has, clients that verify it will not send over TLS");
        }
    }
}
