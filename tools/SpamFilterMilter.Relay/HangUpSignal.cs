using System.Runtime.InteropServices;

namespace SpamFilterMilter.Relay;

/// <summary>
/// SIGHUP as a request to reload, also when the relay was started with SIGHUP ignored: <c>nohup</c> ignores it, and a
/// process inherits that. .NET respects an ignored signal and installs no handler for it, so <c>kill -HUP</c> would then
/// do nothing at all, not even log. A daemon that reloads on SIGHUP takes the signal back first, as Postfix's master
/// and sshd do: the administrator who started it under nohup still expects the reload.
/// </summary>
internal static class HangUpSignal
{
    private const int SigHup = 1; // the same on Linux and macOS
    private const nint DefaultAction = 0; // SIG_DFL

    public static PosixSignalRegistration Register(Action<PosixSignalContext> handler)
    {
        if (!OperatingSystem.IsWindows())
        {
            // Default, not ignored, for the moment until the registration below installs .NET's handler.
            _ = signal(SigHup, DefaultAction);
        }

        return PosixSignalRegistration.Create(PosixSignal.SIGHUP, handler);
    }

    [DllImport("libc")]
    private static extern nint signal(int signalNumber, nint action);
}
