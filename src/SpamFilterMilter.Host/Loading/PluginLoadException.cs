namespace SpamFilterMilter.Host.Loading;

/// <summary>A plug-in assembly that could not be loaded, and why.</summary>
public sealed class PluginLoadException(string message, Exception? inner = null) : Exception(message, inner);
