using System.Runtime.InteropServices;

namespace SpamFilterMilter.Transport;

/// <summary>
/// Linux epoll(7), as <see cref="IoReactor"/> uses it. <c>struct epoll_event</c> is packed on x86 (12 bytes: the
/// 64-bit data at offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8), so events are read and
/// written as bytes at the offsets of the running architecture.
/// </summary>
internal static class Epoll
{
    public const uint In = 0x001;
    public const uint Out = 0x004;
    public const uint Error = 0x008;
    public const uint HangUp = 0x010;
    public const uint ReadHangUp = 0x2000;
    public const uint EdgeTriggered = 1u << 31;

    private const int ControlAdd = 1;
    private const int ControlDelete = 2;
    private const int CloseOnExec = 0x80000;
    private const int BadDescriptor = 9; // EBADF
    private const int BadAddress = 14; // EFAULT
    private const int Invalid = 22; // EINVAL

    /// <summary>Bytes of one <c>struct epoll_event</c> on this architecture.</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 12 : 16;

    private static readonly int DataOffset = EventSize - 8;

    /// <summary>A new epoll instance, or -1 (with the error number) when the system has none.</summary>
    public static int Create(out int error)
    {
        var fd = epoll_create1(CloseOnExec);
        error = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd;
    }

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>; 0, or the error number.</summary>
    public static int Add(int epoll, int fd, uint events, ulong data)
    {
        Span<byte> e = stackalloc byte[16];
        MemoryMarshal.Write(e, in events);
        MemoryMarshal.Write(e[DataOffset..], in data);
        return epoll_ctl(epoll, ControlAdd, fd, ref MemoryMarshal.GetReference(e)) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Stops watching <paramref name="fd"/> (closing it would too, once no other descriptor shares it).</summary>
    public static void Remove(int epoll, int fd)
    {
        Span<byte> e = stackalloc byte[16]; // ignored, but kernels before 2.6.9 wanted one
        _ = epoll_ctl(epoll, ControlDelete, fd, ref MemoryMarshal.GetReference(e));
    }

    /// <summary>
    /// Waits for events into <paramref name="events"/>; the count, 0 when interrupted by a signal (or any error but the
    /// three that say the instance or the buffer is unusable), or -1 with one of those (EBADF, EFAULT, EINVAL). Called
    /// once per reply, so the call takes only numbers (the buffer is pinned for good) and reads errno by hand right after
    /// it, as LibraryImport's code does: one the JIT makes inline, without the marshalling stub that pinning an array or
    /// <c>SetLastError</c> needs (some 1 µs per transaction at one connection, perf).
    /// </summary>
    public static int Wait(int epoll, EventBuffer events, out int error)
    {
        Marshal.SetLastSystemError(0);
        var count = epoll_wait(epoll, events.Address, events.Capacity, -1);
        error = count < 0 ? Marshal.GetLastSystemError() : 0;
        return count < 0 && error is not (BadDescriptor or BadAddress or Invalid) ? 0 : count;
    }

    /// <summary>
    /// Where <see cref="Wait"/> puts events. Allocated pinned, so that its address holds for its whole life: the only
    /// kind of buffer <see cref="Wait"/> takes, so none that the collector could move can reach the kernel.
    /// </summary>
    internal sealed class EventBuffer
    {
        private readonly byte[] _bytes;

        public EventBuffer(int capacity)
        {
            _bytes = GC.AllocateArray<byte>(capacity * EventSize, pinned: true);
            Address = Marshal.UnsafeAddrOfPinnedArrayElement(_bytes, 0);
        }

        /// <summary>How many events one <see cref="Wait"/> can return.</summary>
        public int Capacity => _bytes.Length / EventSize;

        public nint Address { get; }

        /// <summary>The events and data of the <paramref name="index"/>th event <see cref="Wait"/> returned.</summary>
        public (uint Events, ulong Data) Read(int index)
        {
            var e = _bytes.AsSpan(index * EventSize, EventSize);
            return (MemoryMarshal.Read<uint>(e), MemoryMarshal.Read<ulong>(e[DataOffset..]));
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int epoll_create1(int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int epoll_ctl(int epoll, int operation, int fd, ref byte events);

    [DllImport("libc")]
    private static extern int epoll_wait(int epoll, nint events, int maxEvents, int timeout);
}
