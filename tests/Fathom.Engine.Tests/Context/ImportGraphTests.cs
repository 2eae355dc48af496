using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class ImportGraphTests
{
    private static ImportGraph Graph(params (string Path, string Content)[] files) =>
        ImportGraph.Build(files.Select(f => new RepoFile(f.Path, f.Content)).ToList());

    private static void AssertDeps(ImportGraph g, string path, params string[] expected) => Assert.Equal(expected, g.DependenciesOf(path));

    [Fact]
    public void CSharp_using_maps_to_the_files_declaring_the_namespace()
    {
        var g = Graph(
            ("src/A.cs", "namespace Lib.Core;\nclass A {}"),
            ("src/B.cs", "namespace Lib.Core { class B {} }"),
            ("src/C.cs", "using Lib.Core;\nusing static Lib.Core.A;\nusing System;\nnamespace App;"),
            ("src/D.cs", "using X = Lib.Core.B;\nnamespace App.Sub;"));
        AssertDeps(g, "src/C.cs", "src/A.cs", "src/B.cs");
        AssertDeps(g, "src/D.cs", "src/A.cs", "src/B.cs");
        AssertDeps(g, "src/A.cs");
    }

    [Fact]
    public void Python_resolves_packages_modules_and_relative_imports()
    {
        var g = Graph(
            ("pkg/__init__.py", ""),
            ("pkg/util.py", ""),
            ("pkg/sub/__init__.py", ""),
            ("pkg/sub/mod.py", "from .. import util\nfrom ..util import helper\nfrom . import other"),
            ("pkg/sub/other.py", ""),
            ("app.py", "import pkg.sub.mod\nfrom pkg import util\nimport os"));
        AssertDeps(g, "app.py", "pkg/__init__.py", "pkg/sub/mod.py", "pkg/util.py");
        AssertDeps(g, "pkg/sub/mod.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/other.py", "pkg/util.py");
    }

    [Fact]
    public void JavaScript_resolves_relative_paths_extensions_and_index_files()
    {
        var g = Graph(
            ("src/util.ts", ""),
            ("src/lib/index.js", ""),
            ("src/c.tsx", ""),
            ("src/esm.ts", ""),
            ("src/app.ts", "import {u} from './util';\nimport lib from './lib';\nimport C from \"./c\";\nimport x from './esm.js';\nimport r from 'react';\nrequire('../outside')"));
        AssertDeps(g, "src/app.ts", "src/c.tsx", "src/esm.ts", "src/lib/index.js", "src/util.ts");
    }

    [Fact]
    public void Go_resolves_import_paths_under_the_module()
    {
        var g = Graph(
            ("go.mod", "module example.com/m\n\ngo 1.22\n"),
            ("util/a.go", "package util"),
            ("util/b.go", "package util"),
            ("util/a_test.go", "package util"),
            ("main.go", "package main\nimport (\n\t\"fmt\"\n\t\"example.com/m/util\"\n)"));
        AssertDeps(g, "main.go", "util/a.go", "util/b.go");
    }

    [Fact]
    public void Java_resolves_classes_static_members_and_wildcards()
    {
        var g = Graph(
            ("src/main/java/com/acme/model/User.java", "package com.acme.model;"),
            ("src/main/java/com/acme/util/Strings.java", "package com.acme.util;"),
            ("src/main/java/com/acme/service/A.java", "package com.acme.service;"),
            ("src/main/java/com/acme/service/B.java", "package com.acme.service;"),
            ("src/main/java/com/acme/App.java", "import com.acme.model.User;\nimport static com.acme.util.Strings.join;\nimport com.acme.service.*;\nimport java.util.List;"));
        AssertDeps(g, "src/main/java/com/acme/App.java",
            "src/main/java/com/acme/model/User.java", "src/main/java/com/acme/service/A.java",
            "src/main/java/com/acme/service/B.java", "src/main/java/com/acme/util/Strings.java");
    }

    [Fact]
    public void C_includes_resolve_next_to_the_file_then_from_the_root()
    {
        var g = Graph(
            ("include/common/defs.h", ""),
            ("src/util.h", ""),
            ("src/main.c", "#include \"util.h\"\n#include \"common/defs.h\"\n#include <stdio.h>"));
        AssertDeps(g, "src/main.c", "include/common/defs.h", "src/util.h");
    }

    [Fact]
    public void Rust_resolves_mod_declarations_and_crate_paths()
    {
        var g = Graph(
            ("Cargo.toml", "[package]\nname = \"x\""),
            ("src/main.rs", "mod parser;\nmod eval;\nuse crate::eval::value::Value;"),
            ("src/parser.rs", "mod lexer;\nuse super::eval;"),
            ("src/parser/lexer.rs", "use crate::parser;"),
            ("src/eval/mod.rs", "pub mod value;"),
            ("src/eval/value.rs", "use super::super::parser;"));
        AssertDeps(g, "src/main.rs", "src/eval/mod.rs", "src/eval/value.rs", "src/parser.rs");
        AssertDeps(g, "src/parser.rs", "src/eval/mod.rs", "src/parser/lexer.rs");
        AssertDeps(g, "src/parser/lexer.rs", "src/parser.rs");
        AssertDeps(g, "src/eval/mod.rs", "src/eval/value.rs");
    }

    [Fact]
    public void Dependencies_come_before_their_users()
    {
        var g = Graph(
            ("a.py", "import c"),
            ("b.py", ""),
            ("c.py", "import b"),
            ("d.py", "import a\nimport b"));
        string[] order = g.TopologicalOrder().Select(i => g.Paths[i]).ToArray();
        Assert.Equal(["b.py", "c.py", "a.py", "d.py"], order);
    }

    [Fact]
    public void Cycles_are_kept_together_in_path_order()
    {
        var g = Graph(
            ("x.py", "import y"),
            ("y.py", "import z"),
            ("z.py", "import x\nimport base"),
            ("base.py", ""),
            ("user.py", "import y"));
        string[] order = g.TopologicalOrder().Select(i => g.Paths[i]).ToArray();
        Assert.Equal(["base.py", "x.py", "y.py", "z.py", "user.py"], order);
    }

    [Fact]
    public void Order_is_a_valid_topological_order_on_random_acyclic_graphs()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = rng.Next(1, 30);
            var files = new List<RepoFile>();
            for (int i = 0; i < n; i++)
            {
                // Only lower-numbered modules are imported, so the graph is acyclic.
                var imports = Enumerable.Range(0, i).Where(_ => rng.Next(4) == 0).Select(j => $"import m{j:D2}");
                files.Add(new RepoFile($"m{i:D2}.py", string.Join('\n', imports)));
            }
            var g = ImportGraph.Build(files);
            int[] order = g.TopologicalOrder();
            Assert.Equal(Enumerable.Range(0, n), order.Order());
            var position = new int[n];
            for (int k = 0; k < n; k++)
                position[order[k]] = k;
            for (int v = 0; v < n; v++)
                Assert.All(g.Dependencies(v), d => Assert.True(position[d] < position[v]));
        }
    }

    [Fact]
    public void PageRank_favours_widely_imported_files()
    {
        var g = Graph(("core.py", ""), ("a.py", "import core"), ("b.py", "import core"), ("c.py", "import core\nimport a"));
        double[] rank = g.PageRank();
        int core = g.Paths.ToList().IndexOf("core.py");
        Assert.Equal(rank.Max(), rank[core]);
        Assert.Equal(1.0, rank.Sum(), 9);
    }
}
