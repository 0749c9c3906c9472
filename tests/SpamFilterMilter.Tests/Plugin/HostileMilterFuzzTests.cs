using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using SpamFilterMilter.Protocol.Wire;

namespace SpamFilterMilter.Tests.Plugin;

/// <summary>
/// The seeded hostile-milter fuzzer. Each case is a milter that behaves until a stage of its choosing, then does one
/// thing from the list of what real and hostile milters do: random frames, lengths 0 / limit / limit+1 / 2^31-1 /
/// 2^32-1, a reply written a byte at a time, garbage after a valid reply, PROGRESS floods, malformed edits, edits with
/// control characters, odd OPTNEG answers, replies to no-reply steps, closing mid-packet, never answering. Every case
/// must end in a verdict that belongs to that message (the milter's own verdict where its misbehaviour is harmless,
/// the failure outcome where it is not, never anything else), within its time bound, with no exception; and no socket
/// may be left open. The seed is fixed, so a failing case is reproduced by its number.
/// SFM_FUZZ_CASES (default 20000) and SFM_FUZZ_SEED (default 20261204) change the run.
/// </summary>
[Category("Integration")]
[Category("Faults")]
public class HostileMilterFuzzTests : TempFolderTest
{
    // A milter that goes silent is timed out after 0.2 s per packet and 0.6 s per message, so the run stays short; one
    // that answers gets 2 s and 6 s, so that a busy machine's scheduling delays are not mistaken for silence (at a
    // load average of 30, 2 of 200,000 answering milters' replies came later than 1 s).
    private const int SilentTimeoutHundredths = 20;
    private const int SilentMessageTimeoutHundredths = 60;
    private const int TimeoutHundredths = 200;
    private const int MessageTimeoutHundredths = 600;
    private const int MaxReplies = 50;
    private const int MaxPacket = 65535;
    private const int Parallelism = 16;
    private static readonly TimeSpan SilentBound = TimeSpan.FromSeconds(3); // connect + negotiation and message budgets + slack
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(14);

    private static readonly string[] Stages = ["optneg", "connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom"];

    private enum Fault
    {
        None,
        RandomFrame,
        LengthZero,
        LengthAtLimit,
        LengthOverLimit,
        LengthHalfRange,
        LengthFullRange,
        OneByteWrites,
        GarbageAfterReply,
        ProgressWithinLimit,
        ProgressFlood,
        MalformedEdit,
        EditWithControlCharacter,
        OddOptionNegotiation,
        AnswersNoReplyStep,
        ClosesMidPacket,
        Closes,
        NeverAnswers,
    }

    /// <summary>What a case's milter does, and what the message must get.</summary>
    private sealed record Plan(int Case, string Io, string Stage, Fault Fault, char FinalAnswer, bool AddsHeader, byte[] Junk, uint OptNegVersion, uint Protocol)
    {
        /// <summary>True when the misbehaviour cannot be tolerated: the message must get the failure outcome.</summary>
        public bool MustFail => Fault is Fault.LengthZero or Fault.LengthOverLimit or Fault.LengthHalfRange or Fault.LengthFullRange
            or Fault.ProgressFlood or Fault.MalformedEdit or Fault.EditWithControlCharacter or Fault.ClosesMidPacket or Fault.Closes or Fault.NeverAnswers
            or Fault.AnswersNoReplyStep;

        /// <summary>True when the misbehaviour is harmless: the message must get the milter's own verdict.</summary>
        public bool MustSucceed => Fault is Fault.None or Fault.OneByteWrites || (Fault == Fault.ProgressWithinLimit && Stage != "optneg");

        /// <summary>False where the fault is itself a (random) decision of the milter's, which may settle the message differently.</summary>
        public bool ActionMustMatch => Fault != Fault.RandomFrame;

        public override string ToString() => $"case {Case}: {Io}, {Fault} at {Stage}, final '{FinalAnswer}'{(AddsHeader ? " + header" : string.Empty)}";
    }

