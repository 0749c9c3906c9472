using Microsoft.Extensions.Options;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.DependencyInjection;

/// <summary>
/// Checks the options after every Configure and PostConfigure callback has run (<see cref="MilterOptions.Validate"/>):
/// a value set in code is held to the option file's ranges, and ValidateOnStart stops the host with one message per
/// wrong option, each naming the option as the file writes it.
/// </summary>
internal sealed class MilterOptionsValidation : IValidateOptions<MilterOptions>
{
    public ValidateOptionsResult Validate(string? name, MilterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            options.Validate();
            return ValidateOptionsResult.Success;
        }
        catch (SpamFilterConfigurationException e)
        {
            return ValidateOptionsResult.Fail(e.AllProblems.Select(p => p.Message));
        }
    }
}
