using System.Globalization;
using System.Text;

namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// A Sieve script could not be parsed, uses something this interpreter does not support, or failed while
/// running. <see cref="Exception.Message"/> reads <c>line 2, column 1: unsupported command "vacation"</c>.
/// </summary>
public sealed class SieveException : Exception
{
    /// <summary>Creates the exception for a problem at <paramref name="line"/>, <paramref name="column"/> (1-based).</summary>
    public SieveException(int line, int column, string problem, Exception? inner = null)
        : base($"line {line.ToString(CultureInfo.InvariantCulture)}, column {column.ToString(CultureInfo.InvariantCulture)}: {problem}", inner)
    {
        Line = line;
        Column = column;
        Problem = problem;
    }

    /// <summary>The 1-based line of the script.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the script.</summary>
    public int Column { get; }

    /// <summary>The problem without the position.</summary>
    public string Problem { get; }
}

/// <summary>An argument of a command or test as written: a tag, a number, or a string or string list.</summary>
internal abstract record Argument(int Line, int Column);

/// <summary><c>:name</c>; <see cref="Name"/> is lower case, with the colon.</summary>
internal sealed record TagArgument(string Name, int Line, int Column) : Argument(Line, Column);

/// <summary>A number, K/M/G suffixes applied.</summary>
internal sealed record NumberArgument(long Value, int Line, int Column) : Argument(Line, Column);

/// <summary>A quoted or multi-line string (<see cref="IsList"/> false) or a <c>[...]</c> list.</summary>
internal sealed record StringsArgument(IReadOnlyList<string> Values, bool IsList, int Line, int Column) : Argument(Line, Column);

/// <summary>A command or a test after its arguments were checked against its signature.</summary>
internal sealed class Call(string name, int line, int column)
{
    public string Name { get; } = name;

    public int Line { get; } = line;

    public int Column { get; } = column;

    /// <summary>Tags given, with their parameter (a number or string argument) or null for a flag.</summary>
    public Dictionary<string, Argument?> Tags { get; } = new(StringComparer.Ordinal);

    public List<Argument> Positional { get; } = [];

    public List<Call> Tests { get; } = [];

    /// <summary>True when the tests were written as a test list in parentheses (allof, anyof), false for one test.</summary>
    public bool TestList { get; set; }

    public List<Call>? Block { get; set; }

    public bool Has(string tag) => Tags.ContainsKey(tag);

    public string String(int index) => ((StringsArgument)Positional[index]).Values[0];

    public string? OptionalString(int index) => index < Positional.Count ? String(index) : null;

    public IReadOnlyList<string> Strings(int index) => index < Positional.Count ? ((StringsArgument)Positional[index]).Values : [];

    public long? TagNumber(string tag) => Tags.GetValueOrDefault(tag) is NumberArgument n ? n.Value : null;

    public string? TagString(string tag) => Tags.GetValueOrDefault(tag) is StringsArgument s ? s.Values[0] : null;

    public SieveException Error(string problem, Exception? inner = null) => new(Line, Column, problem, inner);
}

/// <summary>
/// Parses Sieve (RFC 5228 §8 grammar) and checks every command and test against the subset this
/// interpreter runs, so that an unsupported command is an error before anything runs, even in a branch
/// that would not be taken.
/// </summary>
internal sealed class SieveParser
{
    /// <summary>Capabilities <c>require</c> accepts. <c>addheader</c> is Messaging Server's older name for its header command.</summary>
    public static IReadOnlySet<string> Capabilities { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "fileinto", "reject", "ereject", "editheader", "addheader", "envelope", SieveScript.Extension,
        "comparator-i;octet", "comparator-i;ascii-casemap",
    };

