using Fathom.Context.Imports;

namespace Fathom.Engine.Tests.Context;

/// <summary>One small parser per language; each returns the import specifications in order.</summary>
public class ImportParserTests
{
    [Fact]
    public void CSharp_usings_and_namespaces()
    {
        const string src = """
            global using System.Text;
            using Fathom.Gguf;
            using static Fathom.Tensors.Simd;
            using Alias = Fathom.Models.ModelConfig;
            // using Commented.Out;
            /* using Block.Comment; */
            using (var x = Open()) { }
            using var y = Open();
            namespace Fathom.Context.Imports;
            namespace Outer.Inner { }
            """;
        Assert.Equal(["System.Text", "Fathom.Gguf", "Fathom.Tensors.Simd", "Fathom.Models.ModelConfig"], CSharpImports.Parse(src));
        Assert.Equal(["Fathom.Context.Imports", "Outer.Inner"], CSharpImports.Namespaces(src));
    }

    [Fact]
    public void Python_imports_absolute_relative_and_multiline()
    {
        const string src = """
            import os, sys as system
            import pkg.sub.mod as m
            from . import sibling
            from ..parent.mod import (
                Thing,
                other_mod,
            )
            from .local import *
            from x.y import z  # comment
                import indented.mod
            """;
        Assert.Equal(["os", "sys", "pkg.sub.mod", ".", ".sibling", "..parent.mod", "..parent.mod.Thing", "..parent.mod.other_mod", ".local", "x.y", "x.y.z", "indented.mod"],
            PythonImports.Parse(src));
    }

    [Fact]
    public void JavaScript_and_typescript_specifiers()
    {
        const string src = """
            import React from 'react';
            import { a,
              b } from "./util";
            import './side-effect.css';
            export * from '../lib/index.js';
            export { c } from "./c";
            const d = require('./d');
            const e = await import("./lazy");
            // import nope from './commented';
            """;
        Assert.Equal(["react", "./util", "./side-effect.css", "../lib/index.js", "./c", "./d", "./lazy"], JavaScriptImports.Parse(src));
    }

    [Fact]
    public void Go_single_and_grouped_imports_and_the_module_path()
    {
        const string src = """
            package main

            import "fmt"
            import alias "example.com/m/util"
            import (
                "os"
                _ "example.com/m/internal/db"
                . "example.com/m/dot"
                // "example.com/m/commented"
            )
            """;
        Assert.Equal(["fmt", "example.com/m/util", "os", "example.com/m/internal/db", "example.com/m/dot"], GoImports.Parse(src));
        Assert.Equal("example.com/m", GoImports.ModulePath("// c\nmodule example.com/m\n\ngo 1.22\n"));
    }

    [Fact]
    public void Java_imports_static_wildcard_and_package()
    {
        const string src = """
            package com.acme.app;
            import java.util.List;
            import com.acme.model.User;
            import static com.acme.util.Strings.join;
            import com.acme.service.*;
            """;
        Assert.Equal(["java.util.List", "com.acme.model.User", "com.acme.util.Strings.join", "com.acme.service.*"], JavaImports.Parse(src));
        Assert.Equal("com.acme.app", JavaImports.PackageOf(src));
    }

    [Fact]
    public void C_local_includes_only()
    {
        const string src = """
            #include <stdio.h>
            #include "util.h"
              #  include "../common/defs.hpp"
            // #include "commented.h"
            """;
        Assert.Equal(["util.h", "../common/defs.hpp"], CIncludes.Parse(src));
    }

    [Fact]
    public void Rust_mods_and_crate_uses()
    {
        const string src = """
            mod parser;
            pub mod lexer;
            pub(crate) mod util;
            mod inline { }
            use std::collections::HashMap;
            use crate::ast::Node;
            use crate::eval::{Value, env::Scope as S};
            use super::sibling;
            use self::child::Thing;
            """;
        Assert.Equal(["mod parser", "mod lexer", "mod util", "crate::ast::Node", "crate::eval::Value", "crate::eval::env::Scope", "super::sibling", "self::child::Thing"],
            RustImports.Parse(src));
    }
}
