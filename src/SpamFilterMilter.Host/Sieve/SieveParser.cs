namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// Parses Sieve (RFC 5228 §8 grammar) and checks every command and test against the subset this
/// interpreter runs, so that an unsupported command is an error before anything runs, even in a branch
/// that would not be taken.
/// </summary>
internal sealed class SieveParser
{
    private readonly SieveLexer _lexer;
    private readonly HashSet<string> _required = new(StringComparer.Ordinal);

    private SieveParser(string text) => _lexer = new SieveLexer(text);

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

        Bind(call, arguments, SieveGrammar.Commands, "command");
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

        Bind(call, arguments, SieveGrammar.Tests, "test");
        return call;
    }

    /// <summary>
    /// Checks a command or test the parser does not read itself against its signature in <paramref name="signatures"/>
    /// (it took no test: only if, elsif, else, not, allof and anyof read one).
    /// </summary>
    private void Bind(Call call, List<Argument> arguments, IReadOnlyDictionary<string, SieveGrammar.Signature> signatures, string what)
    {
        if (!signatures.TryGetValue(call.Name, out var signature))
        {
            throw call.Error($"unsupported {what} \"{call.Name}\"");
        }

        signature.Bind(call, arguments, what, _required);
    }

    private void Require(Call call, List<Argument> arguments)
    {
        if (arguments is not [StringsArgument capabilities] || call.Tests.Count > 0)
        {
            throw call.Error("require takes one string or string list");
        }

        foreach (var capability in capabilities.Values)
        {
            if (!SieveGrammar.Capabilities.Contains(capability))
            {
                throw new SieveException(capabilities.Line, capabilities.Column, $"unsupported capability \"{capability}\"");
            }

            _required.Add(capability);
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
}
