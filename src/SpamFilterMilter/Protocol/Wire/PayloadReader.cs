using System.Buffers.Binary;
using System.Text;

using SpamFilterMilter.Contract;

namespace SpamFilterMilter.Protocol.Wire;

/// <summary>
/// Reads the fields of one received payload and tolerates no slack: every read checks what is left,
/// strings must end with NUL inside the payload, and <see cref="ExpectEnd"/> fails on left-over bytes.
/// </summary>
internal ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> _payload;
    private readonly FilterStage _stage;
    private readonly string _step;
    private readonly string _what;
    private int _position;

    /// <param name="payload">The payload.</param>
    /// <param name="stage">The stage, for errors.</param>
    /// <param name="step">The protocol step, for errors (<c>SMFIC_BODYEOB reply</c>).</param>
    /// <param name="what">The packet, for errors (<c>SMFIR_CHGHEADER</c>).</param>
    public PayloadReader(ReadOnlySpan<byte> payload, FilterStage stage, string step, string what)
    {
        _payload = payload;
        _stage = stage;
        _step = step;
        _what = what;
    }

    public readonly int Remaining => _payload.Length - _position;

    public uint ReadUInt32(string field)
    {
        if (Remaining < 4)
        {
            throw Malformed($"{field}: needs 4 bytes, {Remaining} left");
        }

        var value = BinaryPrimitives.ReadUInt32BigEndian(_payload.Slice(_position, 4));
        _position += 4;
        return value;
    }

    public ReadOnlySpan<byte> ReadCStringBytes(string field)
    {
        var rest = _payload[_position..];
        var nul = rest.IndexOf((byte)0);
        if (nul < 0)
        {
            throw Malformed($"{field}: string is not terminated by NUL");
        }

        _position += nul + 1;
        return rest[..nul];
    }

    /// <summary>Reads a NUL-terminated string. Text that is not UTF-8 is read as Latin-1 so that no byte is lost.</summary>
    public string ReadCString(string field) => Decode(ReadCStringBytes(field));

    /// <summary>Reads the remaining bytes.</summary>
    public ReadOnlySpan<byte> ReadRest()
    {
        var rest = _payload[_position..];
        _position = _payload.Length;
        return rest;
    }

    public readonly void ExpectEnd()
    {
        if (Remaining != 0)
        {
            throw Malformed($"followed by {Remaining} unexpected data bytes");
        }
    }

    private readonly MilterProtocolException Malformed(string detail) =>
        new(MilterFailureKind.Malformed, _stage, _step, $"{_what}: {detail}");

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string Decode(ReadOnlySpan<byte> bytes) => DecodeUtf8(bytes) ?? Encoding.Latin1.GetString(bytes);

    /// <summary>The text of <paramref name="bytes"/> when they are UTF-8, or null: for a field that must be (an address).</summary>
    public static string? DecodeUtf8(ReadOnlySpan<byte> bytes) =>
        System.Text.Unicode.Utf8.IsValid(bytes) ? StrictUtf8.GetString(bytes) : null;
}
