using Fathom.Context.Imports;

namespace Fathom.Context;

/// <summary>The language of a source file, from its extension, as far as imports are concerned.</summary>
public enum SourceLanguage
{
    Other,
    CSharp,
    Python,
    JavaScript,
    Go,
    Java,
    C,
    Rust,
}

/// <summary>
/// Which file imports which, from each language's import statements resolved to files of the same tree:
/// C# using → files declaring that namespace; Python modules (absolute and relative); JS/TS relative specifiers
/// with extension and index resolution; Go import paths under a go.mod's module path; Java imports by package
/// path; C/C++ <c>#include "…"</c>; Rust <c>mod</c> and <c>use crate::/super::/self::</c>. Unresolvable imports
/// (libraries) are ignored. A C# namespace is one extra (hidden) node between its users and its declaring files,
/// so a namespace of n files used by m files costs n + m edges, not n × m.
/// </summary>
public sealed class ImportGraph
{
    private readonly int[][] _deps;
    private readonly Dictionary<string, int> _index;

    /// <summary>Nodes 0..Paths.Count-1 are files; the rest are C# namespaces.</summary>
    private ImportGraph(IReadOnlyList<string> paths, int[][] deps)
    {
        Paths = paths;
        _deps = deps;
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < paths.Count; i++)
            _index[paths[i]] = i;
    }

    /// <summary>The files, sorted by path (ordinal); node i is Paths[i].</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>The files file <paramref name="node"/> imports (sorted, no self-edges), namespaces expanded to their files.</summary>
    public IReadOnlyList<int> Dependencies(int node)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(node);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(node, Paths.Count);
        var set = new HashSet<int>();
        foreach (int d in _deps[node])
        {
            if (d < Paths.Count)
                set.Add(d);
            else
                set.UnionWith(_deps[d]);
        }
        set.Remove(node);
        int[] result = [.. set];
        Array.Sort(result);
        return result;
    }

    public IReadOnlyList<string> DependenciesOf(string path) =>
        _index.TryGetValue(path, out int i) ? Dependencies(i).Select(d => Paths[d]).ToList() : throw new KeyNotFoundException(path);

    /// <summary>Edges stored: file → file, file → namespace and namespace → declaring file.</summary>
    public int EdgeCount => _deps.Sum(d => d.Length);

    public static SourceLanguage LanguageOf(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".cs" => SourceLanguage.CSharp,
            ".py" or ".pyi" => SourceLanguage.Python,
            ".js" or ".jsx" or ".mjs" or ".cjs" or ".ts" or ".tsx" or ".mts" or ".cts" => SourceLanguage.JavaScript,
            ".go" => SourceLanguage.Go,
            ".java" or ".kt" => SourceLanguage.Java,
            ".c" or ".h" or ".cc" or ".cpp" or ".cxx" or ".hpp" or ".hh" or ".hxx" or ".ipp" or ".inl" or ".m" or ".mm" => SourceLanguage.C,
            ".rs" => SourceLanguage.Rust,
            _ => SourceLanguage.Other,
        };
    }

    public static ImportGraph Build(IReadOnlyList<RepoFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var sorted = files.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        var resolver = new Resolver(sorted);
        var deps = new List<int[]>(sorted.Count);
        for (int i = 0; i < sorted.Count; i++)
        {
            var set = new HashSet<int>();
            resolver.Resolve(i, set);
            set.Remove(i);
            int[] d = [.. set];
            Array.Sort(d);
            deps.Add(d);
        }
        deps.AddRange(resolver.NamespaceNodes());
        return new ImportGraph(sorted.Select(f => f.Path).ToList(), [.. deps]);
    }

    /// <summary>
    /// Nodes ordered so that each file comes after the files it imports. Files in an import cycle (a strongly connected
    /// component) come together, by path; among independent files the one with the smaller path comes first.
    /// </summary>
    public int[] TopologicalOrder()
    {
        int files = Paths.Count, n = _deps.Length;
        int[] component = StronglyConnectedComponents(out int count);
        var members = new List<int>[count];
        for (int c = 0; c < count; c++)
            members[c] = [];
        for (int v = 0; v < n; v++)
            members[component[v]].Add(v);
        // Component c must wait for the components its members import.
        var waitingOn = new int[count];
        var users = new List<int>[count];
        for (int c = 0; c < count; c++)
            users[c] = [];
        var seenEdge = new HashSet<(int, int)>();
        for (int v = 0; v < n; v++)
        {
            foreach (int d in _deps[v])
            {
                int cv = component[v], cd = component[d];
                if (cv != cd && seenEdge.Add((cv, cd)))
                {
                    waitingOn[cv]++;
                    users[cd].Add(cv);
                }
            }
        }
        // Ready components, keyed by their smallest member (paths are sorted, so that is the smallest path); a
        // namespace-only component writes nothing and goes first.
        int Key(int c) => members[c][0] < files ? members[c][0] : -1;
        var ready = new SortedSet<(int Key, int Component)>();
        for (int c = 0; c < count; c++)
        {
            if (waitingOn[c] == 0)
                ready.Add((Key(c), c));
        }
        var order = new List<int>(files);
        while (ready.Count > 0)
        {
            var next = ready.Min;
            ready.Remove(next);
            order.AddRange(members[next.Component].Where(v => v < files));
            foreach (int u in users[next.Component])
            {
                if (--waitingOn[u] == 0)
                    ready.Add((Key(u), u));
            }
        }
        return [.. order];
    }

    /// <summary>PageRank over import edges (a file imported by many central files is central); deterministic, sums to 1.</summary>
    public double[] PageRank(int iterations = 40, double damping = 0.85)
    {
        int files = Paths.Count, n = _deps.Length;
        if (files == 0)
            return [];
        var rank = new double[n];
        var next = new double[n];
        Array.Fill(rank, 1.0 / n);
        for (int it = 0; it < iterations; it++)
        {
            double dangling = 0;
            for (int v = 0; v < n; v++)
            {
                if (_deps[v].Length == 0)
                    dangling += rank[v];
            }
            double baseRank = (1 - damping) / n + damping * dangling / n;
            Array.Fill(next, baseRank);
            for (int v = 0; v < n; v++)
            {
                if (_deps[v].Length == 0)
                    continue;
                double share = damping * rank[v] / _deps[v].Length;
                foreach (int d in _deps[v])
                    next[d] += share;
            }
            (rank, next) = (next, rank);
        }
        // Namespace nodes only relay rank; what the files hold is renormalised to sum to 1.
        double sum = 0;
        for (int v = 0; v < files; v++)
            sum += rank[v];
        var result = new double[files];
        for (int v = 0; v < files; v++)
            result[v] = rank[v] / sum;
        return result;
    }

    /// <summary>Tarjan's algorithm, iterative (deep import chains must not overflow the stack).</summary>
    private int[] StronglyConnectedComponents(out int count)
    {
        int n = _deps.Length;
        var index = new int[n];
        var low = new int[n];
        var onStack = new bool[n];
        var component = new int[n];
        Array.Fill(index, -1);
        var stack = new Stack<int>();
        var work = new Stack<(int Node, int Edge)>();
        int counter = 0;
        count = 0;
        for (int s = 0; s < n; s++)
        {
            if (index[s] >= 0)
                continue;
            work.Push((s, 0));
            while (work.Count > 0)
            {
                var (v, e) = work.Pop();
                if (e == 0)
                {
                    index[v] = low[v] = counter++;
                    stack.Push(v);
                    onStack[v] = true;
                }
                bool descended = false;
                for (; e < _deps[v].Length; e++)
                {
                    int w = _deps[v][e];
                    if (index[w] < 0)
                    {
                        work.Push((v, e + 1));
                        work.Push((w, 0));
                        descended = true;
                        break;
                    }
                    if (onStack[w])
                        low[v] = Math.Min(low[v], index[w]);
                }
                if (descended)
                    continue;
                if (low[v] == index[v])
                {
                    int w;
                    do
                    {
                        w = stack.Pop();
                        onStack[w] = false;
                        component[w] = count;
                    } while (w != v);
                    count++;
                }
                if (work.Count > 0)
                {
                    int parent = work.Peek().Node;
                    low[parent] = Math.Min(low[parent], low[v]);
                }
            }
        }
        return component;
    }

    private sealed class Resolver
    {
        private static readonly string[] JsExtensions = [".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.ts"];
        private readonly List<RepoFile> _files;
        private readonly Dictionary<string, int> _byPath = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<int>> _bySuffix = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<int>> _byDirectory = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<int>> _byNamespace = new(StringComparer.Ordinal);
        private readonly List<(string Dir, string Module)> _goModules = [];
        private readonly Dictionary<string, int> _namespaceNode = new(StringComparer.Ordinal);
        private readonly List<string> _namespaceOrder = [];

        public Resolver(List<RepoFile> files)
        {
            _files = files;
            for (int i = 0; i < files.Count; i++)
            {
                string path = files[i].Path;
                _byPath[path] = i;
                Add(_bySuffix, path, i);
                for (int s = path.IndexOf('/'); s >= 0; s = path.IndexOf('/', s + 1))
                    Add(_bySuffix, path[(s + 1)..], i);
                Add(_byDirectory, Dir(path), i);
                if (LanguageOf(path) == SourceLanguage.CSharp)
                {
                    foreach (string ns in CSharpImports.Namespaces(files[i].Content))
                        Add(_byNamespace, ns, i);
                }
                if (Path.GetFileName(path) == "go.mod" && GoImports.ModulePath(files[i].Content) is { } module)
                    _goModules.Add((Dir(path), module));
            }
            // Longest module path first, so nested modules win.
            _goModules.Sort((a, b) => b.Module.Length != a.Module.Length ? b.Module.Length - a.Module.Length : string.CompareOrdinal(a.Dir, b.Dir));
        }

        public void Resolve(int i, HashSet<int> deps)
        {
            var file = _files[i];
            string dir = Dir(file.Path);
            switch (LanguageOf(file.Path))
            {
                case SourceLanguage.CSharp:
                    foreach (string name in CSharpImports.Parse(file.Content))
                    {
                        // `using static N.T` / `using A = N.T` name a type: fall back to its namespace.
                        string? ns = name;
                        while (ns is not null && !_byNamespace.ContainsKey(ns))
                            ns = ns.Contains('.') ? ns[..ns.LastIndexOf('.')] : null;
                        if (ns is not null)
                            deps.Add(NamespaceNode(ns));
                    }
                    break;
                case SourceLanguage.Python:
                    foreach (string module in PythonImports.Parse(file.Content))
                        AddFirst(deps, PythonCandidates(dir, module));
                    break;
                case SourceLanguage.JavaScript:
                    foreach (string spec in JavaScriptImports.Parse(file.Content))
                    {
                        if (spec.StartsWith('.'))
                            AddFirst(deps, JsCandidates(Normalize(Join(dir, spec))));
                    }
                    break;
                case SourceLanguage.Go:
                    foreach (string import in GoImports.Parse(file.Content))
                    {
                        foreach (var (modDir, module) in _goModules)
                        {
                            if (import != module && !import.StartsWith(module + "/", StringComparison.Ordinal))
                                continue;
                            string target = Join(modDir, import[module.Length..].TrimStart('/'));
                            if (_byDirectory.TryGetValue(target, out var inDir))
                                deps.UnionWith(inDir.Where(f => _files[f].Path.EndsWith(".go", StringComparison.Ordinal) && !_files[f].Path.EndsWith("_test.go", StringComparison.Ordinal)));
                            break;
                        }
                    }
                    break;
                case SourceLanguage.Java:
                    foreach (string import in JavaImports.Parse(file.Content))
                    {
                        if (import.EndsWith(".*", StringComparison.Ordinal))
                        {
                            string pkg = import[..^2].Replace('.', '/');
                            foreach (var (d, list) in _byDirectory)
                            {
                                if (d == pkg || d.EndsWith("/" + pkg, StringComparison.Ordinal))
                                    deps.UnionWith(list.Where(f => LanguageOf(_files[f].Path) == SourceLanguage.Java));
                            }
                            continue;
                        }
                        // a.b.C.m (static) → a/b/C/m, then a/b/C.
                        string[] parts = import.Split('.');
                        var candidates = new List<string>();
                        for (int k = parts.Length; k >= 1; k--)
                        {
                            string stem = string.Join('/', parts[..k]);
                            candidates.Add(stem + ".java");
                            candidates.Add(stem + ".kt");
                        }
                        AddFirst(deps, candidates.Select(c => BySuffix(c)));
                    }
                    break;
                case SourceLanguage.C:
                    foreach (string include in CIncludes.Parse(file.Content))
                    {
                        string local = Normalize(Join(dir, include));
                        AddFirst(deps, [Exact(local), Exact(Normalize(include)), BySuffix(Normalize(include))]);
                    }
                    break;
                case SourceLanguage.Rust:
                    foreach (string use in RustImports.Parse(file.Content))
                        AddFirst(deps, RustCandidates(file.Path, use));
                    break;
            }
        }

        private int NamespaceNode(string ns)
        {
            if (!_namespaceNode.TryGetValue(ns, out int node))
            {
                _namespaceNode[ns] = node = _files.Count + _namespaceOrder.Count;
                _namespaceOrder.Add(ns);
            }
            return node;
        }

        /// <summary>The edges of each namespace node (to its declaring files), in node order.</summary>
        public IEnumerable<int[]> NamespaceNodes() => _namespaceOrder.Select(ns => _byNamespace[ns].Distinct().Order().ToArray());

        private IEnumerable<int?> PythonCandidates(string dir, string module)
        {
            int dots = module.TakeWhile(c => c == '.').Count();
            string rest = module[dots..].Replace('.', '/');
            if (dots > 0)
            {
                string baseDir = dir;
                for (int k = 1; k < dots; k++)
                    baseDir = Dir(baseDir);
                string stem = Join(baseDir, rest);
                if (rest.Length == 0)
                {
                    yield return Exact(Join(stem, "__init__.py"));
                    yield break;
                }
                yield return Exact(stem + ".py");
                yield return Exact(stem + ".pyi");
                yield return Exact(stem + "/__init__.py");
                yield break;
            }
            yield return BySuffix(rest + ".py");
            yield return BySuffix(rest + ".pyi");
            yield return BySuffix(rest + "/__init__.py");
        }

        private IEnumerable<int?> JsCandidates(string target)
        {
            yield return Exact(target);
            string stripped = target;
            foreach (string ext in (string[])[".js", ".jsx", ".mjs", ".cjs"])
            {
                // TypeScript ESM imports name the compiled file: ./x.js means ./x.ts.
                if (target.EndsWith(ext, StringComparison.Ordinal))
                    stripped = target[..^ext.Length];
            }
            foreach (string ext in JsExtensions)
                yield return Exact(stripped + ext);
            foreach (string ext in JsExtensions)
                yield return Exact(target + "/index" + ext);
        }

        private IEnumerable<int?> RustCandidates(string path, string use)
        {
            string dir = Dir(path);
            string name = Path.GetFileName(path);
            bool isModRoot = name is "mod.rs" or "lib.rs" or "main.rs";
            // Where this file's child modules live, and where its parent's do.
            string selfDir = isModRoot ? dir : Join(dir, Path.GetFileNameWithoutExtension(name));
            string superDir = isModRoot ? Dir(dir) : dir;
            if (use.StartsWith("mod ", StringComparison.Ordinal))
            {
                string m = use[4..];
                yield return Exact(Join(selfDir, m + ".rs"));
                yield return Exact(Join(selfDir, m + "/mod.rs"));
                yield break;
            }
            string[] parts = use.Split("::");
            string start = parts[0] switch
            {
                "crate" => CrateSrc(path),
                "super" => superDir,
                _ => selfDir,
            };
            for (int k = parts.Length; k >= 2; k--)
            {
                string stem = Join(start, string.Join('/', parts[1..k]));
                yield return Exact(stem + ".rs");
                yield return Exact(stem + "/mod.rs");
            }
        }

        private string CrateSrc(string path)
        {
            // The nearest ancestor holding Cargo.toml; its src/ is the crate root.
            for (string d = Dir(path); ; d = Dir(d))
            {
                if (_byPath.ContainsKey(Join(d, "Cargo.toml")))
                    return Join(d, "src");
                if (d.Length == 0)
                    return "src";
            }
        }

        private static void AddFirst(HashSet<int> deps, IEnumerable<int?> candidates)
        {
            foreach (int? c in candidates)
            {
                if (c is { } found)
                {
                    deps.Add(found);
                    return;
                }
            }
        }

        private int? Exact(string path) => path.Length > 0 && _byPath.TryGetValue(path, out int i) ? i : null;

        /// <summary>The file whose path is or ends with /suffix; several: the shortest path, then ordinal.</summary>
        private int? BySuffix(string suffix)
        {
            if (!_bySuffix.TryGetValue(suffix, out var list))
                return null;
            int best = list[0];
            foreach (int i in list)
            {
                if (_files[i].Path.Length < _files[best].Path.Length)
                    best = i;
            }
            return best;
        }

        private static void Add(Dictionary<string, List<int>> map, string key, int value)
        {
            if (!map.TryGetValue(key, out var list))
                map[key] = list = [];
            list.Add(value);
        }
    }

    internal static string Dir(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? "" : path[..slash];
    }

    private static string Join(string dir, string rest) => dir.Length == 0 ? rest : rest.Length == 0 ? dir : dir + "/" + rest;

    /// <summary>Resolves "." and ".." segments; a path that climbs above the root becomes "" (unresolvable).</summary>
    internal static string Normalize(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
                continue;
            if (part == "..")
            {
                if (parts.Count == 0)
                    return "";
                parts.RemoveAt(parts.Count - 1);
            }
            else
            {
                parts.Add(part);
            }
        }
        return string.Join('/', parts);
    }
}
