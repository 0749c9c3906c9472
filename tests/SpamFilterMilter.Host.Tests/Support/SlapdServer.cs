using System.Globalization;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>
/// A real OpenLDAP slapd on 127.0.0.1, with its own configuration (slapd.conf), an mdb database in a
/// temporary folder and the schema in Ldap/spamfilter.schema, started for a fixture and killed afterwards.
/// Works as root in a container with no services running: slapd runs in the foreground (-d 0) as whoever
/// starts it. Needs the Debian packages slapd and ldap-utils (tests/system-packages.txt).
/// </summary>
public sealed class SlapdServer : IAsyncDisposable
{
    public const string Suffix = "o=example";
    public const string RootDn = "cn=admin,o=example";
    public const string RootPassword = "admin-secret";

    private static readonly string LdapFolder = Path.Combine(AppContext.BaseDirectory, "Ldap");

    private readonly ServerProcess _server;

    private SlapdServer(ServerProcess server) => _server = server;

    public int Port => _server.Port;

    /// <summary>Starts slapd and loads <paramref name="ldifFiles"/> with ldapadd, as the root DN.</summary>
    public static async Task<SlapdServer> StartAsync(params string[] ldifFiles)
    {
        var slapd = Find("slapd", "/usr/sbin/slapd");
        var ldapadd = Find("ldapadd", "/usr/bin/ldapadd");
        var server = new SlapdServer(await ServerProcess.StartOnFreePortAsync(
            (folder, port) => ServerProcess.Launch(slapd,
                ["-f", WriteConfiguration(folder), "-h", $"ldap://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/", "-d", "0"], folder, port),
            server => server.WaitUntilListeningAsync(TimeSpan.FromSeconds(10)),
            "slapd"));
        try
        {
            foreach (var ldif in ldifFiles)
            {
                string[] arguments = ["-x", "-H", server.Url, "-D", RootDn, "-w", RootPassword, "-f", ldif];
                var (exitCode, output) = await ServerProcess.RunAsync(ldapadd, arguments, TimeSpan.FromSeconds(20));
                if (exitCode != 0)
                {
                    throw new InvalidOperationException($"ldapadd {string.Join(' ', arguments)} failed ({exitCode}): {output} slapd: {server.Output}");
                }
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public string Url => $"ldap://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public string Output => _server.Output;

    /// <summary>The entries of the Ldap folder next to the test assembly.</summary>
    public static string LdifFile(string name) => Path.Combine(LdapFolder, name);

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>slapd.conf for an mdb database in <paramref name="folder"/>, with the test schema.</summary>
    private static string WriteConfiguration(TempFolder folder)
    {
        Directory.CreateDirectory(Path.Combine(folder.Path, "db"));
        return folder.Write("slapd.conf", string.Join('\n',
            "include /etc/ldap/schema/core.schema",
            "include /etc/ldap/schema/cosine.schema",
            "include /etc/ldap/schema/inetorgperson.schema",
            $"include {Path.Combine(LdapFolder, "spamfilter.schema")}",
            $"pidfile {Path.Combine(folder.Path, "slapd.pid")}",
            $"argsfile {Path.Combine(folder.Path, "slapd.args")}",
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            "database mdb",
            "maxsize 10485760",
            $"suffix \"{Suffix}\"",
            $"rootdn \"{RootDn}\"",
            $"rootpw {RootPassword}",
            $"directory {Path.Combine(folder.Path, "db")}",
            string.Empty));
    }

    private static string Find(string name, string path) =>
        File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: install the Debian packages slapd and ldap-utils (tests/system-packages.txt) for the LDAP tests ({name}).");
}
