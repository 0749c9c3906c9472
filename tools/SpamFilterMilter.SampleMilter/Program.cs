using System.Globalization;
using System.Net;
using SpamFilterMilter.SampleMilter;

// Runs the sample milter on its own: `SpamFilterMilter.SampleMilter [--port N] [--address A]`.
var port = 8890;
var address = IPAddress.Loopback;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--port" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is >= 0 and <= 65535:
            port = p;
            i++;
            break;
        case "--address" when i + 1 < args.Length && IPAddress.TryParse(args[i + 1], out var a):
            address = a;
            i++;
            break;
        default:
            await Console.Error.WriteLineAsync("usage: SpamFilterMilter.SampleMilter [--port N] [--address IP]   (defaults: 127.0.0.1, 8890)");
            return 2;
    }
}

await using var server = SampleMilterServer.Start(new IPEndPoint(address, port));
Console.WriteLine($"sample milter listening on {server.EndPoint}; Ctrl+C stops it");
var stopped = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stopped.TrySetResult();
};
await stopped.Task;
return 0;
