using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace SpamFilterMilter.SmtpServer;

/// <summary>
/// A session's TLS, run by the integration over the connection's plain pipe rather than by SmtpServer, whose own
/// <c>SslStream</c> is private: the milter is to be told the version and cipher (<c>{tls_version}</c>, <c>{cipher}</c>,
/// <c>{cipher_bits}</c>), as Postfix and sendmail tell it. Plain bytes a client sent after STARTTLS and before its
/// handshake are not commands here either: they go to the handshake, which fails on them (RFC 3207 §4.2's injection).
/// </summary>
internal sealed class TlsConnection : IDisposable
{
    private readonly SslStream _tls;

    private TlsConnection(SslStream tls)
    {
        _tls = tls;
        Input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
        Output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
    }

    /// <summary>What the client sends, decrypted.</summary>
    public PipeReader Input { get; }

    /// <summary>What goes to the client, encrypted on its way.</summary>
    public PipeWriter Output { get; }

    /// <summary>The negotiated protocol.</summary>
    public SslProtocols Protocol => _tls.SslProtocol;

    /// <summary>The negotiated cipher suite.</summary>
    public TlsCipherSuite CipherSuite => _tls.NegotiatedCipherSuite;

    /// <summary>
    /// Runs the server's side of the handshake over <paramref name="plain"/>, as SmtpServer's own upgrade does, presenting
    /// <paramref name="chain"/> when there is one (a <see cref="PemServerCertificate"/>'s), else the certificate alone.
    /// </summary>
    public static async Task<TlsConnection> AcceptAsync(IDuplexPipe plain, X509Certificate certificate, SslStreamCertificateContext? chain, SslProtocols protocols,
        CancellationToken cancellationToken)
    {
        var tls = new SslStream(new DuplexPipeStream(plain), leaveInnerStreamOpen: true);
        try
        {
            await tls.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificate = chain is null ? certificate : null,
                    ServerCertificateContext = chain,
                    ClientCertificateRequired = false,
                    EnabledSslProtocols = protocols,
                },
                cancellationToken).ConfigureAwait(false);
            return new TlsConnection(tls);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void Dispose() => _tls.Dispose();

    /// <summary>A pipe's two halves as the one stream <see cref="SslStream"/> runs over; disposing it leaves the pipe open.</summary>
    private sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
    {
        private readonly Stream _reading = pipe.Input.AsStream(leaveOpen: true);
        private readonly Stream _writing = pipe.Output.AsStream(leaveOpen: true);

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => _reading.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _reading.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _reading.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => _writing.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            _writing.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            _writing.WriteAsync(buffer, offset, count, cancellationToken);

        public override void Flush() => _writing.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => _writing.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
