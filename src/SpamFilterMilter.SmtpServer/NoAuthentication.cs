using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.ComponentModel;
using SmtpServer.Protocol;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// What the integration puts in place of SmtpServer's default authenticator, which takes any user with any password.
/// Behind that one, a client that said <c>AUTH PLAIN</c> with made-up credentials over TLS was an authenticated sender
/// to the milters (<c>{auth_authen}</c>; opendkim signs such a sender's mail, policy milters trust it) and to the
/// <c>Received:</c> field (<c>ESMTPSA</c>). An application that authenticates registers its own authenticator, which is
/// left alone; without one, EHLO offers no AUTH and a client that tries it anyway is refused (535), as a Postfix without
/// <c>smtpd_sasl_auth_enable</c> offers none.
/// </summary>
internal static class NoAuthentication
{
    /// <summary>
    /// Whether <paramref name="services"/> still holds SmtpServer's default authenticator (every <see cref="ServiceProvider"/>
    /// starts with it): its factory delegates to <see cref="UserAuthenticator.Default"/>, whatever the session.
    /// </summary>
    public static bool IsSmtpServersDefault(ServiceProvider services) =>
        services.GetService(typeof(IUserAuthenticatorFactory)) is DelegatingUserAuthenticatorFactory factory
        && ReferenceEquals(factory.CreateInstance(null!), UserAuthenticator.Default);

    /// <summary>Whether <paramref name="context"/>'s session authenticates with the one put in place here: it offers no AUTH.</summary>
    public static bool IsInPlace(ISessionContext context) =>
        context.ServiceProvider.GetService(typeof(IUserAuthenticatorFactory)) is IUserAuthenticatorFactory factory
        && factory.CreateInstance(context) is RefusesEveryone;

    /// <summary>
    /// Puts an authenticator that refuses everyone into <paramref name="services"/> and, unless the application gave a
    /// command factory of its own, one whose EHLO does not offer AUTH (with one of its own, AUTH is still offered, and refused).
    /// </summary>
    public static void PutInPlace(ServiceProvider services)
    {
        services.Add(RefusesEveryone.Instance);
        if (services.GetService(typeof(ISmtpCommandFactory)) is null)
        {
            services.Add(new CommandsWithoutAuth());
        }
    }

    private sealed class RefusesEveryone : IUserAuthenticator
    {
        public static readonly RefusesEveryone Instance = new();

        public Task<bool> AuthenticateAsync(ISessionContext context, string user, string password, CancellationToken cancellationToken) =>
            Task.FromResult(false);
    }

    private sealed class CommandsWithoutAuth : SmtpCommandFactory
    {
        public override SmtpCommand CreateEhlo(string domainOrAddress) => new EhloWithoutAuth(domainOrAddress);
    }

    private sealed class EhloWithoutAuth(string domainOrAddress) : EhloCommand(domainOrAddress)
    {
        protected override IEnumerable<string> GetExtensions(ISessionContext context) =>
            base.GetExtensions(context).Where(extension => !extension.StartsWith("AUTH", StringComparison.Ordinal));
    }
}
