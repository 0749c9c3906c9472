namespace SpamFilterMilter.Testing;

/// <summary>Checks a message's DKIM signature against the key opendkim signed with (tests/milters/opendkim/verify_dkim.py, no DNS).</summary>
public static class DkimVerifier
{
    /// <summary>"pass", or "fail: reason", for the first DKIM-Signature of <paramref name="message"/> (LF or CRLF line ends).</summary>
    public static async Task<string> VerifyAsync(byte[] message, string keyFolder)
    {
        using var folder = new TempFolder();
        var path = System.IO.Path.Combine(folder.Path, "signed.eml");
        await File.WriteAllBytesAsync(path, message);
        var (_, output) = await ServerProcess.RunAsync("/usr/bin/python3",
            [System.IO.Path.Combine(AppContext.BaseDirectory, "milters", "opendkim", "verify_dkim.py"), path, System.IO.Path.Combine(keyFolder, "sfm.txt")],
            TimeSpan.FromSeconds(30));
        return output.Trim();
    }
}
