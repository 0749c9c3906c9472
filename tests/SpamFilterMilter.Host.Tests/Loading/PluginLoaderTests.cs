using System.Runtime.Loader;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Host.Loading;

namespace SpamFilterMilter.Host.Tests.Loading;

public class PluginLoaderTests
{
    [Test]
    public async Task The_plug_in_is_loaded_by_path_in_its_own_load_context_sharing_only_the_contract()
    {
        using var folder = new TempFolder();

        var loaded = PluginLoader.Load(DeployedPlugin.Path);
        await using var plugin = loaded.Factory.Create(new SpamFilterPluginContext { ConfigFilePath = folder.Write("m.opt", "HOST=127.0.0.1\nPORT=9\n") });

        var pluginContext = AssemblyLoadContext.GetLoadContext(plugin.GetType().Assembly)!;
        Assert.That(pluginContext, Is.Not.SameAs(AssemblyLoadContext.Default));
        Assert.That(pluginContext.Name, Is.EqualTo("spamfilter:SpamFilterMilter.dll"));
        Assert.That(plugin.GetType().Assembly.Location, Is.EqualTo(DeployedPlugin.Path));
        Assert.That(AssemblyLoadContext.Default.Assemblies.Select(a => a.GetName().Name), Does.Not.Contain("SpamFilterMilter"),
            "the host never loads the plug-in into its own context, nor references it");
        Assert.That(AssemblyLoadContext.GetLoadContext(typeof(ISpamFilterPlugin).Assembly), Is.SameAs(AssemblyLoadContext.Default), "the contract is the host's");
        Assert.That(plugin.Description, Is.EqualTo("milter 127.0.0.1:9"));
    }

    [Test]
    public void Loading_the_same_path_twice_gives_the_same_plug_in()
    {
        var first = PluginLoader.Load(DeployedPlugin.Path);
        var second = PluginLoader.Load(DeployedPlugin.Path);

        Assert.That(second, Is.SameAs(first));
    }

    [Test]
    public void A_bad_option_file_surfaces_as_the_contract_exception_across_load_contexts()
    {
        using var folder = new TempFolder();
        var loaded = PluginLoader.Load(DeployedPlugin.Path);
        var path = folder.Write("bad.opt", "HOST=h\nPORT=none\n");

        var error = Assert.Throws<SpamFilterConfigurationException>(() => loaded.Factory.Create(new SpamFilterPluginContext { ConfigFilePath = path }))!;

        Assert.That(error.Message, Is.EqualTo($"{path}:2: option PORT: \"none\" is not a whole number"));
    }

    [Test]
    public void A_missing_plug_in_is_a_clear_error()
    {
        var error = Assert.Throws<PluginLoadException>(() => PluginLoader.Load("/nonexistent/plugin.dll"))!;

        Assert.That(error.Message, Is.EqualTo("The plug-in /nonexistent/plugin.dll does not exist."));
    }

    [Test]
    public void An_assembly_without_the_plug_in_attribute_is_refused()
    {
        var notAPlugin = Path.Combine(AppContext.BaseDirectory, "SpamFilterMilter.Host.dll");

        var error = Assert.Throws<PluginLoadException>(() => PluginLoader.Load(notAPlugin))!;

        Assert.That(error.Message, Does.EndWith("is not a spam-filter plug-in: it has no [assembly: SpamFilterPlugin(...)] attribute."));
    }

    [Test]
    public void An_assembly_of_the_runtimes_own_is_refused_as_a_plugin_load_failure_not_a_stray_FileNotFoundException()
    {
        var coreLibrary = typeof(object).Assembly.Location;

        var error = Assert.Throws<PluginLoadException>(() => PluginLoader.Load(coreLibrary))!;

        Assert.That(error.Message, Does.StartWith($"{coreLibrary} is not a .NET assembly that can be loaded"));
    }

    [Test]
    public void A_file_that_is_not_an_assembly_is_refused()
    {
        using var folder = new TempFolder();
        var path = folder.Write("junk.dll", "not a PE file");

        var error = Assert.Throws<PluginLoadException>(() => PluginLoader.Load(path))!;

        Assert.That(error.Message, Does.StartWith($"{path} is not a .NET assembly that can be loaded"));
    }
}
