using SpamFilterMilter.Contract;
using SpamFilterMilter.Options;

namespace SpamFilterMilter.Tests.Options;

/// <summary>BODY_SPILL_DIRECTORY: an absolute path to a folder that exists, or empty for the system's temporary folder.</summary>
public class BodySpillDirectoryOptionTests : TempFolderTest
{
    private SpamFilterConfigurationException Refused(string value) =>
        Assert.Throws<SpamFilterConfigurationException>(() => MilterOptions.Load(Folder.Write("milter.opt", $"HOST=h\nPORT=9\nBODY_SPILL_DIRECTORY={value}\n")))!;

    [Test]
    public void A_folder_that_exists_is_taken_and_empty_means_the_system_s_temporary_folder()
    {
        Assert.That(MilterOptions.Load(Folder.Write("milter.opt", $"HOST=h\nPORT=9\nBODY_SPILL_DIRECTORY={Folder.Path}\n")).BodySpillDirectory, Is.EqualTo(Folder.Path));
        Assert.That(MilterOptions.Load(Folder.Write("milter.opt", "HOST=h\nPORT=9\nBODY_SPILL_DIRECTORY=\n")).BodySpillDirectory, Is.Null);
        Assert.That(new MilterOptions().BodySpillDirectory, Is.Null);
    }

    [Test]
    public void A_relative_path_is_refused_it_would_depend_on_the_host_s_working_directory()
    {
        var e = Refused("spool/bodies");

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((3, "BODY_SPILL_DIRECTORY", "\"spool/bodies\" is not an absolute path")));
    }

    [Test]
    public void A_folder_that_does_not_exist_is_refused_when_the_file_is_read()
    {
        var missing = Path.Combine(Folder.Path, "missing");

        var e = Refused(missing);

        Assert.That((e.Line, e.Option, e.Problem), Is.EqualTo((3, "BODY_SPILL_DIRECTORY", $"the folder \"{missing}\" does not exist")));
    }
}
