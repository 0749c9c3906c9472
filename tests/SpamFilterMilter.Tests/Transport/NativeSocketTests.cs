using System.Net;
using System.Net.Sockets;
using SpamFilterMilter.Transport;

namespace SpamFilterMilter.Tests.Transport;

/// <summary>
/// The reactor's connect (<see cref="NativeSocket"/>): under way told as a value where .NET's non-blocking connect throws,
/// a failure at once thrown in the system's words, and the bound address asked of the system, as .NET does not know the
/// socket as connected.
/// </summary>
public class NativeSocketTests
{
    private static Socket NonBlocking(AddressFamily family) =>
        new(family, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };

    /// <summary>Waits (bounded) until the connect under way has ended: the error it ended with, SocketError.Success for none.</summary>
    private static SocketError Ended(Socket socket)
    {
        Assert.That(socket.Poll(TimeSpan.FromSeconds(10), SelectMode.SelectWrite), Is.True, "the connect ends");
        return (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
    }

    [TestCase("127.0.0.1")]
    [TestCase("::1")]
    public void A_connect_to_a_listener_is_under_way_or_done_and_the_socket_knows_its_bound_address(string address)
    {
        var ip = IPAddress.Parse(address);
        using var listener = new TcpListener(ip, 0);
        listener.Start();
        var remote = (IPEndPoint)listener.LocalEndpoint;
        using var socket = NonBlocking(ip.AddressFamily);

        var done = NativeSocket.StartConnect(socket, remote);
        using var accepted = listener.AcceptSocket();

        Assert.Multiple(() =>
        {
            Assert.That(done || Ended(socket) == SocketError.Success, Is.True);
            Assert.That(NativeSocket.LocalAddress(socket, ip.AddressFamily), Is.EqualTo(accepted.RemoteEndPoint), "the address the listener sees");
            Assert.That(socket.LocalEndPoint, Is.Null, ".NET does not know it as connected: nothing may ask it");
            Assert.That(MilterConnection.IsConnectedToItself(socket, remote), Is.False);
        });
    }

    [Test]
    public void A_connect_to_a_port_where_nothing_listens_ends_refused()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var closed = (IPEndPoint)probe.LocalEndpoint;
        probe.Stop();
        using var socket = NonBlocking(AddressFamily.InterNetwork);

        try
        {
            var done = NativeSocket.StartConnect(socket, closed);
            Assert.That(done, Is.False, "no connection where nothing listens");
            Assert.That(Ended(socket), Is.EqualTo(SocketError.ConnectionRefused));
        }
        catch (SocketException e)
        {
            // Refused at once, as a kernel may answer a loopback connect: in the system's words.
            Assert.That((e.SocketErrorCode, e.Message), Is.EqualTo((SocketError.ConnectionRefused, "Connection refused")));
        }
    }

    [Test]
    public void A_failure_at_once_is_thrown_in_the_systems_words()
    {
        // An IPv4 address given to an IPv6 socket: connect(2) refuses it at once (EAFNOSUPPORT or EINVAL).
        using var socket = NonBlocking(AddressFamily.InterNetworkV6);

        var e = Assert.Throws<SocketException>(() => NativeSocket.StartConnect(socket, new IPEndPoint(IPAddress.Loopback, 9)))!;

        Assert.That((e.SocketErrorCode, e.Message), Is.EqualTo((SocketError.AddressFamilyNotSupported, "Address family not supported by protocol"))
            .Or.EqualTo((SocketError.InvalidArgument, "Invalid argument")), "named as .NET names the error, in strerror's words");
    }

    [Test]
    public void A_socket_the_reactor_connected_to_its_own_port_is_told_connected_to_itself()
    {
        // TCP's simultaneous open: bound to a port where nothing listens, a connect to that same port reaches itself.
        using var socket = NonBlocking(AddressFamily.InterNetwork);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var itself = (IPEndPoint)socket.LocalEndPoint!;

        var done = NativeSocket.StartConnect(socket, itself);

        Assert.That(done || Ended(socket) == SocketError.Success, Is.True);
        Assert.That(MilterConnection.IsConnectedToItself(socket, itself), Is.True);
    }
}
