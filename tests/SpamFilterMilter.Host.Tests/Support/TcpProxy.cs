using System.Net;
using System.Net.Sockets;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a server on loopback, for tests that need a server to be slow or to
/// close connections: <see cref="Hold"/> makes new connections wait (the client's bytes stay unanswered)
/// until <see cref="Release"/>; <see cref="DropAll"/> closes every open connection, as a server closing idle
/// connections does. It counts accepted connections and those the client closed.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _open = [];
    private readonly Task _accepting;
    private TaskCompletionSource _gate = Completed();
    private TaskCompletionSource _clientClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _firstAccepted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _accepted;

    public TcpProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many connections clients opened.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Completes when the first client has connected (held or not).</summary>
    public Task FirstAccepted => _firstAccepted.Task;

    /// <summary>Completes when a client closes a connection (after the last <see cref="WatchClientClose"/>).</summary>
    public Task ClientClosed => _clientClosed.Task;

    /// <summary>From now on, report the next connection a client closes in <see cref="ClientClosed"/>.</summary>
    public void WatchClientClose() => _clientClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>New connections wait before reaching the server.</summary>
    public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Connections waiting reach the server now, and new ones at once.</summary>
    public void Release() => _gate.TrySetResult();

    /// <summary>Closes every open connection, both sides.</summary>
    public void DropAll()
    {
        lock (_open)
        {
            foreach (var socket in _open)
            {
                socket.Dispose();
            }

            _open.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Release();
        DropAll();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Interlocked.Increment(ref _accepted);
            Track(client);
            _firstAccepted.TrySetResult();
            _ = ServeAsync(client, _gate.Task);
        }
    }

    private void Track(Socket socket)
    {
        lock (_open)
        {
            _open.Add(socket);
        }
    }

    private async Task ServeAsync(Socket client, Task gate)
    {
        try
        {
            await gate.WaitAsync(_stop.Token);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            Track(server);
            await server.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token);
            // Each direction until its end of stream, passed on as a half close, so that a client's close is
            // seen even when the server closes its side first.
            await Task.WhenAll(PumpAsync(client, server, clientSide: true), PumpAsync(server, client, clientSide: false));
            client.Dispose();
            server.Dispose();
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to, bool clientSide)
    {
        var buffer = new byte[16384];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    if (clientSide)
                    {
                        _clientClosed.TrySetResult();
                    }

                    to.Shutdown(SocketShutdown.Send);
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