    private static Plan PlanOf(int seed, int index)
    {
        var random = new Random(HashCode.Combine(seed, index));
        var fault = random.Next(100) switch
        {
            < 15 => Fault.None,
            < 22 => Fault.RandomFrame,
            < 26 => Fault.LengthZero,
            < 30 => Fault.LengthAtLimit,
            < 34 => Fault.LengthOverLimit,
            < 37 => Fault.LengthHalfRange,
            < 40 => Fault.LengthFullRange,
            < 50 => Fault.OneByteWrites,
            < 56 => Fault.GarbageAfterReply,
            < 62 => Fault.ProgressWithinLimit,
            < 66 => Fault.ProgressFlood,
            < 72 => Fault.MalformedEdit,
            < 77 => Fault.EditWithControlCharacter,
            < 84 => Fault.OddOptionNegotiation,
            < 90 => Fault.AnswersNoReplyStep,
            < 94 => Fault.ClosesMidPacket,
            < 99 => Fault.Closes,
            _ => Fault.NeverAnswers,
        };
        var stage = fault switch
        {
            Fault.OddOptionNegotiation => "optneg",
            Fault.MalformedEdit or Fault.EditWithControlCharacter => "eom",
            Fault.AnswersNoReplyStep => Stages[random.Next(1, Stages.Length - 1)], // a stage with an NR_* step
            _ => Stages[random.Next(Stages.Length)],
        };
        var junk = new byte[random.Next(0, 64)];
        random.NextBytes(junk);
        return new Plan(index, random.Next(2) == 0 ? "async" : "blocking", stage, fault, "caryt"[random.Next(5)], random.Next(2) == 0, junk,
            (uint)random.Next(0, 10), (uint)random.Next());
    }

