using System.Globalization;
using System.Text;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Relay;

/// <summary>
/// A maildir (the qmail format, with Courier's Maildir++ folders): each message is written to <c>tmp/</c> under a name
/// no other delivery uses, then renamed into <c>new/</c>, so a reader never sees half a message. A message is stored as
/// Postfix's local delivery stores one: <c>Return-Path:</c> and one <c>Delivered-To:</c> per recipient on top, lines
/// ended by LF.
/// </summary>
internal sealed class Maildir
{
    /// <summary>Mail is private: only the relay's own user may read it, whatever the umask (as Postfix's local delivery).</summary>
    private const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>A maildir's folders likewise: 0700.</summary>
    private const UnixFileMode FolderMode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private static long s_deliveries;

    public Maildir(string root) => Root = Path.GetFullPath(root);

    /// <summary>The maildir's folder (its inbox).</summary>
    public string Root { get; }

    /// <summary>
    /// Makes the inbox's <c>tmp/</c>, <c>new/</c> and <c>cur/</c> (or finds them there), so that a maildir that cannot be
    /// written stops the relay at its start rather than failing every message; throws <see cref="IOException"/> naming it.
    /// </summary>
    public void Prepare()
    {
        try
        {
            CreateFolders(Root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"the maildir {Root} cannot be written: {e.Message}", e);
        }
    }

    /// <summary>Stores <paramref name="message"/> in the inbox, or in the Maildir++ folder <paramref name="folder"/> (<c>Junk</c> is <c>.Junk</c>, <c>a/b</c> is <c>.a.b</c>); returns its path.</summary>
    public string Deliver(Envelope envelope, byte[] message, string? folder = null)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var directory = folder is null ? Root : Path.Combine(Root, FolderName(folder));
        CreateFolders(directory);
        if (folder is not null)
        {
            using var marker = Create(Path.Combine(directory, "maildirfolder"), FileMode.Create);
        }

        var name = UniqueName();
        var temporary = Path.Combine(directory, "tmp", name);
        using (var file = Create(temporary, FileMode.CreateNew))
        {
            var top = new StringBuilder().Append("Return-Path: <").Append(envelope.MailFrom).Append(">\n");
            foreach (var recipient in envelope.Recipients)
            {
                top.Append("Delivered-To: ").Append(MailPath.Bare(recipient.Address)).Append('\n');
            }

            file.Write(Encoding.UTF8.GetBytes(top.ToString()));
            file.Write(WithLfLineEnds(message));
            file.Flush(flushToDisk: true);
        }

        var delivered = Path.Combine(directory, "new", name);
        File.Move(temporary, delivered);
        return delivered;
    }

    /// <summary><paramref name="directory"/> and its <c>tmp/</c>, <c>new/</c> and <c>cur/</c>, made 0700 on Unix (one there already keeps its mode).</summary>
    private static void CreateFolders(string directory)
    {
        foreach (var path in new[] { directory, Path.Combine(directory, "tmp"), Path.Combine(directory, "new"), Path.Combine(directory, "cur") })
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(path);
            }
            else
            {
                // Only the folder made last gets the mode: the maildir's own folder is made first, by itself.
                Directory.CreateDirectory(path, FolderMode0700);
            }
        }
    }

    /// <summary>A file for writing, made 0600 on Unix.</summary>
    private static FileStream Create(string path, FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode0600;
        }

        return new FileStream(path, options);
    }

    /// <summary>A Maildir++ folder's directory name; a name that would leave the maildir is refused.</summary>
    internal static string FolderName(string folder)
    {
        var name = "." + folder.Replace('/', '.');
        if (name.Length == 1 || name.Contains("..", StringComparison.Ordinal) || name.EndsWith('.') || name.IndexOfAny([.. Path.GetInvalidFileNameChars()]) >= 0)
        {
            throw new ArgumentException($"\"{folder}\" is not a folder name a maildir can hold", nameof(folder));
        }

        return name;
    }

    /// <summary>qmail's unique name: seconds, then microseconds, process and a counter, then the host.</summary>
    private static string UniqueName()
    {
        var now = DateTimeOffset.UtcNow;
        var micro = now.Ticks / 10 % 1_000_000;
        return string.Create(CultureInfo.InvariantCulture,
            $"{now.ToUnixTimeSeconds()}.M{micro}P{Environment.ProcessId}Q{Interlocked.Increment(ref s_deliveries)}.{Environment.MachineName.Replace('/', '_').Replace(':', '_')}");
    }

    /// <summary>Every CRLF as LF (a CR alone is kept).</summary>
    private static byte[] WithLfLineEnds(byte[] message)
    {
        var output = new byte[message.Length];
        var length = 0;
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == '\r' && i + 1 < message.Length && message[i + 1] == '\n')
            {
                continue;
            }

            output[length++] = message[i];
        }

        return output[..length];
    }
}
