using System.Reflection;
using System.Reflection.Emit;

namespace SpamFilterMilter.Host.Tests.Support;

/// <summary>
/// Which namespace of an assembly uses which, read from the compiled code with reflection: base types and
/// interfaces, attributes, fields, properties, events, method signatures and locals, and every type, method
/// and field a method body names (the metadata tokens of call, newobj, ldfld, castclass, ldtoken, ...).
/// Compiler-made types (closures, async state machines) count for the namespace of the type they belong to.
/// Each edge keeps one example (a type and what it uses), so that a failure says where to look.
/// </summary>
public sealed class NamespaceDependencies
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every one-byte and two-byte IL opcode by its value, to walk method bodies.</summary>
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private readonly string _prefix;
    private readonly SortedDictionary<string, SortedDictionary<string, string>> _edges = new(StringComparer.Ordinal);

    private NamespaceDependencies(string prefix) => _prefix = prefix;

    /// <summary>The namespaces below <paramref name="rootNamespace"/> (named without it, e.g. <c>Sieve</c>) and whom each uses.</summary>
    public static NamespaceDependencies Of(Assembly assembly, string rootNamespace)
    {
        var dependencies = new NamespaceDependencies(rootNamespace + ".");
        foreach (var type in assembly.GetTypes())
        {
            if (dependencies.Room(type) is { } room)
            {
                dependencies._edges.TryAdd(room, new SortedDictionary<string, string>(StringComparer.Ordinal));
                dependencies.Read(type, room);
            }
        }

        return dependencies;
    }

    /// <summary>The namespaces found, in order.</summary>
    public IReadOnlyCollection<string> Namespaces => _edges.Keys;

    /// <summary>The namespaces <paramref name="from"/> uses, in order.</summary>
    public IReadOnlyCollection<string> Uses(string from) => _edges.TryGetValue(from, out var to) ? to.Keys : [];

    /// <summary>Why <paramref name="from"/> uses <paramref name="to"/>: one example, e.g. <c>Sieve.SieveScript uses Configuration.Wildcard</c>.</summary>
    public string Why(string from, string to) => _edges[from][to];

    /// <summary>Every cycle (a strongly connected group of two or more namespaces), each as a path that comes back to its start.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Cycles()
    {
        var cycles = new List<IReadOnlyList<string>>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var start in _edges.Keys)
        {
            if (done.Contains(start) || PathBack(start, start, []) is not { } path)
            {
                continue;
            }

            cycles.Add(path);
            done.UnionWith(path);
        }

        return cycles;
    }

    /// <summary>The graph in words, one line per namespace: <c>Sieve → Editing</c>.</summary>
    public override string ToString() => string.Join('\n', _edges.Select(e => $"{e.Key} → {(e.Value.Count == 0 ? "(nothing)" : string.Join(", ", e.Value.Keys))}"));

    /// <summary>A path from <paramref name="at"/> back to <paramref name="start"/>, or null.</summary>
    private List<string>? PathBack(string start, string at, List<string> path)
    {
        path = [.. path, at];
        foreach (var next in Uses(at))
        {
            if (next == start)
            {
                return [.. path, start];
            }

            if (!path.Contains(next) && PathBack(start, next, path) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>The namespace of <paramref name="type"/> below the root, or null for a type from elsewhere.</summary>
    private string? Room(Type type)
    {
        var name = type.Namespace;
        return name is not null && name.StartsWith(_prefix, StringComparison.Ordinal) ? name[_prefix.Length..] : null;
    }

    private void Read(Type type, string room)
    {
        Use(room, type, type.BaseType);
        foreach (var used in type.GetInterfaces())
        {
            Use(room, type, used);
        }

        UseAttributes(room, type, type.CustomAttributes);
        foreach (var field in type.GetFields(Declared))
        {
            Use(room, type, field.FieldType);
            UseAttributes(room, type, field.CustomAttributes);
        }

        foreach (var property in type.GetProperties(Declared))
        {
            Use(room, type, property.PropertyType);
        }

        foreach (var @event in type.GetEvents(Declared))
        {
            Use(room, type, @event.EventHandlerType);
        }

        foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            UseSignature(room, type, method);
            UseAttributes(room, type, method.CustomAttributes);
            if (method.GetMethodBody() is { } body)
            {
                foreach (var local in body.LocalVariables)
                {
                    Use(room, type, local.LocalType);
                }

                foreach (var clause in body.ExceptionHandlingClauses.Where(c => c.Flags == ExceptionHandlingClauseOptions.Clause))
                {
                    Use(room, type, clause.CatchType);
                }

                UseBody(room, type, method, body.GetILAsByteArray() ?? []);
            }
        }
    }

    private void UseSignature(string room, Type type, MethodBase method)
    {
        if (method is MethodInfo info)
        {
            Use(room, type, info.ReturnType);
        }

        foreach (var parameter in method.GetParameters())
        {
            Use(room, type, parameter.ParameterType);
        }

        if (method.IsGenericMethod)
        {
            foreach (var argument in method.GetGenericArguments())
            {
                Use(room, type, argument);
            }
        }
    }

    private void UseAttributes(string room, Type type, IEnumerable<CustomAttributeData> attributes)
    {
        foreach (var attribute in attributes)
        {
            Use(room, type, attribute.AttributeType);
        }
    }

    /// <summary>Walks the IL of a method body and follows every token that names a type, a method or a field.</summary>
    private void UseBody(string room, Type type, MethodBase method, byte[] il)
    {
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var position = 0;
        while (position < il.Length)
        {
            short value = il[position++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[position++]);
            }

            var opCode = OpCodesByValue[value];
            var operandStart = position;
            position += OperandSize(opCode.OperandType, il, position);
            if (opCode.OperandType is OperandType.InlineType or OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok)
            {
                var token = BitConverter.ToInt32(il, operandStart);
                UseMember(room, type, method.Module.ResolveMember(token, typeArguments, methodArguments));
            }
        }
    }

    private void UseMember(string room, Type type, MemberInfo? member)
    {
        switch (member)
        {
            case Type used:
                Use(room, type, used);
                break;
            case FieldInfo field:
                Use(room, type, field.DeclaringType);
                Use(room, type, field.FieldType);
                break;
            case MethodBase method:
                Use(room, type, method.DeclaringType);
                UseSignature(room, type, method);
                break;
        }
    }

    private static int OperandSize(OperandType operand, byte[] il, int position) => operand switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, position)),
        _ => 4,
    };

    /// <summary>Records that <paramref name="type"/> (in <paramref name="room"/>) uses <paramref name="used"/>, and the types it is made of.</summary>
    private void Use(string room, Type type, Type? used)
    {
        if (used is null || used.IsGenericParameter)
        {
            return;
        }

        if (used.HasElementType)
        {
            Use(room, type, used.GetElementType());
            return;
        }

        if (used.IsGenericType && !used.IsGenericTypeDefinition)
        {
            foreach (var argument in used.GetGenericArguments())
            {
                Use(room, type, argument);
            }

            used = used.GetGenericTypeDefinition();
        }

        if (Room(used) is { } target && target != room)
        {
            _edges[room].TryAdd(target, $"{Name(type)} uses {Name(used)}");
        }
    }

    /// <summary>A type's name below the root, the outermost type only (a closure is its method's type).</summary>
    private string Name(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return $"{Room(type)}.{type.Name}";
    }
}