    [Test]
    public async Task Every_hostile_milter_case_ends_in_a_verdict_of_its_own_in_time_with_no_exception_and_no_socket_left()
    {
        var cases = int.TryParse(Environment.GetEnvironmentVariable("SFM_FUZZ_CASES"), out var n) ? n : 20_000;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SFM_FUZZ_SEED"), out var s) ? s : 20261204;
        var socketsBefore = OpenSockets();

        // Half the cases use IO_MODE=blocking, whose calls hold a pool thread while they wait for the milter. With the
        // pool's minimum at the core count, the pool adds threads slowly, and the scripted milters' own continuations
        // then wait in its queue past their 1 s: a harness starved of threads, not a milter gone silent. A host that
        // runs blocking sessions in parallel sizes its pool the same way (docs/options.md, IO_MODE).
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, Parallelism * 4), completionPorts);
        using var restore = new PoolMinimum(workers, completionPorts);
        var problems = new ConcurrentQueue<string>();
        var counts = new ConcurrentDictionary<string, int>();
        var started = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(Parallelism);
        var runs = Enumerable.Range(0, cases).Select(async index =>
        {
            await gate.WaitAsync();
            try
            {
                var plan = PlanOf(seed, index);
                var outcome = await RunCaseAsync(plan);
                counts.AddOrUpdate(outcome ?? "ok", 1, (_, c) => c + 1);
                if (outcome is not null && outcome.StartsWith("problem", StringComparison.Ordinal))
                {
                    problems.Enqueue($"{plan}: {outcome}");
                }
            }
            finally
            {
                gate.Release();
            }
        }).ToArray();
        await Task.WhenAll(runs);

        TestContext.Out.WriteLine($"{cases} cases (seed {seed}) in {started.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}"))}");
        Assert.That(problems.Take(10), Is.Empty, $"{problems.Count} of {cases} cases went wrong (seed {seed})");
        Assert.That(OpenSockets(), Is.LessThanOrEqualTo(socketsBefore), "no socket left open");
    }

    /// <summary>Puts the thread pool's minimum back when the run ends.</summary>
    private sealed class PoolMinimum(int workers, int completionPorts) : IDisposable
    {
        public void Dispose() => ThreadPool.SetMinThreads(workers, completionPorts);
    }

    /// <summary>Runs one case; null when its verdict is right, else what happened ("problem: …" when it is wrong).</summary>
    private async Task<string?> RunCaseAsync(Plan plan)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource();
        var milter = Task.Run(() => ServeAsync(listener, plan, stop.Token));
        var silent = plan.Fault == Fault.NeverAnswers;
        var options = $"HOST=127.0.0.1\nPORT={((IPEndPoint)listener.LocalEndpoint).Port}\n"
            + $"TIMEOUT={(silent ? SilentTimeoutHundredths : TimeoutHundredths)}\nMESSAGE_TIMEOUT={(silent ? SilentMessageTimeoutHundredths : MessageTimeoutHundredths)}\n"
            + $"MAX_REPLIES={MaxReplies}\nMAX_PACKET={MaxPacket}\nIO_MODE={plan.Io}\n";
        var started = Stopwatch.StartNew();
        FilterVerdict verdict;
        try
        {
            await using var plugin = TestPlugins.Create(Folder, options);
            verdict = await plugin.FilterMessageAsync(new MessageSubmission
            {
                Client = ClientInfo.Tcp(IPAddress.Parse("192.0.2.1"), 25, $"case-{plan.Case}.example"),
                HeloName = $"case-{plan.Case}.example",
                MailFrom = $"case-{plan.Case}@example.org",
                Recipients = [new EnvelopeRecipient("bob@example.com")],
                Message = new MemoryStream(Encoding.ASCII.GetBytes($"Subject: case {plan.Case}\r\nX-Case: {plan.Case}\r\n\r\n{new string('b', 100)}\r\n")),
            });
        }
        catch (Exception e)
        {
            return $"problem: {e.GetType().Name} escaped: {e.Message}";
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await milter.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
            }
        }

        var elapsed = started.Elapsed;
        if (elapsed > (silent ? SilentBound : Bound))
        {
            return $"problem: took {elapsed.TotalSeconds:0.00} s";
        }

        var failed = verdict.Kind == VerdictKind.Failure;
        // The milter writes the value without a leading space; the client adds the one an MTA puts after the colon,
        // unless an odd negotiation agreed on SMFIP_HDR_LEADSPC (then the value is the milter's, exactly).
        var leadingSpaceAgreed = plan.Fault == Fault.OddOptionNegotiation && ((ProtocolFlags)plan.Protocol).HasFlag(ProtocolFlags.HeaderLeadingSpace);
        var expectedValue = (leadingSpaceAgreed ? string.Empty : " ") + plan.Case.ToString(CultureInfo.InvariantCulture);
        if (!failed && verdict.Edits.Any(e => e is not AddHeader { Name: "X-Case" } h || h.Value != expectedValue))
        {
            return $"problem: edits that are not this message's: {string.Join(", ", verdict.Edits)}";
        }

        if (!failed && plan.ActionMustMatch && verdict.Action != Expected(plan.FinalAnswer))
        {
            return $"problem: verdict {verdict.Action}, the milter said '{plan.FinalAnswer}'";
        }

        if ((plan.MustFail || (plan.Fault == Fault.ProgressWithinLimit && plan.Stage == "optneg")) && !failed)
        {
            return $"problem: {verdict.Kind} {verdict.Action} where only the failure outcome is right";
        }

        if (plan.MustSucceed && failed)
        {
            return $"problem: failed ({verdict.Failure}) where the milter's own verdict is right";
        }

        return failed ? "failure outcome" : null;
    }

    private static FilterAction Expected(char answer) => answer switch
    {
        'r' => FilterAction.Reject,
        'y' => FilterAction.Reject,
        't' => FilterAction.TempFail,
        _ => FilterAction.Accept, // 'c' and 'a' at the end of the message
    };

    /// <summary>The case's milter: a correct protocol-6 milter until its stage, then its fault.</summary>
    private static async Task ServeAsync(TcpListener listener, Plan plan, CancellationToken stop)
    {
        Socket socket;
        try
        {
            socket = await listener.AcceptSocketAsync(stop);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        using (socket)
        {
            socket.NoDelay = true;
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            try
            {
                await ConverseAsync(stream, plan, stop);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or EndOfStreamException or ObjectDisposedException)
            {
                // the plug-in hung up, or the case is over
            }
        }
    }

    private static async Task ConverseAsync(NetworkStream stream, Plan plan, CancellationToken stop)
    {
        var header = new byte[5];
        var noReplyStep = NoReplyFlag(plan.Stage);
        var negotiated = 0u;          // the steps this milter asked for: it honours its NR_* steps (but for its fault)
        byte[] stray = [];            // an answer to a no-reply step, sent with the next answer
        while (true)
        {
            await stream.ReadExactlyAsync(header, stop);
            var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header) - 1];
            await stream.ReadExactlyAsync(payload, stop);
            var command = (char)header[4];
            if (command is 'D' or 'A')
            {
                continue;
            }

            if (command is 'Q' or 'K')
            {
                return;
            }

            var stage = StageOf(command);
            var normal = command switch
            {
                'O' => Raw.OptNeg(6, 0x1FF, negotiated = plan.Fault == Fault.AnswersNoReplyStep ? noReplyStep : 0),
                'E' => Raw.Concat(plan.AddsHeader ? Raw.Packet('h', Raw.CString("X-Case"), Raw.CString(plan.Case.ToString(System.Globalization.CultureInfo.InvariantCulture))) : [],
                    plan.FinalAnswer == 'y' ? Raw.Packet('y', Raw.CString("554 5.7.1 case")) : Raw.Packet(plan.FinalAnswer)),
                _ => Raw.Packet('c'),
            };
            if (command == 'O' && plan.Fault == Fault.OddOptionNegotiation)
            {
                negotiated = plan.Protocol; // what it asked for, if the plug-in takes it
            }

            if ((negotiated & NoReplyFlag(stage)) != 0)
            {
                if (plan.Fault == Fault.AnswersNoReplyStep && stage == plan.Stage)
                {
                    stray = normal; // the lie: it goes out with the next answer, so the plug-in sees it for sure
                }

                continue;
            }

            if (stray.Length > 0)
            {
                normal = Raw.Concat(stray, normal);
                stray = [];
            }

            if (stage != plan.Stage || plan.Fault == Fault.AnswersNoReplyStep)
            {
                await stream.WriteAsync(normal, stop);
                continue;
            }

            if (await MisbehaveAsync(stream, plan, normal, stop))
            {
                return;
            }
        }
    }

    /// <summary>Does the case's fault in place of the normal answer; true when the milter then hangs up.</summary>
    private static async Task<bool> MisbehaveAsync(NetworkStream stream, Plan plan, byte[] normal, CancellationToken stop)
    {
        switch (plan.Fault)
        {
            case Fault.None:
                await stream.WriteAsync(normal, stop);
                return false;
            case Fault.RandomFrame:
                await stream.WriteAsync(Raw.Packet((char)(plan.Junk.Length > 0 ? plan.Junk[0] : (byte)'Z'), plan.Junk.Length > 1 ? plan.Junk[1..] : []), stop);
                return false;
            case Fault.LengthZero:
                await stream.WriteAsync(new byte[] { 0, 0, 0, 0, (byte)'c' }, stop);
                return false;
            case Fault.LengthAtLimit:
                // A packet exactly as long as MAX_PACKET allows, of a reply that carries no data: framed, then refused.
                await stream.WriteAsync(Raw.Packet('c', new byte[MaxPacket]), stop);
                return false;
            case Fault.LengthOverLimit:
                await stream.WriteAsync(Length(MaxPacket + 2), stop);
                return false;
            case Fault.LengthHalfRange:
                await stream.WriteAsync(Length(int.MaxValue), stop);
                return false;
            case Fault.LengthFullRange:
                await stream.WriteAsync(Length(uint.MaxValue), stop);
                return false;
            case Fault.OneByteWrites:
                foreach (var b in normal)
                {
                    await stream.WriteAsync(new[] { b }, stop);
                }

                return false;
            case Fault.GarbageAfterReply:
                await stream.WriteAsync(Raw.Concat(normal, plan.Junk, [0x47]), stop);
                return false;
            case Fault.ProgressWithinLimit:
                await stream.WriteAsync(Raw.Concat([.. Enumerable.Repeat(Raw.Packet('p'), MaxReplies / 2), normal]), stop);
                return false;
            case Fault.ProgressFlood:
                await stream.WriteAsync(Raw.Concat([.. Enumerable.Repeat(Raw.Packet('p'), MaxReplies + 5), normal]), stop);
                return false;
            case Fault.MalformedEdit:
                // No NUL in the payload: no string in it can end, so no such edit is well formed.
                var code = "hmi+-2e"[plan.Junk.Length % 7];
                await stream.WriteAsync(Raw.Concat(Raw.Packet(code, plan.Junk.Where(b => b != 0).ToArray()), Raw.Packet('c')), stop);
                return false;
            case Fault.EditWithControlCharacter:
                await stream.WriteAsync(Raw.Concat(Raw.Packet('e', Raw.CString("<a@example.org>\r\nRCPT TO:<evil@example.net>")), Raw.Packet('c')), stop);
                return false;
            case Fault.OddOptionNegotiation:
                await stream.WriteAsync(Raw.Packet('O', [.. Raw.UInt32(plan.OptNegVersion), .. Raw.UInt32(plan.Protocol & 0x3FF), .. Raw.UInt32(plan.Protocol), .. plan.Junk]), stop);
                return false;
            case Fault.ClosesMidPacket:
                await stream.WriteAsync(normal.AsMemory(0, Math.Max(1, normal.Length / 2)), stop);
                return true;
            case Fault.Closes:
                return true;
            default: // Fault.NeverAnswers
                await Task.Delay(Timeout.Infinite, stop);
                return true;
        }
    }

    private static byte[] Length(long length)
    {
        var bytes = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)length);
        bytes[4] = (byte)'c';
        return bytes;
    }

    private static string StageOf(char command) => command switch
    {
        'O' => "optneg",
        'C' => "connect",
        'H' => "helo",
        'M' => "mail",
        'R' => "rcpt",
        'T' => "data",
        'L' => "header",
        'N' => "eoh",
        'B' => "body",
        'E' => "eom",
        _ => "other",
    };

    /// <summary>The NR_* flag of a stage (SMFIP_NR_CONN … SMFIP_NR_BODY).</summary>
    private static uint NoReplyFlag(string stage) => stage switch
    {
        "connect" => 0x1000,
        "helo" => 0x2000,
        "mail" => 0x4000,
        "rcpt" => 0x8000,
        "data" => 0x10000,
        "header" => 0x80,
        "eoh" => 0x40000,
        "body" => 0x80000,
        _ => 0,
    };

    /// <summary>Sockets this process holds open (Linux: /proc/self/fd).</summary>
    private static int OpenSockets() => !OperatingSystem.IsLinux() ? 0 : Directory.EnumerateFiles("/proc/self/fd").Count(fd =>
    {
        try
        {
            return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
        }
        catch (IOException)
        {
            return false;
        }
    });
}
