using System.Globalization;
using SpamFilterMilter.Host.Editing;

namespace SpamFilterMilter.Tests.Integration;

/// <summary>
/// Golden-file scenarios (tests/SpamFilterMilter.Tests/Scenarios/*.scenario, format in the README
/// there): events in, verdict and edited message out, against a real milter.
/// </summary>
[Category("Integration")]
public class ScenarioTests : TempFolderTest
{
    private static readonly string Folder_ = Path.Combine(AppContext.BaseDirectory, "Scenarios");

    private static IEnumerable<TestCaseData> Scenarios() =>
        Directory.EnumerateFiles(Folder_, "*.scenario").Order(StringComparer.Ordinal)
            .Select(path => new TestCaseData(Path.GetFileName(path)).SetName($"{{m}}({Path.GetFileNameWithoutExtension(path)})"));

    [TestCaseSource(nameof(Scenarios))]
    public async Task A_scenario_gives_exactly_the_verdict_and_message_it_describes(string file)
    {
        var scenario = Scenario.Parse(await File.ReadAllTextAsync(Path.Combine(Folder_, file)));
        await using var milter = scenario.MilterKind == "pymilter"
            ? await MilterProcess.StartPymilterAsync([.. scenario.MilterArguments])
            : await MilterProcess.StartLibmilterAsync([.. scenario.MilterArguments]);
        await using var plugin = DeployedPlugin.Create(milter.OptionFile(Folder, string.Join('\n', scenario.Options) + "\n"));
        var message = Encoding.UTF8.GetBytes(scenario.Message);

        var verdict = await plugin.FilterMessageAsync(new MessageSubmission
        {
            Client = scenario.Client,
            HeloName = scenario.Helo,
            MailFrom = scenario.MailFrom,
            MailParameters = scenario.MailParameters,
            Recipients = scenario.Recipients,
            Message = new MemoryStream(message),
        });

        Assert.That(Describe(verdict), Is.EqualTo(scenario.Verdict), verdict.Failure?.ToString());
        if (scenario.Action is { } action)
        {
            Assert.That(verdict.Text?.Replace("\r\n", "\n", StringComparison.Ordinal), Is.EqualTo(action));
        }

        var envelope = new Envelope(Unbracket(scenario.MailFrom), null, scenario.Recipients);
        var edited = MessageEditor.Apply(message, envelope, verdict.Edits);
        if (scenario.MessageOut is { } expectedMessage)
        {
            Assert.That(Encoding.UTF8.GetString(edited.Message), Is.EqualTo(expectedMessage));
        }

        if (scenario.EnvelopeOut is { } expectedEnvelope)
        {
            var lines = new List<string> { $"from: <{edited.Envelope.MailFrom}>" };
            lines.AddRange(edited.Envelope.Recipients.Select(r => $"to: <{r.Address}>" + (r.Parameters is { Count: > 0 } p ? " " + string.Join(' ', p) : string.Empty)));
            Assert.That(lines, Is.EqualTo(expectedEnvelope));
        }
    }

    /// <summary>The verdict as the scenario's "--- verdict" lines write it.</summary>
    private static List<string> Describe(FilterVerdict verdict)
    {
        var lines = new List<string>
        {
            $"kind: {verdict.Kind.ToString().ToLowerInvariant()}",
            $"action: {verdict.Action.ToString().ToLowerInvariant()}",
            $"decided-at: {verdict.DecidedAt?.ToName()}",
        };
        if (verdict.Reply is { } reply)
        {
            lines.Add($"reply: {reply.ToString().Replace("\r\n", "\\r\\n", StringComparison.Ordinal)}");
        }

        lines.AddRange(verdict.Recipients.Where(r => r.Reply is not null)
            .Select(r => $"recipient: {r.Address} {r.Action.ToString().ToLowerInvariant()} {r.Reply}"));
        if (verdict.QuarantineReason is { } reason)
        {
            lines.Add($"quarantine: {reason}");
        }

        return lines;
    }

    private static string Unbracket(string address) => address.Trim() is ['<', .. var inner, '>'] ? inner : address.Trim();

