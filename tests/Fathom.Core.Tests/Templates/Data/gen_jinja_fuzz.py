import json, random, sys, datetime, jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
env.filters["tojson"] = tojson
V = {"s": "Hello World", "n": 5, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": [1, 2], "c": None}, "e": "", "ws": "  a  b \t c\n", "neg": -7, "z": 0, "sl": ["b", "A", "c", "a"], "nested": [{"k": "x", "v": 1}, {"k": "y", "v": 2}, {"k": "x", "v": 3}], "t": True, "none": None, "u": "héllo 😀"}
rnd = random.Random(int(sys.argv[2]))
def lit(depth):
    c = rnd.randrange(12)
    if c == 0: return str(rnd.randrange(-20, 100))
    if c == 1: return rnd.choice(["0.5", "1.0", "2.75", "-3.5", "1e3", "0.1", "100.0", "1e-5", "3.14159"])
    if c == 2: return rnd.choice(["'a'", "'abc'", "''", "' x y '", "'a,b,,c'", "\"it's\"", "'A-b c'", "'\\n\\t'", "'%s-%d'", "'{}-{}'", "'é😀'"])
    if c == 3: return rnd.choice(["true", "false", "none"])
    if c == 4 and depth < 2: return "[" + ", ".join(expr(depth + 1) for _ in range(rnd.randrange(4))) + "]"
    if c == 5 and depth < 2: return "{" + ", ".join(f"'{k}': {expr(depth + 1)}" for k in rnd.sample("abcd", rnd.randrange(3))) + "}"
    if c == 6 and depth < 2: return "(" + expr(depth + 1) + ", " + expr(depth + 1) + ")"
    return rnd.choice(list(V.keys()) + ["missing"])
FILTERS = ["length", "upper", "lower", "trim", "join", "join(',')", "first", "last", "list", "sort", "sort(reverse=true)", "unique|list", "reverse|list", "string", "int", "float", "abs", "round", "round(1)", "default('D')", "d('D', true)", "tojson", "tojson(indent=2)", "items|list", "dictsort", "map('string')|list", "select|list", "reject|list", "capitalize", "title", "sum", "min", "max", "count", "batch(2)|list", "wordcount", "replace('a', 'X')", "indent(2)", "center(9)", "truncate(5)", "e", "safe", "format(1)", "selectattr('k', 'eq', 'x')|list", "map(attribute='v')|list", "groupby('k')|list", "slice(2)|list", "sort(attribute='v')|map(attribute='k')|join", "pprint"]
METHODS = ["split()", "split(',')", "strip()", "strip('x')", "lstrip()", "rstrip()", "upper()", "lower()", "replace('l', 'L')", "startswith('H')", "endswith('d')", "title()", "capitalize()", "find('o')", "count('l')", "splitlines()", "get('a')", "get('z', 0)", "keys()|list", "values()|list", "items()|list", "index(1)", "format(1, 2)", "rsplit(' ', 1)", "partition(' ')", "zfill(5)", "center(11, '*')", "isdigit()", "join(['x', 'y'])"]
OPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"]
TESTS = ["defined", "none", "string", "number", "integer", "float", "mapping", "sequence", "iterable", "odd", "even", "divisibleby 2", "true", "false", "boolean", "lower", "upper", "in [1, 2, 3]", "eq 5", "gt 2", "callable", "sameas none", "undefined"]
def expr(depth=0):
    if depth > 2: return lit(depth)
    c = rnd.randrange(9)
    if c == 0: return f"({expr(depth+1)} {rnd.choice(OPS)} {expr(depth+1)})"
    if c == 1: return f"({expr(depth+1)} | {rnd.choice(FILTERS)})"
    if c == 2: return f"({expr(depth+1)}).{rnd.choice(METHODS)}"
    if c == 3: return f"({expr(depth+1)} is {rnd.choice(['', 'not '])}{rnd.choice(TESTS)})"
    if c == 4: return f"({expr(depth+1)} if {expr(depth+1)} else {expr(depth+1)})"
    if c == 5: return "(" + expr(depth+1) + ")[" + rnd.choice(['0', '-1', '1:', ':2', '::-1', "'a'", '1:3', '::2']) + "]"
    if c == 6: return f"(not {expr(depth+1)})"
    if c == 7: return f"(-{expr(depth+1)})"
    return lit(depth)
out = []
for i in range(int(sys.argv[1])):
    src = "{{ " + expr() + " }}"
    if rnd.random() < 0.2:
        src = "{% for x in " + expr(1) + " %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}{% else %}empty{% endfor %}"
    rec = {"template": src}
    try:
        import copy; rec["expected"] = env.from_string(src).render(**copy.deepcopy(V))
        if "object at 0x" in rec["expected"] or "generator object" in rec["expected"]: continue
    except jinja2.exceptions.TemplateSyntaxError as ex:
        rec["error"] = "syntax: " + str(ex)
    except Exception as ex:
        rec["error"] = f"{type(ex).__name__}: {ex}"
    out.append(rec)
json.dump({"variables": V, "cases": out}, open(sys.argv[3], "w"), ensure_ascii=False)
print(len(out), sum('error' in r for r in out))
