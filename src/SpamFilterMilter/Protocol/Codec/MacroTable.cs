using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// The macro values of one milter session: those the host supplied and those the session derives
/// from the stage calls. Names are kept in canonical form (<see cref="MacroNames.Canonical"/>).
/// </summary>
internal sealed class MacroTable
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _setByHost = new(StringComparer.Ordinal);

    /// <summary>Sets a value the host supplied; it wins over anything the session derives.</summary>
    public void SetFromHost(string name, string? value)
    {
        var canonical = MacroNames.Canonical(name);
        if (!MacroNames.IsWellFormed(canonical))
        {
            throw new ArgumentException($"\"{name}\" is not a macro name: use one character or {{name}} without spaces or braces inside.", nameof(name));
        }

        if (value is null)
        {
            _values.Remove(canonical);
            _setByHost.Remove(canonical);
            return;
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The value of macro {canonical} contains a NUL character.", nameof(value));
        }

        _values[canonical] = value;
        _setByHost.Add(canonical);
    }

    /// <summary>Sets a value the session derived (client address, sender, …) unless the host set one.</summary>
    public void SetDerived(string canonicalName, string? value)
    {
        if (_setByHost.Contains(canonicalName))
        {
            return;
        }

        if (value is null)
        {
            _values.Remove(canonicalName);
        }
        else
        {
            _values[canonicalName] = value;
        }
    }

    public bool IsSetByHost(string canonicalName) => _setByHost.Contains(canonicalName);

    public bool TryGet(string canonicalName, out string value) => _values.TryGetValue(canonicalName, out value!);

    /// <summary>Host macros that appear in no default list (sent with CONNECT unless the milter asked for lists).</summary>
    public IEnumerable<KeyValuePair<string, string>> Extras =>
        _values.Where(pair => _setByHost.Contains(pair.Key) && !MacroNames.HasDefaultStage(pair.Key));
}
