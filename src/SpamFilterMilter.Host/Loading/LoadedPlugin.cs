using System.Runtime.Loader;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Loading;

/// <summary>A plug-in assembly loaded in its own load context, with its factory.</summary>
public sealed class LoadedPlugin
{
    internal LoadedPlugin(string path, AssemblyLoadContext context, ISpamFilterPluginFactory factory)
    {
        Path = path;
        Context = context;
        Factory = factory;
    }

    /// <summary>The assembly's full path.</summary>
    public string Path { get; }

    /// <summary>The load context holding the plug-in and its private dependencies.</summary>
    public AssemblyLoadContext Context { get; }

    /// <summary>Creates plug-in instances (one per configured slot).</summary>
    public ISpamFilterPluginFactory Factory { get; }
}
