using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Net;

namespace SpamFilterMilter.SmtpServer.Tests.Support;

/// <summary>
/// SmtpServer's listeners, whose connections throw <see cref="InvalidDataException"/> from a read that finds <see cref="Trigger"/>
/// among the client's bytes: an exception SmtpServer's session does not handle (its <c>SessionFaulted</c>), made at will.
/// SmtpServer 11.1.0's own parser threw on a MAIL's repeated or 4 KB parameters, which the integration no longer lets
/// reach it.
/// </summary>
public sealed class FaultingListeners : EndpointListenerFactory
{
    /// <summary>The line that makes the connection's read throw.</summary>
    public const string Trigger = "FAULT";

    public override IEndpointListener CreateListener(IEndpointDefinition endpointDefinition)
    {
        var listener = new TcpListener(endpointDefinition.Endpoint);
        listener.Start();
        OnEndpointStarted(new EndpointEventArgs(endpointDefinition, listener.LocalEndpoint));
        return new Listener(listener);
    }

    private sealed class Listener(TcpListener listener) : IEndpointListener
    {
        public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
        {
            var client = await listener.AcceptTcpClientAsync(cancellationToken);
            context.Properties.Add(EndpointListener.LocalEndPointKey, listener.LocalEndpoint);
            context.Properties.Add(EndpointListener.RemoteEndPointKey, client.Client.RemoteEndPoint!);
            return new FaultingPipe(client);
        }

        public void Dispose() => listener.Stop();
    }

    private sealed class FaultingPipe(TcpClient client) : ISecurableDuplexPipe
    {
        public PipeReader Input { get; } = new FaultingReader(PipeReader.Create(client.GetStream()));

        public PipeWriter Output { get; } = PipeWriter.Create(client.GetStream());

        public bool IsSecure => false;

        public SslProtocols SslProtocol => SslProtocols.None;

        public Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("the SmtpServer integration runs TLS itself");

        public void Dispose() => client.Dispose();
    }

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
