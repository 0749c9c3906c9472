using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;
using SpamFilterMilter.Plugin;

[assembly: SpamFilterPlugin(typeof(MilterPluginFactory))]

namespace SpamFilterMilter.Plugin;

/// <summary>The entry point the host finds through <see cref="SpamFilterPluginAttribute"/>.</summary>
public sealed class MilterPluginFactory : ISpamFilterPluginFactory
{
    /// <inheritdoc />
    public ISpamFilterPlugin Create(SpamFilterPluginContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(context.ConfigFilePath, $"{nameof(context)}.{nameof(context.ConfigFilePath)}");
        var options = MilterOptions.Load(context.ConfigFilePath);
        return new MilterPlugin(options, context.LoggerFactory, context.MeterFactory, context.Slot);
    }
}
