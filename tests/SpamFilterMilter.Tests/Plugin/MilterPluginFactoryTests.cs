using SpamFilterMilter.Plugin;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>The factory a host gets from the plug-in's assembly, misused as a host might misuse it.</summary>
public class MilterPluginFactoryTests
{
    [Test]
    public void A_context_without_an_option_file_is_refused_naming_the_property_the_host_left_out()
    {
        var error = Assert.Throws<ArgumentNullException>(() => new MilterPluginFactory().Create(new SpamFilterPluginContext { ConfigFilePath = null! }))!;

        Assert.That(error.ParamName, Is.EqualTo("context.ConfigFilePath"));
    }
}
