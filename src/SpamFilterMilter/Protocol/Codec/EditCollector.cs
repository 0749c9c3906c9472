using SpamFilterMilter.Contract;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Protocol.Codec;

/// <summary>
/// Collects the modifications of one end of message, in the order the milter sent them, within the limits: at
/// most <c>MAX_EDITS</c> edits, a replacement body of at most <c>MAX_REPLACEMENT_BODY</c> bytes. The body may come
/// in many SMFIR_REPLBODY packets, one after the other (another edit between them is refused, as Postfix refuses it);
/// they are one edit, at the place of the first. The body is written as it comes
/// into a <see cref="MessageBodyBuilder"/>: in memory up to <see cref="MessageBodyBuilder.DefaultMemoryLimit"/> bytes,
/// then into a temporary file in <paramref name="spillDirectory"/> (null: the system's), so a large body is never held
/// in memory.
/// A body begun and not handed out (the answer failed, or a new one began) is discarded with its file.
/// </summary>
internal sealed class EditCollector(int maxEdits, int maxReplacementBodyBytes, string? spillDirectory = null) : IDisposable
{
    private const string Step = "SMFIC_BODYEOB reply";

    private List<MessageEdit>? _edits;
    private MessageBodyBuilder? _body;
    private int _bodyIndex = -1;

    /// <summary>Starts a new answer: the edits handed out before stay as they were; a body begun and not handed out is discarded.</summary>
    public void Reset()
    {
        _body?.Dispose();
        _edits = null;
        _body = null;
        _bodyIndex = -1;
    }

    /// <summary>The connection is done: a body begun goes, with its file.</summary>
    public void Dispose() => Reset();

    public void Add(MessageEdit edit)
    {
        CheckCount(addingBody: false);
        (_edits ??= []).Add(edit);
    }

    /// <summary>
    /// One SMFIR_REPLBODY packet's bytes. The body over the limit is the milter's failure; a spill file that cannot be
    /// written is ours, a failure of the message all the same (<see cref="MilterFailureKind.Internal"/>).
    /// </summary>
    public void AddBody(ReadOnlySpan<byte> chunk)
    {
        CheckCount(addingBody: true);
        if (_body is not null && _edits!.Count > _bodyIndex + 1) // another edit followed the body's place: the body is whole
        {
            // Postfix's milter8 refuses this too ("body replacement requests can't currently be mixed with other
            // requests"); sendmail would append the bytes to the body already begun, so the two MTAs disagree on the result.
            throw new MilterProtocolException(MilterFailureKind.Unexpected, FilterStage.EndOfMessage, Step,
                "SMFIR_REPLBODY after another edit had followed the replacement body: a body's packets must come together");
        }

        if (_body is null)
        {
            _edits ??= [];
            _body = new MessageBodyBuilder(spillDirectory: spillDirectory);
            _bodyIndex = _edits.Count;
            _edits.Add(null!); // the body's place: filled in by Build
        }

        if (_body.Length + chunk.Length > maxReplacementBodyBytes)
        {
            throw new MilterProtocolException(MilterFailureKind.LimitExceeded, FilterStage.EndOfMessage, Step,
                $"the replacement body is larger than the {maxReplacementBodyBytes} bytes allowed");
        }

        try
        {
            _body.Write(chunk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MilterProtocolException(MilterFailureKind.Internal, FilterStage.EndOfMessage, Step,
                $"can't keep the replacement body in {_body.SpillDirectory}: {e.Message}", e);
        }
    }

    /// <summary>The edits, in order; empty when there were none. The body, if any, is handed out with them.</summary>
    public IReadOnlyList<MessageEdit> Build()
    {
        if (_body is not null)
        {
            _edits![_bodyIndex] = new ReplaceBody(_body.Build());
            _body = null;
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
