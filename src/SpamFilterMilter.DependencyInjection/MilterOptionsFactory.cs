using Microsoft.Extensions.Options;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.DependencyInjection;

/// <summary>Where one added milter's options come from: a configuration section or an option file, by options name.</summary>
internal sealed record MilterOptionsSource(string Name, Func<MilterOptions> Read);

/// <summary>
/// Makes <see cref="MilterOptions"/> the way the option file does (<see cref="MilterOptions.FromConfiguration(Microsoft.Extensions.Configuration.IConfiguration, string?)"/>
/// and its descriptor table), not by binding properties: the same names, the same parsers, the same messages. A
/// wrong option becomes an <see cref="OptionsValidationException"/> carrying that message, which ValidateOnStart
/// reports when the host starts. Configure and validate callbacks registered for <see cref="MilterOptions"/> still run.
/// </summary>
internal sealed class MilterOptionsFactory(
    IEnumerable<MilterOptionsSource> sources,
    IEnumerable<IConfigureOptions<MilterOptions>> setups,
    IEnumerable<IPostConfigureOptions<MilterOptions>> postConfigures,
    IEnumerable<IValidateOptions<MilterOptions>> validations)
    : OptionsFactory<MilterOptions>(setups, postConfigures, validations)
{
    protected override MilterOptions CreateInstance(string name)
    {
        var source = sources.LastOrDefault(s => s.Name == name)
            ?? throw new InvalidOperationException($"No milter named \"{name}\" was added (services.AddSpamFilterMilter).");
        try
        {
            return source.Read();
        }
        catch (SpamFilterConfigurationException e)
        {
            throw new OptionsValidationException(name, typeof(MilterOptions), e.AllProblems.Select(p => p.Message)); // every bad line, one failure each
        }
    }
}
