using Fathom.Context;

namespace Fathom.Engine.Tests.Context;

public class OutlineTests
{
    private static string[] Lines(string path, string source) => Outline.Extract(path, source).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void CSharp_keeps_types_and_member_signatures_without_bodies()
    {
        const string src = """
            using System;
            namespace Demo;

            /// <summary>Doc.</summary>
            public sealed class Widget : IDisposable
            {
                private int _count;
                public int Count { get; private set; }
                public Widget(int n)
                {
                    _count = n;
                    Console.WriteLine(n);
                }
                public int Twice() => _count * 2;
                internal static void Helper(string s, int t) { }
                public void Dispose() { }
            }
            """;
        Assert.Equal([
            "1: using System;",
            "2: namespace Demo;",
            "5: public sealed class Widget : IDisposable",
            "8:     public int Count { get; private set; }",
            "9:     public Widget(int n)",
            "14:     public int Twice()",
            "15:     internal static void Helper(string s, int t) { }",
            "16:     public void Dispose() { }",
        ], Lines("Widget.cs", src));
    }

    [Fact]
    public void Python_keeps_classes_defs_and_imports()
    {
        const string src = "import os\n\nclass A(Base):\n    x = 1\n    def f(self, y):\n        return y\n\nasync def main():\n    pass\n";
        Assert.Equal(["1: import os", "3: class A(Base):", "5:     def f(self, y):", "8: async def main():"], Lines("a.py", src));
    }

    [Fact]
    public void Go_rust_js_and_c_keep_their_declarations()
    {
        Assert.Equal(["1: package main", "2: func main()", "5: type T struct"], Lines("m.go", "package main\nfunc main() {\n\tx := 1\n}\ntype T struct {\n\tA int\n}\n"));
        Assert.Equal(["1: pub struct S", "3: impl S", "4:     pub fn new() -> Self"], Lines("s.rs", "pub struct S {\n}\nimpl S {\n    pub fn new() -> Self {\n        S {}\n    }\n}\n"));
        Assert.Equal(["1: export function f(a: number): number", "2: class C", "3:   method(x)"], Lines("a.ts", "export function f(a: number): number {\nclass C {\n  method(x) {\n    return x;\n  }\n}\n"));
        Assert.Equal(["1: #include \"a.h\"", "2: struct point { int x; };", "3: int add(int a, int b)"], Lines("a.c", "#include \"a.h\"\nstruct point { int x; };\nint add(int a, int b)\n{\n    return a + b;\n}\n"));
    }

    [Fact]
    public void Unknown_types_have_no_outline_and_markdown_gives_headings()
    {
        Assert.Equal("", Outline.Extract("data.json", "{\"a\": 1}"));
        Assert.Equal(["1: # Title", "3: ## Part"], Lines("README.md", "# Title\ntext\n## Part\n"));
    }
}
