using SpamFilterMilter.Host.Running;

namespace SpamFilterMilter.Host.Tests;

/// <summary>
/// The host library's rooms (its namespaces) use each other in one direction only, read from the compiled
/// assembly: a change that makes two rooms need each other fails here, naming the types that do.
/// </summary>
public class ArchitectureTests
{
    /// <summary>
    /// Which room may use which: Running puts everything together; Selection asks the directory about the
    /// configured slots; Configuration parses the Sieve of its actions; Sieve runs on the message Editing
    /// holds; Smtp answers an SMTP server's commands and edits the message (Editing) to a disposition (Running's);
    /// Editing, Loading and Diagnostics stand alone.
    /// </summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        ["Smtp"] = ["Editing", "Running"],
        ["Running"] = ["Configuration", "Diagnostics", "Editing", "Loading", "Selection", "Sieve"],
        ["Selection"] = ["Configuration", "Editing"],
        ["Configuration"] = ["Editing", "Sieve"],
        ["Sieve"] = ["Editing"],
        ["Editing"] = [],
        ["Loading"] = [],
        ["Diagnostics"] = [],
    };

    private static readonly NamespaceDependencies Graph = NamespaceDependencies.Of(typeof(SpamFilterHost).Assembly, "SpamFilterMilter.Host");

    [Test]
    public void Namespaces_of_the_host_library_depend_on_each_other_without_cycles()
    {
        var cycles = Graph.Cycles().Select(cycle =>
            string.Join(" → ", cycle) + ": " + string.Join("; ", cycle.Zip(cycle.Skip(1), Graph.Why))).ToList();

        Assert.That(cycles, Is.Empty, $"the namespaces as they are:\n{Graph}");
    }

    [Test]
    public void Each_namespace_of_the_host_library_uses_only_the_ones_below_it()
    {
        Assert.That(Graph.Namespaces, Is.EquivalentTo(Allowed.Keys), "every namespace has its place in the table");
        var outOfPlace = Graph.Namespaces
            .SelectMany(from => Graph.Uses(from).Where(to => !Allowed[from].Contains(to)).Select(to => $"{from} → {to}: {Graph.Why(from, to)}"))
            .ToList();

        Assert.That(outOfPlace, Is.Empty, $"the namespaces as they are:\n{Graph}");
    }

    [Test]
    public void The_dependency_reader_sees_uses_that_only_method_bodies_make()
    {
        // HostConfiguration names Loading's types only inside method bodies (PluginLoadException in an exception filter,
        // PluginLoader in a lambda), in no signature or field: if the reader missed method bodies, the layering tests
        // above could not fail.
        Assert.That(Graph.Why("Running", "Loading"), Is.EqualTo("Running.HostConfiguration uses Loading.PluginLoadException"));
    }
}