    private static readonly Dictionary<string, Signature> CommandSignatures = new(StringComparer.Ordinal)
    {
        ["keep"] = new(null),
        ["discard"] = new(null),
        ["stop"] = new(null),
        ["fileinto"] = new(["fileinto"], positional: [Kind.String]),
        ["redirect"] = new(null, positional: [Kind.String]),
        ["reject"] = new(["reject"], positional: [Kind.String]),
        ["ereject"] = new(["ereject"], positional: [Kind.String]),
        ["addheader"] = new(["editheader", "addheader"], tags: [Flag(":last"), Flag(":raw")], positional: [Kind.String, Kind.String], required: 1),
        ["deleteheader"] = new(["editheader"], tags: [Number(":index"), Flag(":last"), .. MatchTags], positional: [Kind.String, Kind.StringList], required: 1),
        ["addtag"] = new(null, positional: [Kind.String]),
        ["tempfail"] = new([SieveScript.Extension], positional: [Kind.String]),
        ["quarantine"] = new([SieveScript.Extension], positional: [Kind.String]),
        ["insertheader"] = new([SieveScript.Extension], tags: [Number(":index"), Flag(":raw")], positional: [Kind.String, Kind.String], requiredTags: [":index"]),
        ["replaceheader"] = new([SieveScript.Extension], tags: [Number(":index"), Flag(":raw")], positional: [Kind.String, Kind.String], requiredTags: [":index"]),
        ["addrecipient"] = new([SieveScript.Extension], positional: [Kind.String, Kind.String], required: 1),
        ["deleterecipient"] = new([SieveScript.Extension], positional: [Kind.String]),
        ["changesender"] = new([SieveScript.Extension], positional: [Kind.String, Kind.String], required: 1),
        ["replacebody"] = new([SieveScript.Extension], positional: [Kind.String]),
        ["rejectrecipient"] = new([SieveScript.Extension], positional: [Kind.String, Kind.String]),
    };

    private static readonly Dictionary<string, Signature> TestSignatures = new(StringComparer.Ordinal)
    {
        ["true"] = new(null),
        ["false"] = new(null),
        ["header"] = new(null, tags: MatchTags, positional: [Kind.StringList, Kind.StringList]),
        ["address"] = new(null, tags: [.. MatchTags, .. AddressPartTags], positional: [Kind.StringList, Kind.StringList]),
        ["envelope"] = new(["envelope"], tags: [.. MatchTags, .. AddressPartTags], positional: [Kind.StringList, Kind.StringList]),
        ["exists"] = new(null, positional: [Kind.StringList]),
        ["size"] = new(null, tags: [new(":over", Kind.Number, "size"), new(":under", Kind.Number, "size")], requiredTags: ["size"]),
    };

    private static TagSpec[] MatchTags => [new(":comparator", Kind.String, null), Flag(":is", "match"), Flag(":contains", "match"), Flag(":matches", "match")];

    private static TagSpec[] AddressPartTags => [Flag(":all", "part"), Flag(":localpart", "part"), Flag(":domain", "part")];

    private readonly Lexer _lexer;
    private readonly HashSet<string> _required = new(StringComparer.Ordinal);

    private SieveParser(string text) => _lexer = new Lexer(text);

    /// <summary>Parses and checks <paramref name="text"/>; returns the top-level commands.</summary>
    public static List<Call> Parse(string text)
    {
        var parser = new SieveParser(text);
        var commands = parser.Commands(topLevel: true);
        var end = parser._lexer.Next();
        if (end.Kind != TokenKind.End)
        {
            throw new SieveException(end.Line, end.Column, $"expected a command, found {end.Describe()}");
        }

        return commands;
    }

    private enum Kind
    {
        String,
        StringList,
        Number,
        Flag,
    }

    private static TagSpec Flag(string name, string? group = null) => new(name, Kind.Flag, group);

    private static TagSpec Number(string name) => new(name, Kind.Number, null);

    private List<Call> Commands(bool topLevel)
    {
        var commands = new List<Call>();
        var requireAllowed = topLevel;
        while (_lexer.Peek().Kind is TokenKind.Identifier)
        {
            var command = Command(requireAllowed, commands.Count > 0 ? commands[^1] : null);
            requireAllowed &= command.Name == "require";
            if (command.Name != "require")
            {
                commands.Add(command);
            }
        }

        return commands;
    }

