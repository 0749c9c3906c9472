using System.Diagnostics.Metrics;

namespace SpamFilterMilter.Tests.Support;

/// <summary>
/// An <see cref="IMeterFactory"/> as dependency injection's is: one meter per name and version, owned and disposed by
/// the factory, and scoped to it (a listener can tell its meters from any other of the same name).
/// </summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    /// <summary>The meters made so far.</summary>
    public IReadOnlyList<Meter> Meters
    {
        get
        {
            lock (_meters)
            {
                return [.. _meters];
            }
        }
    }

    public Meter Create(MeterOptions options)
    {
        lock (_meters)
        {
            if (_meters.Find(m => m.Name == options.Name && m.Version == options.Version) is { } made)
            {
                return made;
            }

            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
            _meters.Add(meter);
            return meter;
        }
    }

    public void Dispose()
    {
        foreach (var meter in Meters)
        {
            meter.Dispose();
        }
    }
}
