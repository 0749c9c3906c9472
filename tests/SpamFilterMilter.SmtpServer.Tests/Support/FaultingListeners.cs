using System.Buffers;
using System.IO.Pipelines;

namespace SpamFilterMilter.SmtpServer.Tests.Support;

/// <summary>
/// Connections that throw <see cref="InvalidDataException"/> from a read that finds <see cref="Trigger"/> among the client's
/// bytes: an exception SmtpServer's session does not handle (its <c>SessionFaulted</c>), made at will. SmtpServer 11.1.0's
/// own parser threw on a MAIL's repeated or 4 KB parameters, which the integration no longer lets reach it.
/// </summary>
public sealed class FaultingListeners() : PlainListeners(input: reader => new FaultingReader(reader))
{
    /// <summary>The line that makes the connection's read throw.</summary>
    public const string Trigger = "FAULT";

    private sealed class FaultingReader(PipeReader inner) : PipeReader
    {
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            Checked(await inner.ReadAsync(cancellationToken));

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result))
            {
                return false;
            }

            result = Checked(result);
            return true;
        }

        private ReadResult Checked(ReadResult result)
        {
            var reader = new SequenceReader<byte>(result.Buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> _, System.Text.Encoding.ASCII.GetBytes(Trigger + "\r\n")))
            {
                inner.AdvanceTo(result.Buffer.End);
                throw new InvalidDataException("a fault the test asked for");
            }

            return result;
        }

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }
}
