namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// The directory could not be asked about one user or domain. The host refuses the message for now; its
/// per-message log names the <see cref="Key"/>, the ILogger at Warning level only what was looked up.
/// </summary>
internal sealed class DirectoryLookupException(string what, string key, Exception inner)
    : Exception($"looking up {what} {key}: {inner.Message}", inner)
{
    /// <summary><c>user</c> or <c>domain</c>.</summary>
    public string What { get; } = what;

    /// <summary>The address or domain looked up.</summary>
    public string Key { get; } = key;
}