    private Call Command(bool requireAllowed, Call? previous)
    {
        var name = _lexer.Next();
        var id = name.Text.ToLowerInvariant();
        var call = new Call(id, name.Line, name.Column);
        var arguments = Arguments(call, takesTests: id is "if" or "elsif" or "else");
        switch (id)
        {
            case "require":
                if (!requireAllowed)
                {
                    throw call.Error("require must come before every other command");
                }

                Require(call, arguments);
                Expect(TokenKind.Semicolon, "\";\" after require");
                return call;

            case "if":
            case "elsif":
            case "else":
                if (id != "if" && previous?.Name is not ("if" or "elsif"))
                {
                    throw call.Error($"{id} must follow if or elsif");
                }

                if (arguments.Count > 0)
                {
                    throw new SieveException(arguments[0].Line, arguments[0].Column, $"{id} takes no arguments, only a test");
                }

                if (id == "else" ? call.Tests.Count != 0 : call.Tests.Count != 1)
                {
                    throw call.Error(id == "else" ? "else takes no test" : $"{id} needs one test");
                }

                if (call.TestList)
                {
                    throw call.Error($"{id} takes one test, not a test list in parentheses (RFC 5228 §3.1)");
                }

                Expect(TokenKind.OpenBrace, $"\"{{\" to start the block of {id}");
                call.Block = Commands(topLevel: false);
                Expect(TokenKind.CloseBrace, $"\"}}\" to end the block of {id}");
                return call;
        }

        if (!CommandSignatures.TryGetValue(id, out var signature))
        {
            throw call.Error($"unsupported command \"{id}\"");
        }

        Bind(call, signature, arguments, "command"); // it took no test: only if, elsif, else, not, allof and anyof read one
        if (_lexer.Peek().Kind == TokenKind.OpenBrace)
        {
            throw call.Error($"{id} takes no block");
        }

        Expect(TokenKind.Semicolon, $"\";\" after {id}");
        return call;
    }

    /// <summary>
    /// Reads arguments, then, when <paramref name="takesTests"/>, a test or a test list into
    /// <paramref name="call"/>.Tests. A command or test that takes none stops at an identifier, so that a
    /// missing ";" is reported as one.
    /// </summary>
    private List<Argument> Arguments(Call call, bool takesTests)
    {
        var arguments = new List<Argument>();
        while (true)
        {
            var token = _lexer.Peek();
            switch (token.Kind)
            {
                case TokenKind.Tag:
                    _lexer.Next();
                    arguments.Add(new TagArgument(":" + token.Text.ToLowerInvariant(), token.Line, token.Column));
                    continue;
                case TokenKind.Number:
                    _lexer.Next();
                    arguments.Add(new NumberArgument(token.Number, token.Line, token.Column));
                    continue;
                case TokenKind.String:
                    _lexer.Next();
                    arguments.Add(new StringsArgument([token.Text], false, token.Line, token.Column));
                    continue;
                case TokenKind.OpenBracket:
                    arguments.Add(StringList());
                    continue;
                case TokenKind.Identifier when takesTests:
                    call.Tests.Add(Test());
                    return arguments;
                case TokenKind.OpenParen when takesTests:
                    _lexer.Next();
                    call.TestList = true;
                    call.Tests.Add(Test());
                    while (_lexer.Peek().Kind == TokenKind.Comma)
                    {
                        _lexer.Next();
                        call.Tests.Add(Test());
                    }

                    Expect(TokenKind.CloseParen, "\")\" to end the test list");
                    return arguments;
                default:
                    return arguments;
            }
        }
    }

    private StringsArgument StringList()
    {
        var open = _lexer.Next();
        var values = new List<string>();
        while (true)
        {
            var item = _lexer.Next();
            if (item.Kind != TokenKind.String)
            {
                throw new SieveException(item.Line, item.Column, $"expected a string in the list, found {item.Describe()}");
            }

            values.Add(item.Text);
            var next = _lexer.Next();
            if (next.Kind == TokenKind.CloseBracket)
            {
                return new StringsArgument(values, true, open.Line, open.Column);
            }

            if (next.Kind != TokenKind.Comma)
            {
                throw new SieveException(next.Line, next.Column, $"expected \",\" or \"]\" in the string list, found {next.Describe()}");
            }
        }
    }

    private Call Test()
    {
        var name = _lexer.Next();
        if (name.Kind != TokenKind.Identifier)
        {
            throw new SieveException(name.Line, name.Column, $"expected a test, found {name.Describe()}");
        }

        var id = name.Text.ToLowerInvariant();
        var call = new Call(id, name.Line, name.Column);
        var arguments = Arguments(call, takesTests: id is "not" or "allof" or "anyof");
        switch (id)
        {
            case "not":
                if (arguments.Count > 0 || call.Tests.Count != 1 || call.TestList)
                {
                    throw call.Error("not takes exactly one test");
                }

                return call;
            case "allof":
            case "anyof":
                if (arguments.Count > 0 || !call.TestList)
                {
                    throw call.Error($"{id} takes a list of tests in parentheses");
                }

                return call;
        }

        if (!TestSignatures.TryGetValue(id, out var signature))
        {
            throw call.Error($"unsupported test \"{id}\"");
        }

        Bind(call, signature, arguments, "test"); // it took no test: only if, elsif, else, not, allof and anyof read one
        return call;
    }

