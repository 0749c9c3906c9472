using Dialect = SpamFilterMilter.Contract.ActionStringDialect;
namespace SpamFilterMilter.Host.Sieve;

/// <summary>
/// The subset of Sieve this interpreter runs, as a table: the capabilities <c>require</c> accepts, and for
/// every command and test its signature (the capability it needs, its tags, its positional arguments),
/// with the check of a parsed call against it.
/// </summary>
internal static class SieveGrammar
{
    /// <summary>Capabilities <c>require</c> accepts. <c>addheader</c> is Messaging Server's older name for its header command.</summary>
    public static IReadOnlySet<string> Capabilities { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "fileinto", "reject", "ereject", "editheader", "addheader", "envelope", Dialect.Capability,
        "comparator-i;octet", "comparator-i;ascii-casemap",
    };

    /// <summary>The commands other than require, if, elsif and else (which the parser reads itself).</summary>
    public static IReadOnlyDictionary<string, Signature> Commands { get; } = new Dictionary<string, Signature>(StringComparer.Ordinal)
    {
        ["keep"] = new(null),
        ["discard"] = new(null),
        ["stop"] = new(null),
        ["fileinto"] = new(["fileinto"], positional: [Kind.String]),
        ["redirect"] = new(null, positional: [Kind.String]),
        ["reject"] = new(["reject"], positional: [Kind.String]),
        ["ereject"] = new(["ereject"], positional: [Kind.String]),
        ["addheader"] = new(["editheader", "addheader"], tags: [Flag(Dialect.LastTag), Flag(Dialect.RawTag), Flag(Dialect.Base64Tag)], positional: [Kind.String, Kind.String], required: 1),
        ["deleteheader"] = new(["editheader"], tags: [Number(Dialect.IndexTag), Flag(Dialect.LastTag), .. MatchTags], positional: [Kind.String, Kind.StringList], required: 1),
        ["addtag"] = new(null, positional: [Kind.String]),
        [Dialect.TempFail] = new([Dialect.Capability], positional: [Kind.String]),
        [Dialect.Quarantine] = new([Dialect.Capability], positional: [Kind.String]),
        [Dialect.InsertHeader] = new([Dialect.Capability], tags: [Number(Dialect.IndexTag), Flag(Dialect.RawTag), Flag(Dialect.Base64Tag)], positional: [Kind.String, Kind.String], requiredTags: [Dialect.IndexTag]),
        [Dialect.ReplaceHeader] = new([Dialect.Capability], tags: [Number(Dialect.IndexTag), Flag(Dialect.RawTag), Flag(Dialect.Base64Tag)], positional: [Kind.String, Kind.String], requiredTags: [Dialect.IndexTag]),
        [Dialect.AddRecipient] = new([Dialect.Capability], positional: [Kind.String, Kind.StringList], required: 1),
        [Dialect.DeleteRecipient] = new([Dialect.Capability], positional: [Kind.String]),
        [Dialect.ChangeSender] = new([Dialect.Capability], positional: [Kind.String, Kind.StringList], required: 1),
        [Dialect.ReplaceBody] = new([Dialect.Capability], tags: [Flag(Dialect.VerdictTag)], positional: [Kind.String], required: 0),
        [Dialect.RejectRecipient] = new([Dialect.Capability], positional: [Kind.String, Kind.String]),
    };

    /// <summary>The tests other than not, allof and anyof (which the parser reads itself).</summary>
    public static IReadOnlyDictionary<string, Signature> Tests { get; } = new Dictionary<string, Signature>(StringComparer.Ordinal)
    {
        ["true"] = new(null),
        ["false"] = new(null),
        ["header"] = new(null, tags: MatchTags, positional: [Kind.StringList, Kind.StringList]),
        ["address"] = new(null, tags: [.. MatchTags, .. AddressPartTags], positional: [Kind.StringList, Kind.StringList]),
        ["envelope"] = new(["envelope"], tags: [.. MatchTags, .. AddressPartTags], positional: [Kind.StringList, Kind.StringList]),
        ["exists"] = new(null, positional: [Kind.StringList]),
        ["size"] = new(null, tags: [new(":over", Kind.Number, "size"), new(":under", Kind.Number, "size")], requiredTags: ["size"]),
    };

    /// <summary>The kind of an argument, or of a tag's parameter (<see cref="Flag"/>: none).</summary>
    public enum Kind
    {
        String,
        StringList,
        Number,
        Flag,
    }

