namespace SpamFilterMilter.Host.Running;

/// <summary>
/// The exit status of the tools built on the host library, the same in each (<c>spamfilter-milter</c> and the reference
/// host): scripts and monitoring read one meaning whichever tool they run.
/// </summary>
public enum ToolExitCode
{
    /// <summary>0: the command did what it was asked and found nothing wrong.</summary>
    Success = 0,

    /// <summary>
    /// 1: problems found: a configuration error (option.dat, the channel table, the directory, a plug-in or its option
    /// file), a plug-in that could not be loaded, a milter that failed or could not be reached, a file that could not
    /// be read.
    /// </summary>
    ProblemsFound = 1,

    /// <summary>2: the command line is wrong (an unknown command or option, a missing or malformed value); nothing was done.</summary>
    Usage = 2,
}