    private void Require(Call call, List<Argument> arguments)
    {
        if (arguments is not [StringsArgument capabilities] || call.Tests.Count > 0)
        {
            throw call.Error("require takes one string or string list");
        }

        foreach (var capability in capabilities.Values)
        {
            if (!Capabilities.Contains(capability))
            {
                throw new SieveException(capabilities.Line, capabilities.Column, $"unsupported capability \"{capability}\"");
            }

            _required.Add(capability);
        }
    }

    /// <summary>Checks tags and positional arguments against the signature and the capabilities required so far.</summary>
    private void Bind(Call call, Signature signature, List<Argument> arguments, string what)
    {
        if (signature.Capabilities is { } needed && !needed.Any(_required.Contains))
        {
            throw call.Error($"{what} \"{call.Name}\" needs require \"{needed[0]}\"");
        }

        var groups = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        for (; i < arguments.Count && arguments[i] is TagArgument tag; i++)
        {
            var spec = signature.Tags.FirstOrDefault(t => t.Name == tag.Name)
                ?? throw new SieveException(tag.Line, tag.Column, $"unsupported tag {tag.Name} for {call.Name}");
            if (call.Tags.ContainsKey(tag.Name))
            {
                throw new SieveException(tag.Line, tag.Column, $"{tag.Name} is given twice");
            }

            if (spec.Group is { } group)
            {
                if (groups.TryGetValue(group, out var other))
                {
                    throw new SieveException(tag.Line, tag.Column, $"{tag.Name} cannot be used with {other}");
                }

                groups[group] = tag.Name;
            }

            Argument? parameter = null;
            if (spec.Kind != Kind.Flag)
            {
                parameter = i + 1 < arguments.Count ? arguments[i + 1] : null;
                var ok = spec.Kind == Kind.Number ? parameter is NumberArgument : parameter is StringsArgument { IsList: false };
                if (!ok)
                {
                    throw new SieveException(tag.Line, tag.Column, $"{tag.Name} must be followed by a {(spec.Kind == Kind.Number ? "number" : "string")}");
                }

                i++;
            }

            call.Tags[tag.Name] = parameter;
        }

        foreach (var requiredTag in signature.RequiredTags ?? [])
        {
            if (!call.Tags.ContainsKey(requiredTag) && !groups.ContainsKey(requiredTag))
            {
                throw call.Error(requiredTag.StartsWith(':')
                    ? $"{call.Name} needs {requiredTag}"
                    : $"{call.Name} needs one of {string.Join(", ", signature.Tags.Where(t => t.Group == requiredTag).Select(t => t.Name))}");
            }
        }

        if (call.Tags.ContainsKey(":last") && signature.Tags.Any(t => t.Name == ":index") && !call.Tags.ContainsKey(":index"))
        {
            throw call.Error(":last needs :index here"); // RFC 5293 deleteheader
        }

        var positional = arguments.Skip(i).ToList();
        var required = signature.Required ?? signature.Positional.Length;
        if (positional.Count < required || positional.Count > signature.Positional.Length)
        {
            var where = positional.Count > 0 ? positional[0] : null;
            var count = required == signature.Positional.Length ? $"{required}" : $"{required} to {signature.Positional.Length}";
            var problem = $"{call.Name} takes {count} argument{(signature.Positional.Length == 1 ? "" : "s")} after its tags, not {positional.Count}";
            throw where is TagArgument misplaced
                ? new SieveException(misplaced.Line, misplaced.Column, $"unsupported tag {misplaced.Name} for {call.Name}")
                : where is null ? call.Error(problem) : new SieveException(where.Line, where.Column, problem);
        }

        for (var p = 0; p < positional.Count; p++)
        {
            var argument = positional[p];
            var ok = signature.Positional[p] switch
            {
                Kind.String => argument is StringsArgument { IsList: false },
                Kind.StringList => argument is StringsArgument,
                _ => argument is NumberArgument,
            };
            if (!ok)
            {
                var expected = signature.Positional[p] switch { Kind.String => "a string", Kind.StringList => "a string or string list", _ => "a number" };
                throw new SieveException(argument.Line, argument.Column, $"argument {p + 1} of {call.Name} must be {expected}");
            }

            call.Positional.Add(argument);
        }

        if (call.Has(":raw") && !_required.Contains(SieveScript.Extension))
        {
            throw call.Error($":raw needs require \"{SieveScript.Extension}\"");
        }

        if (call.Has(":raw") && call.Positional.Count == 1)
        {
            throw call.Error(":raw needs the field name and the value as two arguments");
        }

        if (call.Name == "addtag" && call.String(0).IndexOfAny(['\r', '\n', '\0', '|']) >= 0)
        {
            // Messaging Server keeps tags separated by '|'; a line break would write a header line of its own.
            throw new SieveException(call.Positional[0].Line, call.Positional[0].Column, "a tag may not hold a line break, a NUL or '|'");
        }

        if (call.TagString(":comparator") is { } comparator && comparator is not ("i;ascii-casemap" or "i;octet"))
        {
            throw call.Error($"unsupported comparator \"{comparator}\"");
        }

        if (call.Name == "envelope")
        {
            foreach (var part in call.Strings(0))
            {
                if (!part.Equals("from", StringComparison.OrdinalIgnoreCase) && !part.Equals("to", StringComparison.OrdinalIgnoreCase))
                {
                    throw new SieveException(call.Positional[0].Line, call.Positional[0].Column, $"unsupported envelope part \"{part}\" (from or to)");
                }
            }
        }
    }