    private static TagSpec[] MatchTags => [new(":comparator", Kind.String, null), Flag(":is", "match"), Flag(":contains", "match"), Flag(":matches", "match")];

    private static TagSpec[] AddressPartTags => [Flag(":all", "part"), Flag(":localpart", "part"), Flag(":domain", "part")];

    private static TagSpec Flag(string name, string? group = null) => new(name, Kind.Flag, group);

    private static TagSpec Number(string name) => new(name, Kind.Number, null);

    /// <summary>A tag a command or test accepts: its parameter, and the group of tags it excludes the others of (<c>match</c>, <c>part</c>, <c>size</c>).</summary>
    public sealed record TagSpec(string Name, Kind Kind, string? Group);

    /// <summary>What a command or test takes; any one of <paramref name="capabilities"/> must have been required.</summary>
    public sealed class Signature(
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

        /// <summary>Checks the tags and positional arguments of <paramref name="call"/> against this signature and the capabilities <paramref name="requiredCapabilities"/> so far.</summary>
        public void Bind(Call call, List<Argument> arguments, string what, IReadOnlySet<string> requiredCapabilities)
        {
            if (Capabilities is { } needed && !needed.Any(requiredCapabilities.Contains))
            {
                throw call.Error($"{what} \"{call.Name}\" needs require \"{needed[0]}\"");
            }

            var groups = new Dictionary<string, string>(StringComparer.Ordinal);
            var i = 0;
            for (; i < arguments.Count && arguments[i] is TagArgument tag; i++)
            {
                var spec = Tags.FirstOrDefault(t => t.Name == tag.Name)
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

            foreach (var requiredTag in RequiredTags ?? [])
            {
                if (!call.Tags.ContainsKey(requiredTag) && !groups.ContainsKey(requiredTag))
                {
                    throw call.Error(requiredTag.StartsWith(':')
                        ? $"{call.Name} needs {requiredTag}"
                        : $"{call.Name} needs one of {string.Join(", ", Tags.Where(t => t.Group == requiredTag).Select(t => t.Name))}");
                }
            }

            if (call.Tags.ContainsKey(":last") && Tags.Any(t => t.Name == ":index") && !call.Tags.ContainsKey(":index"))
            {
                throw call.Error(":last needs :index here"); // RFC 5293 deleteheader
            }

            var positional = arguments.Skip(i).ToList();
            var required = Required ?? Positional.Length;
            if (positional.Count < required || positional.Count > Positional.Length)
            {
                var where = positional.Count > 0 ? positional[0] : null;
                var count = required == Positional.Length ? $"{required}" : $"{required} to {Positional.Length}";
                var problem = $"{call.Name} takes {count} argument{(Positional.Length == 1 ? "" : "s")} after its tags, not {positional.Count}";
                throw where is TagArgument misplaced
                    ? new SieveException(misplaced.Line, misplaced.Column, $"unsupported tag {misplaced.Name} for {call.Name}")
                    : where is null ? call.Error(problem) : new SieveException(where.Line, where.Column, problem);
            }

            for (var p = 0; p < positional.Count; p++)
            {
                var argument = positional[p];
                var ok = Positional[p] switch
                {
                    Kind.String => argument is StringsArgument { IsList: false },
                    Kind.StringList => argument is StringsArgument,
                    _ => argument is NumberArgument,
                };
                if (!ok)
                {
                    var expected = Positional[p] switch { Kind.String => "a string", Kind.StringList => "a string or string list", _ => "a number" };
                    throw new SieveException(argument.Line, argument.Column, $"argument {p + 1} of {call.Name} must be {expected}");
                }

                call.Positional.Add(argument);
            }

            foreach (var vendorTag in new[] { Dialect.RawTag, Dialect.Base64Tag })
            {
                if (call.Has(vendorTag) && !requiredCapabilities.Contains(Dialect.Capability))
                {
                    throw call.Error($"{vendorTag} needs require \"{Dialect.Capability}\"");
                }

                if (call.Has(vendorTag) && call.Positional.Count == 1)
                {
                    throw call.Error($"{vendorTag} needs the field name and the value as two arguments");
                }
            }

            if (call.Name == Dialect.ReplaceBody && call.Has(Dialect.VerdictTag) == (call.Positional.Count == 1))
            {
                // The body is either written in the script or the verdict's own: exactly one of the two.
                throw call.Error($"{Dialect.ReplaceBody} takes the new body in base64 or {Dialect.VerdictTag}, one of the two");
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
    }
}
