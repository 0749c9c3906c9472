using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

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

    private readonly Process _process;
    private readonly StringBuilder _output;
    private readonly TempFolder _folder;

    private SlapdServer(Process process, StringBuilder output, TempFolder folder, int port)
    {
        _process = process;
        _output = output;
        _folder = folder;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Starts slapd and loads <paramref name="ldifFiles"/> with ldapadd, as the root DN.</summary>
    public static async Task<SlapdServer> StartAsync(params string[] ldifFiles)
    {
        var slapd = Find("slapd", "/usr/sbin/slapd");
        var ldapadd = Find("ldapadd", "/usr/bin/ldapadd");
        for (var attempt = 1; ; attempt++)
        {
            var folder = new TempFolder();
            Directory.CreateDirectory(Path.Combine(folder.Path, "db"));
            var config = folder.Write("slapd.conf", string.Join('\n',
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
            var port = FreePort();
            var output = new StringBuilder();
            var process = Launch(slapd, ["-f", config, "-h", $"ldap://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/", "-d", "0"], output);
            var server = new SlapdServer(process, output, folder, port);
            if (await server.WaitUntilListeningAsync())
            {
                foreach (var ldif in ldifFiles)
                {
                    await server.RunAsync(ldapadd, ["-x", "-H", server.Url, "-D", RootDn, "-w", RootPassword, "-f", ldif]);
                }

                return server;
            }

            var log = server.Output;
            await server.DisposeAsync();
            if (attempt == 3)
            {
                throw new InvalidOperationException($"slapd did not start listening: {log}");
            }
        }
    }

    public string Url => $"ldap://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The entries of the Ldap folder next to the test assembly.</summary>
    public static string LdifFile(string name) => Path.Combine(LdapFolder, name);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _folder.Dispose();
    }

    private async Task<bool> WaitUntilListeningAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return true;
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        return false;
    }

    private async Task RunAsync(string program, string[] arguments)
    {
        var output = new StringBuilder();
        using var process = Launch(program, arguments, output);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} failed ({process.ExitCode}): {output} slapd: {Output}");
        }
    }

    private static string Find(string name, string path) =>
        File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: install the Debian packages slapd and ldap-utils (tests/system-packages.txt) for the LDAP tests ({name}).");

    private static Process Launch(string program, IEnumerable<string> arguments, StringBuilder output)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        DataReceivedEventHandler collect = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += collect;
        process.ErrorDataReceived += collect;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