    private void Expect(TokenKind kind, string what)
    {
        var token = _lexer.Next();
        if (token.Kind != kind)
        {
            throw new SieveException(token.Line, token.Column, $"expected {what}, found {token.Describe()}");
        }
    }

    private sealed record TagSpec(string Name, Kind Kind, string? Group);

    /// <summary>What a command or test takes; any one of <paramref name="capabilities"/> must have been required.</summary>
    private sealed class Signature(
        string[]? capabilities,
        TagSpec[]? tags = null,
        Kind[]? positional = null,
        int? required = null,
        string[]? requiredTags = null)
    {
        public string[]? Capabilities { get; } = capabilities;

        public TagSpec[] Tags { get; } = tags ?? [];

        public Kind[] Positional { get; } = positional ?? [];

        /// <summary>How many positional arguments must be given (the rest are optional); null: all.</summary>
        public int? Required { get; } = required;

        /// <summary>Tags (":index") or tag groups ("size") that must be given.</summary>
        public string[]? RequiredTags { get; } = requiredTags;
    }

    private enum TokenKind
    {
        Identifier,
        Tag,
        Number,
        String,
        OpenBracket,
        CloseBracket,
        OpenParen,
        CloseParen,
        OpenBrace,
        CloseBrace,
        Comma,
        Semicolon,
        End,
    }

    private sealed record Token(TokenKind Kind, string Text, long Number, int Line, int Column)
    {
        public string Describe() => Kind switch
        {
            TokenKind.End => "the end of the script",
            TokenKind.String => "a string",
            TokenKind.Number => $"the number {Text}",
            TokenKind.Tag => $"the tag :{Text}",
            TokenKind.Identifier => $"\"{Text}\"",
            _ => $"\"{Text}\"",
        };
    }

    /// <summary>RFC 5228 §2 and §8.1 lexical rules: comments, quoted and multi-line strings, numbers with K/M/G.</summary>
    private sealed class Lexer(string text)
    {
        private int _position;
        private int _line = 1;
        private int _lineStart;
        private Token? _peeked;

        public Token Peek() => _peeked ??= Read();

        public Token Next()
        {
            var token = Peek();
            _peeked = null;
            return token;
        }

        private int Column => _position - _lineStart + 1;

        private Token Read()
        {
            SkipBlanksAndComments();
            var (line, column) = (_line, Column);
            if (_position >= text.Length)
            {
                return new Token(TokenKind.End, string.Empty, 0, line, column);
            }

            var c = text[_position];
            switch (c)
            {
                case '[': _position++; return new Token(TokenKind.OpenBracket, "[", 0, line, column);
                case ']': _position++; return new Token(TokenKind.CloseBracket, "]", 0, line, column);
                case '(': _position++; return new Token(TokenKind.OpenParen, "(", 0, line, column);
                case ')': _position++; return new Token(TokenKind.CloseParen, ")", 0, line, column);
                case '{': _position++; return new Token(TokenKind.OpenBrace, "{", 0, line, column);
                case '}': _position++; return new Token(TokenKind.CloseBrace, "}", 0, line, column);
                case ',': _position++; return new Token(TokenKind.Comma, ",", 0, line, column);
                case ';': _position++; return new Token(TokenKind.Semicolon, ";", 0, line, column);
                case '"': return QuotedString(line, column);
                case ':':
                    _position++;
                    var tag = Word();
                    return tag.Length > 0
                        ? new Token(TokenKind.Tag, tag, 0, line, column)
                        : throw new SieveException(line, column, "a tag needs a name after the colon");
            }

            if (char.IsAsciiDigit(c))
            {
                return NumberToken(line, column);
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                var word = Word();
                if (word.Equals("text", StringComparison.OrdinalIgnoreCase) && _position < text.Length && text[_position] == ':')
                {
                    _position++;
                    return MultiLineString(line, column);
                }

                return new Token(TokenKind.Identifier, word, 0, line, column);
            }

            throw new SieveException(line, column, $"unexpected character '{c}'");
        }

