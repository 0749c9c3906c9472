using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpamFilterMilter.Contract;
using SpamFilterMilter.DependencyInjection;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

// The namespace of IServiceCollection, as Microsoft's own Add* methods use: no using needed to find these.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Adds a milter to a service collection: a <see cref="MilterPlugin"/>, also resolved as <see cref="ISpamFilterPlugin"/>,
/// whose options are the milter option file's (docs/options.md) and are checked when the host starts
/// (<c>ValidateOnStart</c>), after any <c>Configure</c> or <c>PostConfigure</c> callback (<see cref="MilterOptions.Validate"/>):
/// a wrong option stops the start with the message the option file would give. The plug-in
/// logs through the container's <see cref="ILoggerFactory"/> and measures through its <see cref="IMeterFactory"/>,
/// when it has them; the container disposes it, closing the connections it keeps (POOL_SIZE).
/// </summary>
public static class SpamFilterMilterServiceCollectionExtensions
{
    /// <summary>
    /// Adds the milter whose options are the keys of <paramref name="configuration"/>, named as in the option file
    /// (<c>HOST</c>, <c>PORT</c>, <c>TIMEOUT</c>, ...; any case), each value written as the option file writes it:
    /// an appsettings.json section, environment variables, any configuration source. Read when first needed (at
    /// start-up under a host), not now.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The options: a section (<c>builder.Configuration.GetSection("SpamFilterMilter")</c>), whose path errors name.</param>
    /// <param name="name">Null: the milter is <see cref="MilterPlugin"/> and <see cref="ISpamFilterPlugin"/> themselves. A name: they are keyed services of that name, for several milters.</param>
    /// <returns>A builder to add the milter's health check with.</returns>
    /// <remarks>Wrong options are found when they are first read, under a host at its start: an
    /// <c>OptionsValidationException</c> with one failure per problem, each naming the section or file, the line and the option.</remarks>
    public static SpamFilterMilterBuilder AddSpamFilterMilter(this IServiceCollection services, IConfiguration configuration, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var source = configuration is IConfigurationSection section ? "configuration section " + section.Path : null;
        return services.AddMilter(name, () => MilterOptions.FromConfiguration(configuration, source));
    }

    /// <summary>Adds the milter configured by the option file at <paramref name="optionFilePath"/> (read when first needed, not now).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="optionFilePath">The option file; a relative path is taken from the current folder now.</param>
    /// <param name="name">Null: the milter is <see cref="MilterPlugin"/> and <see cref="ISpamFilterPlugin"/> themselves. A name: they are keyed services of that name, for several milters.</param>
    /// <returns>A builder to add the milter's health check with.</returns>
    /// <remarks>A wrong option file is found when it is first read, under a host at its start: an
    /// <c>OptionsValidationException</c> with one failure per bad line (file, line and option).</remarks>
    public static SpamFilterMilterBuilder AddSpamFilterMilter(this IServiceCollection services, string optionFilePath, string? name = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(optionFilePath);
        var path = Path.GetFullPath(optionFilePath);
        return services.AddMilter(name, () => MilterOptions.Load(path));
    }

    private static SpamFilterMilterBuilder AddMilter(this IServiceCollection services, string? name, Func<MilterOptions> read)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (name is { Length: 0 })
        {
            throw new ArgumentException("A milter's name is null (the unnamed milter) or not empty.", nameof(name));
        }

        var optionsName = name ?? Options.Options.DefaultName;
        if (services.Any(d => d.ImplementationInstance is MilterOptionsSource s && s.Name == optionsName))
        {
            throw new InvalidOperationException(name is null ? "The unnamed milter was already added." : $"A milter named \"{name}\" was already added.");
        }

        services.AddSingleton(new MilterOptionsSource(optionsName, read));
        services.TryAddTransient<IOptionsFactory<MilterOptions>, MilterOptionsFactory>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MilterOptions>, MilterOptionsValidation>());
        services.AddOptions<MilterOptions>(optionsName).ValidateOnStart();
        if (name is null)
        {
            services.AddSingleton(provider => Create(provider, optionsName));
            services.AddSingleton<ISpamFilterPlugin>(provider => provider.GetRequiredService<MilterPlugin>());
        }
        else
        {
            services.AddKeyedSingleton(name, (provider, _) => Create(provider, optionsName));
            services.AddKeyedSingleton<ISpamFilterPlugin>(name, (provider, key) => provider.GetRequiredKeyedService<MilterPlugin>(key));
        }

        return new SpamFilterMilterBuilder(services, name);
    }

    private static MilterPlugin Create(IServiceProvider provider, string optionsName) =>
        new(provider.GetRequiredService<IOptionsMonitor<MilterOptions>>().Get(optionsName),
            provider.GetService<ILoggerFactory>(),
            provider.GetService<IMeterFactory>());
}
