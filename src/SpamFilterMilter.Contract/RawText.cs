using System.Text;

namespace SpamFilterMilter.Contract;

/// <summary>
/// Header text as bytes: a field value as it stands in a message or as a milter sent it, which may hold 8-bit bytes
/// that are not UTF-8 (Latin-1, mixed, broken sequences). Mail headers are bytes, and a DKIM signature is made over
/// those bytes, so they travel from the message to the milter and back unchanged; nothing on the way decodes them.
/// A string converts implicitly (as UTF-8), so text written in code still reads as text. There is no conversion back
/// to string but <see cref="ToString"/>, which is lossy and meant for display and matching only. Immutable; the
/// default value is empty.
/// </summary>
public readonly struct RawText : IEquatable<RawText>
{
    private readonly byte[]? _bytes;

    /// <summary>A copy of <paramref name="bytes"/>.</summary>
    public RawText(ReadOnlySpan<byte> bytes) => _bytes = bytes.IsEmpty ? null : bytes.ToArray();

    private RawText(byte[] bytes) => _bytes = bytes.Length == 0 ? null : bytes;

    /// <summary>The empty text.</summary>
    public static RawText Empty => default;

    /// <summary>The bytes.</summary>
    public ReadOnlySpan<byte> Span => _bytes;

    /// <summary>The number of bytes.</summary>
    public int Length => _bytes?.Length ?? 0;

    /// <summary>True when there are no bytes.</summary>
    public bool IsEmpty => _bytes is null;

    /// <summary>True when the bytes are valid UTF-8 (every ASCII text is).</summary>
    public bool IsUtf8 => System.Text.Unicode.Utf8.IsValid(Span);

    /// <summary><paramref name="text"/> as UTF-8 bytes; null is the empty text.</summary>
    public static RawText FromUtf8(string? text) => string.IsNullOrEmpty(text) ? default : new RawText(Encoding.UTF8.GetBytes(text));

    /// <summary><paramref name="text"/> as UTF-8 bytes (<see cref="FromUtf8"/>).</summary>
    public static implicit operator RawText(string? text) => FromUtf8(text);

    /// <summary>The bytes read as UTF-8, a byte that is not part of valid UTF-8 read as U+FFFD: for display and matching only.</summary>
    public override string ToString() => Encoding.UTF8.GetString(Span);

    /// <summary>True when both hold the same bytes.</summary>
    public bool Equals(RawText other) => Span.SequenceEqual(other.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is RawText other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Span);
        return hash.ToHashCode();
    }

    /// <summary>True when both hold the same bytes.</summary>
    public static bool operator ==(RawText left, RawText right) => left.Equals(right);

    /// <summary>True when the bytes differ.</summary>
    public static bool operator !=(RawText left, RawText right) => !left.Equals(right);
}