        private string Word()
        {
            var start = _position;
            while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_'))
            {
                _position++;
            }

            return text[start.._position];
        }

        private Token NumberToken(int line, int column)
        {
            var start = _position;
            while (_position < text.Length && char.IsAsciiDigit(text[_position]))
            {
                _position++;
            }

            var digits = text[start.._position];
            long multiplier = 1;
            if (_position < text.Length && char.ToUpperInvariant(text[_position]) is 'K' or 'M' or 'G')
            {
                multiplier = char.ToUpperInvariant(text[_position++]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            }

            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > long.MaxValue / multiplier)
            {
                throw new SieveException(line, column, $"the number {digits} is too large");
            }

            return new Token(TokenKind.Number, text[start.._position], value * multiplier, line, column);
        }

        private Token QuotedString(int line, int column)
        {
            _position++; // the opening quote
            var value = new StringBuilder();
            while (true)
            {
                if (_position >= text.Length)
                {
                    throw new SieveException(line, column, "the string is not closed (a \" is missing)");
                }

                var c = text[_position++];
                if (c == '"')
                {
                    return new Token(TokenKind.String, value.ToString(), 0, line, column);
                }

                if (c == '\\' && _position < text.Length)
                {
                    c = text[_position++]; // RFC 5228 §2.4.2: \" and \\ escape; any other backslash is dropped
                }

                if (c == '\n')
                {
                    NewLine();
                }

                value.Append(c);
            }
        }

        /// <summary>RFC 5228 §2.4.2 multi-line string: lines up to a lone "."; a leading ".." is unstuffed; lines end in CRLF.</summary>
        private Token MultiLineString(int line, int column)
        {
            while (_position < text.Length && text[_position] is ' ' or '\t')
            {
                _position++;
            }

            if (_position < text.Length && text[_position] == '#')
            {
                while (_position < text.Length && text[_position] != '\n')
                {
                    _position++;
                }
            }

            if (_position < text.Length && text[_position] == '\r')
            {
                _position++;
            }

            if (_position >= text.Length || text[_position] != '\n')
            {
                throw new SieveException(line, column, "text: must be followed by the end of the line");
            }

            _position++;
            NewLine();
            var value = new StringBuilder();
            while (_position < text.Length)
            {
                var end = text.IndexOf('\n', _position);
                var raw = end < 0 ? text[_position..] : text[_position..end];
                _position = end < 0 ? text.Length : end + 1;
                NewLine();
                var content = raw.TrimEnd('\r');
                if (content == ".")
                {
                    return new Token(TokenKind.String, value.ToString(), 0, line, column);
                }

                value.Append(content.StartsWith("..", StringComparison.Ordinal) ? content[1..] : content).Append("\r\n");
            }

            throw new SieveException(line, column, "the multi-line string has no closing \".\" line");
        }

        private void SkipBlanksAndComments()
        {
            while (_position < text.Length)
            {
                var c = text[_position];
                if (c == '\n')
                {
                    _position++;
                    NewLine();
                }
                else if (c is ' ' or '\t' or '\r')
                {
                    _position++;
                }
                else if (c == '#')
                {
                    while (_position < text.Length && text[_position] != '\n')
                    {
                        _position++;
                    }
                }
                else if (c == '/' && _position + 1 < text.Length && text[_position + 1] == '*')
                {
                    var (line, column) = (_line, Column);
                    _position += 2;
                    while (_position < text.Length && !(text[_position] == '*' && _position + 1 < text.Length && text[_position + 1] == '/'))
                    {
                        if (text[_position++] == '\n')
                        {
                            NewLine();
                        }
                    }

                    if (_position >= text.Length)
                    {
                        throw new SieveException(line, column, "the comment is not closed (*/ is missing)");
                    }

                    _position += 2;
                }
                else
                {
                    return;
                }
            }
        }

        private void NewLine()
        {
            _line++;
            _lineStart = _position;
        }
    }
}
