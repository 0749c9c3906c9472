using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Options;

/// <summary>The check of options set in code, against the ranges and rules the option file's parser applies.</summary>
public sealed partial class MilterOptions
{
    /// <summary>
    /// Checks these options against what the option file accepts, for options made or changed in code: every number
    /// within the range its option allows (PORT 1 to 65535, each timeout from a hundredth of a second to a day, ...),
    /// HOST given and well formed, each choice one of its values. Options read by <see cref="Load"/> or
    /// <see cref="FromConfiguration(Microsoft.Extensions.Configuration.IConfiguration, string?)"/> pass. The plug-in
    /// checks its options when it is made, and AddSpamFilterMilter when the host starts.
    /// </summary>
    /// <exception cref="SpamFilterConfigurationException">
    /// An option is wrong: the exception names <see cref="SourcePath"/> and the option as the file writes it
    /// (<c>PORT</c>), and carries any other wrong option as <see cref="SpamFilterConfigurationException.MoreProblems"/>.
    /// </exception>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw SpamFilterConfigurationException.Combine(problems);
        }
    }

    /// <summary>Every problem <see cref="Validate"/> finds, in documentation order; empty when there is none.</summary>
    internal IReadOnlyList<SpamFilterConfigurationException> Problems()
    {
        var source = string.IsNullOrEmpty(SourcePath) ? "(set in code)" : SourcePath;
        var problems = new List<SpamFilterConfigurationException>();
        void Add(string option, string problem) => problems.Add(new SpamFilterConfigurationException(source, 0, option, problem));

        IReadOnlyList<MilterServer>? servers = null; // HOST parsed once, as the file's HOST is
        if (string.IsNullOrWhiteSpace(Host))
        {
            Add("HOST", "required option is missing");
        }
        else
        {
            try
            {
                servers = Servers;
            }
            catch (FormatException e)
            {
                Add("HOST", e.Message);
            }
        }

        foreach (var descriptor in Descriptors.Values)
        {
            // The ranges are the descriptors' own: one table for the file's parser and for this check.
            if (descriptor is not { Range: (int min, int max), Current: { } current } || current(this) is not (double value, string written))
            {
                continue;
            }

            // PORT may be left unset (0) when HOST gives every server its port or names a UNIX-domain socket.
            var portNotNeeded = descriptor.Name == "PORT" && Port == 0 && servers is not null && NeedsNoPort;
            if ((value < min || value > max) && !portNotNeeded)
            {
                Add(descriptor.Name, OutOfRange(written, value > max, min, max));
            }
        }

        if (SocksHost is not null)
        {
            try
            {
                MilterServer.ParseHost(SocksHost);
            }
            catch (FormatException e)
            {
                Add("SOCKS_HOST", e.Message);
            }

            if (servers is not null && SocksProblem(servers) is { } socks)
            {
                Add("SOCKS_HOST", socks);
            }
        }

        if (BodySpillDirectory is not null)
        {
            try
            {
                ParseDirectory(BodySpillDirectory);
            }
            catch (FormatException e)
            {
                Add("BODY_SPILL_DIRECTORY", e.Message);
            }
        }

        foreach (var descriptor in Descriptors.Values)
        {
            // Choices, lists and rules of their own: each descriptor says what is wrong with its option, as it parses it.
            if (descriptor.Check?.Invoke(this) is { } problem)
            {
                Add(descriptor.Name, problem);
            }
        }

        return problems;
    }
}
