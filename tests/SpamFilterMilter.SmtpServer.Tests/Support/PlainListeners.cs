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
/// SmtpServer's listeners, in plain text, with what a test needs of each accepted connection: <paramref name="accepted"/>
/// sets its socket up, <paramref name="input"/> wraps what the server reads. TLS is the integration's own (its pipe never
/// asks this one to upgrade).
/// </summary>
public class PlainListeners(Action<TcpClient>? accepted = null, Func<PipeReader, PipeReader>? input = null) : EndpointListenerFactory
{
    public override IEndpointListener CreateListener(IEndpointDefinition endpointDefinition)
    {
        var listener = new TcpListener(endpointDefinition.Endpoint);
        listener.Start();
        OnEndpointStarted(new EndpointEventArgs(endpointDefinition, listener.LocalEndpoint));
        return new Listener(listener, accepted, input);
    }

    private sealed class Listener(TcpListener listener, Action<TcpClient>? accepted, Func<PipeReader, PipeReader>? input) : IEndpointListener
    {
        public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
        {
            var client = await listener.AcceptTcpClientAsync(cancellationToken);
            accepted?.Invoke(client);
            context.Properties.Add(EndpointListener.LocalEndPointKey, listener.LocalEndpoint);
            context.Properties.Add(EndpointListener.RemoteEndPointKey, client.Client.RemoteEndPoint!);
            var reader = PipeReader.Create(client.GetStream());
            return new PlainPipe(client, input?.Invoke(reader) ?? reader);
        }

        public void Dispose() => listener.Stop();
    }

    private sealed class PlainPipe(TcpClient client, PipeReader input) : ISecurableDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = PipeWriter.Create(client.GetStream());

        public bool IsSecure => false;

        public SslProtocols SslProtocol => SslProtocols.None;

        public Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("the SmtpServer integration runs TLS itself");

        public void Dispose() => client.Dispose();
    }
}

/// <summary>
/// A send buffer of a few kilobytes on each accepted connection: a client that reads none of its replies blocks the
/// server's writes after a few thousand of them, not after the megabytes the kernel's own sizing would take.
/// </summary>
public sealed class SmallSendBufferListeners() : PlainListeners(accepted: client => client.SendBufferSize = 4096);