    /// <summary>One parsed scenario file.</summary>
    private sealed class Scenario
    {
        public string MilterKind { get; private set; } = "libmilter";

        public List<string> MilterArguments { get; } = [];

        public List<string> Options { get; } = [];

        public ClientInfo? Client { get; private set; }

        public string? Helo { get; private set; }

        public string MailFrom { get; private set; } = "<>";

        public List<string> MailParameters { get; } = [];

        public List<EnvelopeRecipient> Recipients { get; } = [];

        public string Message { get; private set; } = string.Empty;

        public List<string> Verdict { get; } = [];

        public string? Action { get; private set; }

        public string? MessageOut { get; private set; }

        public List<string>? EnvelopeOut { get; private set; }

        public static Scenario Parse(string text)
        {
            var scenario = new Scenario();
            var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            var section = "head";
            var body = new List<string>();
            void Close()
            {
                var content = string.Join('\n', body).TrimEnd('\n');
                switch (section)
                {
                    case "message": scenario.Message = Crlf(content) + "\r\n"; break;
                    case "verdict": scenario.Verdict.AddRange(body.Where(l => l.Length > 0)); break;
                    case "action": scenario.Action = content; break;
                    case "message out": scenario.MessageOut = Crlf(content) + "\r\n"; break;
                    case "envelope out": scenario.EnvelopeOut = [.. body.Where(l => l.Length > 0)]; break;
                    case "head": break;
                    default: throw new FormatException($"unknown section \"--- {section}\" (message, verdict, action, message out, envelope out)");
                }

                body.Clear();
            }

            foreach (var line in lines)
            {
                if (line.StartsWith("--- ", StringComparison.Ordinal))
                {
                    Close();
                    section = line[4..].Trim();
                    continue;
                }

                if (section != "head")
                {
                    body.Add(line);
                    continue;
                }

                if (line.Length == 0 || line.StartsWith('#'))
                {
                    continue;
                }

                var colon = line.IndexOf(':', StringComparison.Ordinal);
                var key = line[..colon];
                var value = line[(colon + 1)..].Trim();
                var words = Words(value);
                switch (key)
                {
                    case "milter":
                        scenario.MilterKind = words[0];
                        scenario.MilterArguments.AddRange(words.Skip(1));
                        break;
                    case "options":
                        scenario.Options.AddRange(value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
                        break;
                    case "client":
                        scenario.Client = ClientInfo.Tcp(IPAddress.Parse(words[1]), int.Parse(words[2], CultureInfo.InvariantCulture), words[0]);
                        break;
                    case "helo":
                        scenario.Helo = value;
                        break;
                    case "mail":
                        scenario.MailFrom = words[0];
                        scenario.MailParameters.AddRange(words.Skip(1));
                        break;
                    case "rcpt":
                        scenario.Recipients.Add(new EnvelopeRecipient(Unbracket(words[0]), words.Count > 1 ? [.. words.Skip(1)] : null));
                        break;
                    default:
                        throw new FormatException($"unknown scenario line \"{line}\"");
                }
            }

            Close();
            return scenario.Message.Length > 2 && scenario.Verdict.Count > 0
                ? scenario
                : throw new FormatException("a scenario needs a \"--- message\" and a \"--- verdict\" section");
        }

        private static string Crlf(string text) => text.Replace("\n", "\r\n", StringComparison.Ordinal);

        /// <summary>Splits on blanks; '…' quotes a word with blanks (as a shell would).</summary>
        private static List<string> Words(string text)
        {
            var words = new List<string>();
            var word = new StringBuilder();
            var quoted = false;
            var any = false;
            foreach (var c in text)
            {
                if (c == '\'')
                {
                    quoted = !quoted;
                    any = true;
                }
                else if (c == ' ' && !quoted)
                {
                    if (any)
                    {
                        words.Add(word.ToString());
                    }

                    word.Clear();
                    any = false;
                }
                else
                {
                    word.Append(c);
                    any = true;
                }
            }

            if (any)
            {
                words.Add(word.ToString());
            }

            return words;
        }
    }
}
