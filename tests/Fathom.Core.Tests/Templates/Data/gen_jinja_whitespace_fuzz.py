import json, random, sys, copy, jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
V = {"t": True, "f": False, "n": 3, "l": [1, 2]}
rnd = random.Random(int(sys.argv[2]))
def ws():
    return "".join(rnd.choice(["", " ", "  ", "\n", "\t", " \n", "\n  ", "\n\n", "x", "a b", "\r\n", "  \n\t "]) for _ in range(rnd.randrange(3)))
def l(): return rnd.choice(["", "", "-", "+"])
def r(): return rnd.choice(["", "", "-", "+"])
def block(depth):
    parts = []
    for _ in range(rnd.randrange(1, 4)):
        parts.append(ws())
        c = rnd.randrange(8)
        if c == 0 or depth > 2:
            parts.append("{{" + rnd.choice(["", "-"]) + " n " + rnd.choice(["", "-"]) + "}}")
        elif c == 1:
            parts.append("{#" + l() + " c " + r() + "#}")
        elif c == 2:
            parts.append("{%" + l() + " if " + rnd.choice(["t", "f"]) + " " + r() + "%}" + block(depth + 1) + ("{%" + l() + " else " + r() + "%}" + block(depth + 1) if rnd.random() < 0.4 else "") + "{%" + l() + " endif " + r() + "%}")
        elif c == 3:
            parts.append("{%" + l() + " for x in l " + r() + "%}" + block(depth + 1) + "{{ x }}" + "{%" + l() + " endfor " + r() + "%}")
        elif c == 4:
            parts.append("{%" + l() + " set y = 1 " + r() + "%}")
        elif c == 5:
            parts.append("{%" + l() + " macro m() " + r() + "%}" + block(depth + 1) + "{%" + l() + " endmacro " + r() + "%}{{ m() }}")
        elif c == 6:
            parts.append("{%" + l() + " raw " + r().replace("+", "") + "%}" + ws() + "{{ raw }}" + ws() + "{%" + l() + " endraw " + r() + "%}")
        else:
            parts.append("{%" + l() + " set b " + r() + "%}" + block(depth + 1) + "{%" + l() + " endset " + r() + "%}{{ b }}")
        parts.append(ws())
    return "".join(parts)
out = []
for i in range(int(sys.argv[1])):
    src = block(0)
    rec = {"template": src}
    try:
        rec["expected"] = env.from_string(src).render(**copy.deepcopy(V))
    except Exception as ex:
        rec["error"] = f"{type(ex).__name__}: {ex}"
    out.append(rec)
json.dump({"variables": V, "cases": out}, open(sys.argv[3], "w"), ensure_ascii=False)
print(len(out), sum('error' in r for r in out))
