using System.Buffers;
using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// Collects the modifications of one end of message, in the order the milter sent them, within the limits: at
/// most <c>MAX_EDITS</c> edits, a replacement body of at most <c>MAX_REPLACEMENT_BODY</c> bytes. The body may come
/// in many SMFIR_REPLBODY packets; they are one edit, at the place of the first.
/// </summary>
internal sealed class EditCollector(int maxEdits, int maxReplacementBodyBytes)
{
    private const string Step = "SMFIC_BODYEOB reply";

    private List<MessageEdit>? _edits;
    private ArrayBufferWriter<byte>? _body;
    private int _bodyIndex = -1;

    /// <summary>Starts a new answer: the edits handed out before stay as they were.</summary>
    public void Reset()
    {
        _edits = null;
        _body = null;
        _bodyIndex = -1;
    }

    public void Add(MessageEdit edit)
    {
        CheckCount(addingBody: false);
        (_edits ??= []).Add(edit);
    }

    public void AddBody(ReadOnlySpan<byte> chunk)
    {
        CheckCount(addingBody: true);
        if (_body is null)
        {
            _edits ??= [];
            _body = new ArrayBufferWriter<byte>();
            _bodyIndex = _edits.Count;
            _edits.Add(null!); // the body's place: filled in by Build
        }

        if (_body.WrittenCount + chunk.Length > maxReplacementBodyBytes)
        {
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, FilterStage.EndOfMessage, Step,
                $"the replacement body is larger than the {maxReplacementBodyBytes} bytes allowed");
        }

        _body.Write(chunk);
    }

    /// <summary>The edits, in order; empty when there were none.</summary>
    public IReadOnlyList<MessageEdit> Build()
    {
        if (_body is not null)
        {
            _edits![_bodyIndex] = new ReplaceBody(_body.WrittenMemory.ToArray());
        }

        return (IReadOnlyList<MessageEdit>?)_edits ?? [];
    }

    private void CheckCount(bool addingBody)
    {
        // Further pieces of a body already begun are not edits of their own.
        if ((_edits?.Count ?? 0) >= maxEdits && !(addingBody && _body is not null))
        {
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, FilterStage.EndOfMessage, Step,
                $"more than {maxEdits} modifications to one message");
        }
    }
}
