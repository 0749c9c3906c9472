namespace SpamFilterMilter.Host.Selection;

/// <summary>
/// The directory could not be asked (server down, bind refused, timeout). Not a configuration error: the
/// host answers the message with a temporary failure so that it is retried, never delivered unfiltered
/// (it treats anything else a directory throws, but cancellation, the same way). The host logs it at Warning,
/// so its message never holds a password nor, in the directories that ship, the address looked up.
/// </summary>
public sealed class OptInDirectoryException(string message, Exception? inner = null) : Exception(message, inner);
