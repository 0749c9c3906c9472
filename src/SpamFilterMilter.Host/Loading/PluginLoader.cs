using System.Reflection;
using System.Runtime.Loader;
using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Host.Loading;

/// <summary>
/// Loads spam-filter plug-ins by path, as Messaging Server's <c>spamfilterX_library</c> names them.
/// Each plug-in gets its own <see cref="AssemblyLoadContext"/>: its dependencies are resolved from its
/// folder through its <c>.deps.json</c>, so two plug-ins may bring different versions of a library.
/// Only the contract and the logging abstractions it exposes are shared with the host, so that
/// <see cref="ISpamFilterPlugin"/> and <c>ILoggerFactory</c> are the same types on both sides.
/// </summary>
public static class PluginLoader
{
    /// <summary>Assemblies always taken from the host, never from the plug-in's folder.</summary>
    public static IReadOnlySet<string> SharedAssemblies { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        typeof(ISpamFilterPlugin).Assembly.GetName().Name!,
        "Microsoft.Extensions.Logging.Abstractions",
        "Microsoft.Extensions.DependencyInjection.Abstractions",
    };

    private static readonly Dictionary<string, LoadedPlugin> Loaded = new(StringComparer.Ordinal);

    /// <summary>
    /// Loads the plug-in assembly at <paramref name="assemblyPath"/> (once per path; later calls return
    /// the same) and creates its factory from its <see cref="SpamFilterPluginAttribute"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="assemblyPath"/> is null or empty.</exception>
    /// <exception cref="PluginLoadException">The file is not there, is no .NET assembly the load context takes, has no
    /// <see cref="SpamFilterPluginAttribute"/>, or its factory does not implement the Contract's or cannot be created: the
    /// message names the file and why.</exception>
    public static LoadedPlugin Load(string assemblyPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(assemblyPath);
        var fullPath = System.IO.Path.GetFullPath(assemblyPath);
        lock (Loaded)
        {
            if (Loaded.TryGetValue(fullPath, out var existing))
            {
                return existing;
            }

            if (!File.Exists(fullPath))
            {
                throw new PluginLoadException($"The plug-in {fullPath} does not exist.");
            }

            var context = new PluginLoadContext(fullPath);
            Assembly assembly;
            try
            {
                assembly = context.LoadFromAssemblyPath(fullPath);
            }
            // FileNotFoundException too: for a file that exists but that the load context will not take as the plug-in
            // (the runtime's own System.Private.CoreLib.dll is "not found" in it).
            catch (Exception e) when (e is BadImageFormatException or FileLoadException or FileNotFoundException)
            {
                throw new PluginLoadException($"{fullPath} is not a .NET assembly that can be loaded: {e.Message}", e);
            }

            var attribute = assembly.GetCustomAttribute<SpamFilterPluginAttribute>()
                ?? throw new PluginLoadException($"{fullPath} is not a spam-filter plug-in: it has no [assembly: SpamFilterPlugin(...)] attribute.");
            if (!typeof(ISpamFilterPluginFactory).IsAssignableFrom(attribute.FactoryType))
            {
                throw new PluginLoadException(
                    $"{fullPath}: {attribute.FactoryType} does not implement {typeof(ISpamFilterPluginFactory)} " +
                    "(was the contract assembly copied into the plug-in's folder with another version?)");
            }

            ISpamFilterPluginFactory factory;
            try
            {
                factory = (ISpamFilterPluginFactory)Activator.CreateInstance(attribute.FactoryType)!;
            }
            catch (Exception e) when (e is MissingMethodException or TargetInvocationException)
            {
                throw new PluginLoadException($"{fullPath}: cannot create {attribute.FactoryType}: {e.InnerException?.Message ?? e.Message}", e);
            }

            var plugin = new LoadedPlugin(fullPath, context, factory);
            Loaded[fullPath] = plugin;
            return plugin;
        }
    }

    private sealed class PluginLoadContext(string pluginPath)
        : AssemblyLoadContext("spamfilter:" + System.IO.Path.GetFileName(pluginPath))
    {
        private readonly AssemblyDependencyResolver _resolver = new(pluginPath);

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (assemblyName.Name is { } name && SharedAssemblies.Contains(name))
            {
                return null; // the host's copy
            }

            var path = _resolver.ResolveAssemblyToPath(assemblyName);
            return path is null ? null : LoadFromAssemblyPath(path);
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = _resolver.ResolveUnmanagedDllToPath(unmanagedDllName);
            return path is null ? IntPtr.Zero : LoadUnmanagedDllFromPath(path);
        }
    }
}
