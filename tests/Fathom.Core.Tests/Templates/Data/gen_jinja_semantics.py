import json, datetime, jinja2, jinja2.ext, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)
def strftime_now(fmt):
    return datetime.datetime(2026, 1, 15, 10, 30, 0).strftime(fmt)
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

V = {"s": "Hello World", "n": 5, "f": 2.5, "l": [3, 1, 2], "d": {"b": 1, "a": [1, 2], "c": None},
     "msgs": [{"role": "system", "content": "sys"}, {"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo", "x": True}],
     "u": "héllo ✓ 😀", "none": None, "t": True, "e": "", "nested": {"a": {"b": {"c": "deep"}}}, "ws": "  a  b \t c\n"}

EXTRA = ["{% if none|selectattr('a') %}T{% else %}F{% endif %}{% if []|map('string') %}T{% endif %}{% if [1]|select('none') %}G{% endif %}", "{% set g = l|map('string') %}{{ g|join }}|{{ g|join }}|{{ l|map('string')|first }}|{{ l|reverse|list }}|{{ d|reverse|list }}|{{ (l|map('string'))[0] }}|", "{% set g = l|select('odd') %}{% for x in g %}{{ x }}{% endfor %}{% for x in g %}{{ x }}{% else %}empty{% endfor %}|{{ 1 in l|map('int') }}|{{ d|items|list }}", "{{ l|unique|list }}{{ [1,2,3]|batch(2)|list }}{{ 'ab'|reverse }}{{ l|map('string')|list|length }}{{ l|select|list|tojson }}", "{% set x = 'outer' %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 'later' %}{{ show() }}", "{% for i in [1] %}{% set x = 'loop' %}{% macro inner() %}{{ x }}{% endmacro %}{{ inner() }}{% endfor %}{{ x }}", '{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}', "{% for i in [1, 2] %}{% if i == 1 %}{% set y = 'one' %}{% endif %}{{ y }}|{% endfor %}{{ y }}", '{% for i in l %}{% for j in l %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}', '{% macro kw(a, b=2) %}{{ a }}{{ b }}{{ kwargs }}{% endmacro %}{{ kw(1, b=3, c=4) }}{{ kw(a=5) }}', "{{ l | join(', ') | upper }}{{ (l | join)[0] }}{{ l | map('string') | map('length') | list }}", "{{ msgs | selectattr('role', 'in', ['user', 'system']) | map(attribute='content') | join('/') }}", "{{ msgs | map(attribute='role') | unique | list }}{{ msgs[1:] | length }}{{ msgs[:1][0].role }}", "{{ d.a[0] }}{{ d['a'][1] }}{{ d.a.0 }}{{ d.c is none }}{{ d.c is defined }}{{ d.zz is defined }}", "{% if d.c %}truthy{% else %}falsy{% endif %}{% if d.a %}T{% endif %}{% if [] %}X{% endif %}{% if {} %}Y{% endif %}{% if '0' %}Z{% endif %}{% if 0.0 %}W{% endif %}", '{{ \'a\\tb\\\\n\' }}|{{ "it\'s" }}|{{ \'say "hi"\' }}|{{ \'\\\'\' }}|{{ "\\"" }}|{{ \'uni\\u2713\' }}|{{ \'\\x41\' }}', "{{ (1, 2) | list }}{{ [(1, 'a'), (2, 'b')] | map('last') | list }}{{ dict([('a', 1)]) }}{{ {'a': 1, 'a': 2} }}", "{{ 3 > 2 and 'yes' or 'no' }}{{ not 1 == 2 }}{{ not (1 == 2) }}{{ -n }}{{ +n }}{{ - f }}{{ n - -1 }}", "{{ 'abc'.upper().lower().title() }}{{ '  x  '.strip().center(5, '*') }}{{ 'a b'.split(' ')[1] }}{{ 'k=v'.partition('=') }}", "{{ 'Hello'.startswith('he') }}{{ 'Hello'[0:0] }}{{ 'Hello'[10:] }}{{ 'x' * 0 }}{{ 'x' * -1 }}{{ [0] * 3 }}", '{{ 5 // 2.0 }}{{ 2 ** 0.5 }}{{ 10 % 3.5 }}{{ 1 + true }}{{ 0.5 + 0.25 }}{{ 100000000000000000 * 10 }}{{ 7 / 7 }}{{ 1 / 3 }}{{ 2 / 3 }}', '{{ 1.0 | string }}{{ 100.0 }}{{ 1e100 }}{{ 1.23e-5 }}{{ 0.0001 }}{{ 0.00001 }}{{ 123456789012345678.0 }}{{ 1234567890123456.7 }}{{ 9.999999999999999e22 }}', "{{ [1.5, 2.0] | tojson }}{{ 0.1 | tojson }}{{ -5 | tojson }}{{ 'a/b' | tojson }}{{ '\\u0001\\u007f\\u0080' | tojson }}{{ '\\u2028' | tojson }}{{ '😀' | tojson(ensure_ascii=true) }}", "{{ d | tojson(indent=0) }}|{{ [1, [2, {}]] | tojson(indent=1) }}|{{ {'z': 1, 'a': {'y': 2, 'b': 3}} | tojson(sort_keys=true, indent=2) }}", "{{ {'t': (1, 2)} | tojson }}{{ {'k': none} | tojson }}{{ true | tojson }}{{ none | tojson }}{{ 'x' | tojson | length }}", "{% for k, v in {'a': 1, 'b': 2} | dictsort(by='value', reverse=true) %}{{ k }}{{ v }}{% endfor %}", '{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}', '{% for x in range(3) %}{{ x }}{% if loop.last %}!{% endif %}{% endfor %}{% for x in range(0) %}{% else %}no{% endfor %}', '{{ loop }}|{% for x in [1] %}{{ loop.length }}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}', "{% set counter = namespace(n=0) %}{% for m in msgs %}{% if m.role != 'system' %}{% set counter.n = counter.n + 1 %}{% endif %}{% endfor %}{{ counter.n }}{{ counter }}", "{% set ns = namespace() %}{% set ns.items = [1] %}{{ ns.items }}{{ ns['items'] }}", "{{ s | replace('l', '') | length }}{{ s | lower | replace('world', 'there') | capitalize }}{{ s | truncate(5, true, '') }}", "{{ '%s' % none }}{{ '%s' % [1, 2] }}{{ '%s' % (1,) }}{{ '%d%%' % 50 }}{{ '%.1f' % 2 }}{{ '%5d|%-5d|%05d' % (1, 2, 3) }}{{ '%+d %+d' % (1, -1) }}{{ '%.3s' % 'abcdef' }}", "{{ '{:,}'.format(1234567) }}{{ '{:10.3f}|'.format(3.14159) }}{{ '{:*^9}'.format('x') }}{{ '{0[0]}{0[1]}'.format('ab') }}{{ '{a.b}'.format(a={'b': 1}) }}{{ '{{}}{}'.format(1) }}", "{{ l | reverse | join }}{{ l | sort | first }}{{ l | sort(reverse=true) | last }}{{ [] | sum }}{{ [0.5, 1] | sum }}{{ ['a', 'B'] | max }}{{ [{'v': 2}, {'v': 1}] | min(attribute='v') }}", "{{ 'a.b.c' | replace('.', '') }}{{ '' | length }}{{ ' ' | trim | length }}{{ 'x\\n' | trim }}{{ '\\u3000x\\u3000' | trim }}", "{{ u | upper }}{{ u | title }}{{ 'ǆemal' | title }}{{ u[0:3] }}{{ u[-1] }}{{ u | reverse }}{{ u.find('✓') }}{{ u | list | length }}", '{{ "{{ not a tag }}" }}{{ \'{% also %}\' }}', "{{ msgs | selectattr('x', 'defined') | list | length }}{{ msgs | selectattr('x', 'undefined') | list | length }}{{ msgs | rejectattr('x') | list | length }}", "{{ msgs[0] | items | list }}{{ msgs[0].items() | list | length }}{{ msgs[0].keys() | join(',') }}{{ msgs[0].get('role') }}{{ msgs[0].role | upper }}", "{{ [3, 1, 2] | sort | join }}{{ [{'n': 'b'}, {'n': 'A'}] | sort(attribute='n') | map(attribute='n') | join }}{{ [[2, 'b'], [1, 'a']] | sort | first }}", "{{ range(3) | map('string') | join('-') }}{{ range(10)[2:5] | list }}{{ range(3) | reverse | list }}{{ range(3) | length }}", "{{ x | default(1) | default(2) }}{{ none | default(1, true) }}{{ false | default('f') }}{{ 0 | default('z', true) }}"]
snippets = r'''
{{ s }}|{{ n }}|{{ f }}|{{ l }}|{{ d }}|{{ none }}|{{ t }}|{{ missing }}|
{{ 1/2 }} {{ 4/2 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2**10 }} {{ 2**-1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}
{{ 1e20 }} {{ 1.5e-7 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 123456789.123 }} {{ 3.0 }} {{ -0.0 }} {{ 1_000 }} {{ 0x1F }}
{{ 'a' ~ 1 ~ none ~ t ~ missing }}|{{ 'ab' * 3 }}|{{ [1] * 2 }}|{{ [1,2] + [3] }}|{{ 'x' + 'y' }}
{{ 'abc'[1] }}{{ 'abc'[-1] }}{{ 'abcdef'[1:4] }}{{ 'abcdef'[::-1] }}{{ 'abcdef'[::2] }}{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}{{ l[5:] }}{{ 'abcdef'[-2:] }}{{ 'abcdef'[4:1:-1] }}
{{ l[10] }}|{{ d.zzz }}|{{ d['zzz'] }}|{{ none.foo }}|{{ s.foo }}|{{ n.foo }}
{% if missing %}A{% elif n > 3 %}B{% else %}C{% endif %}
{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }},{% endfor %}
{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}
{% for x in l %}{{ loop.cycle('a','b') }}{% endfor %}
{% for x in [] %}X{% else %}empty{% endfor %}
{% for x in l if x > 1 %}{{ x }}{{ loop.index }}{{ loop.length }}{% else %}none{% endfor %}
{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}
{% for k in d %}{{ k }}{% endfor %}
{% for c in 'abc' %}{{ c }}.{% endfor %}
{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}
{% set x = 1 %}{% for i in l %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}
{% set ns = namespace(x=0, y='a') %}{% for i in l %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}{{ ns.y }}
{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{{ c[0] }}
{% set blk %}  inner {{ n }}  {% endset %}[{{ blk }}]
{% set blk | upper | trim %}  inner {{ n }}  {% endset %}[{{ blk }}]
{% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3) }}|{{ m(1, c=5) }}|{{ m() }}
{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}
{% macro w(x) %}<{{ caller(x) }}>{% endmacro %}{% call(y) w(5) %}got {{ y }}{% endcall %}
{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}
{% filter upper %}abc {{ s }}{% endfilter %}
{% with q = 5, r = 6 %}{{ q + r }}{% endwith %}{{ q }}
{{ 'a' if t else 'b' }}{{ 'a' if none else 'b' }}{{ 'a' if none }}|{{ none or 'x' }}{{ 0 and 'y' }}{{ 1 and 'y' }}{{ not t }}
{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 1 == 1.0 }}{{ 'a' in 'cat' }}{{ 2 in l }}{{ 'a' in d }}{{ 'z' not in d }}{{ true == 1 }}{{ none == none }}
{{ s | upper }}|{{ s | lower }}|{{ ws | trim }}|{{ 'xxhixx' | trim('x') }}|{{ s | length }}|{{ l | count }}|{{ d | length }}|{{ missing | length }}
{{ l | first }}{{ l | last }}{{ l | join('-') }}{{ l | sort }}{{ l | sort(reverse=true) }}{{ l | reverse | list }}{{ 'abc' | reverse }}{{ l | max }}{{ l | min }}{{ l | sum }}
{{ missing | default('dflt') }}|{{ none | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ e | d('x', boolean=true) }}
{{ n | string }}{{ '42' | int + 1 }}{{ '4.7' | int }}{{ 'x' | int }}{{ 'x' | int(7) }}{{ '0x1A' | int(0, 16) }}{{ '3.5' | float }}{{ 3 | float }}{{ 'abc' | float }}
{{ d | items | list }}|{{ d | dictsort }}|{{ d | dictsort(reverse=true) }}|{{ {'B': 1, 'a': 2} | dictsort }}|{{ {'B': 1, 'a': 2} | dictsort(true) }}
{{ msgs | selectattr('role', 'equalto', 'user') | list }}|{{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }}|{{ msgs | selectattr('x') | list | length }}|{{ msgs | map(attribute='zz', default='D') | list }}
{{ ['a','b'] | map('upper') | join(',') }}|{{ [1, 2, 2, 'a', 'A'] | unique | list }}|{{ [3, 1] | select('odd') | list }}|{{ [1, 2, 3] | reject('even') | list }}|{{ [1,'a'] | select('string') | list }}
{{ 'hello world foo' | title }}|{{ "they're bill's" | title }}|{{ 'hELLO wORLD' | capitalize }}|{{ 'a-b(c)d' | title }}|{{ 'ab cd' | wordcount }}
{{ 'line1\nline2\n\nline3' | indent }}|{{ 'line1\nline2' | indent(2, true) }}|{{ 'a\n\nb' | indent(2, blank=true) }}|{{ 'a\nb' | indent('>>') }}
{{ 'a-b-c' | replace('-', '+') }}|{{ 'a-b-c' | replace('-', '+', 1) }}|{{ '<b>&"\'' | e }}|{{ '<b>' | safe }}|{{ 3.7 | round }}|{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 3.1 | round(0, 'ceil') }}|{{ -3 | abs }}
{{ [1,2,3,4,5] | batch(2) | list }}|{{ [1,2,3,4,5] | batch(2, 0) | list }}|{{ [1,2,3,4,5] | slice(2) | list }}|{{ 'abc' | list }}|{{ d | list }}|{{ 'hello world' | center(21) }}|
{{ d | tojson }}|{{ l | tojson }}|{{ u | tojson }}|{{ u | tojson(ensure_ascii=true) }}|{{ {'a': 1.0, 'b': [true, none, 'x"y\\z\n']} | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ {} | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ d | tojson(separators=(',', ':')) }}|{{ {'a': {'b': []}} | tojson(indent='\t') }}|{{ {1: 2, true: 3, none: 4} | tojson }}|{{ 1e20 | tojson }}
{{ s.startswith('Hell') }}{{ s.endswith(('x', 'ld')) }}{{ s.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ ws.split() }}{{ ws.split(none, 1) }}{{ ws.rsplit(none, 1) }}
{{ ws.strip() }}|{{ ws.lstrip() }}|{{ ws.rstrip() }}|{{ 'xyhixy'.strip('xy') }}|{{ s.upper() }}{{ s.lower() }}{{ s.replace('o', '0') }}{{ s.replace('o', '0', 1) }}{{ s.title() }}{{ 'hELLO'.capitalize() }}
{{ s.find('o') }}{{ s.rfind('o') }}{{ s.find('z') }}{{ s.count('o') }}{{ '-'.join(['a', 'b']) }}{{ 'a\nb\r\nc'.splitlines() }}{{ '{} and {}'.format(1, 'x') }}{{ '{0}{1}{0}'.format('a', 'b') }}{{ '{name}!'.format(name='N') }}{{ '{:>5}|{:<5}|{:^5}|{:05d}|{:.2f}|{!r}'.format('a', 'b', 'c', 42, 3.14159, 'q') }}
{{ '%s is %d' % ('x', 3) }}|{{ '%5.2f' % 3.14159 }}|{{ '%-5s|' % 'ab' }}|{{ '%r' % 'q' }}|{{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }}|{{ '%%' % () }}|{{ '%x %o %e %g' % (255, 8, 12345.678, 0.0001) }}
{{ d.get('b') }}{{ d.get('zz') }}{{ d.get('zz', 'def') }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}{{ l.index(2) }}{{ l.count(3) }}
{{ n is defined }}{{ missing is defined }}{{ missing is undefined }}{{ none is none }}{{ s is string }}{{ n is number }}{{ f is number }}{{ t is number }}{{ n is integer }}{{ f is float }}{{ t is boolean }}{{ d is mapping }}{{ l is sequence }}{{ s is iterable }}{{ n is iterable }}{{ missing is iterable }}{{ t is true }}{{ 1 is true }}{{ false is false }}
{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 2 is in l }}{{ 'a' is eq 'a' }}{{ 3 is gt 2 }}{{ 3 is lt 2 }}{{ 3 is ge 3 }}{{ 3 is le 2 }}{{ 3 is ne 2 }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ none is sameas none }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ m is callable }}{{ n is not none }}
{% raw %}{{ not rendered }}{% if %}{% endraw %}
{# a comment #}after comment
{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(5, 0, -2) | list }}{{ dict(a=1, b=2) }}{{ namespace(a=1).a }}
{{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %b %B %d %j %p %I %y') }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%c|%x|%X|%U|%W|%w|%u|%e|%-d') }}
{{ u }}|{{ u | length }}|{{ u[7] }}|{{ u | upper }}|{{ [u] }}|{{ {'k': "it's"} }}|{{ ['a"b', "a'b", 'a\'b"c', '\t\n\\'] }}|{{ ['\x01', '\u00a0', 'é'] }}
{{ msgs[0].content }}{{ msgs[0]['content'] }}{{ msgs[-1].role }}{{ nested.a.b.c }}{{ nested['a']['b'].c }}{{ msgs | length }}{{ (msgs | last).content }}
{{ messages is defined }}{{ l.append is defined }}{{ d.items is defined }}
{{ l|join }}{{ [1, none, 'a']|join('|') }}{{ msgs|join(',', attribute='role') }}
{{- '  a  ' -}}  b  {{- ' c ' }}
   {% if t %}lstrip{% endif %}
 text   {%- if t -%}   stripped   {%- endif -%}   end
{%+ if t %}keep{% endif +%}x
{{ "single" }}{{ 'double' }}{{ 'a' 'b' "c" }}{{ '\u00e9\x41\101' }}
{{ [1, [2, (3, 4)], {'a': (5,)}] }}{{ () }}{{ (1,) }}{{ {'a': 1}['a'] }}{{ {'a': 1}.a }}
{{ 10 / 4 }}{{ 10 // 4 }}{{ 2 ** 3 ** 2 }}{{ -2 ** 2 }}{{ (-2) ** 2 }}{{ 1 + 2 * 3 - 4 / 2 }}{{ 'x' ~ (1 + 2) }}{{ 5 % 3 * 2 }}
{{ l | map('string') | join }}{{ d | dictsort | map('first') | join }}{{ ['b', 'A', 'c'] | sort }}{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}{{ msgs | sort(attribute='role') | map(attribute='role') | join(',') }}
{{ l | sum(start=10) }}{{ msgs | groupby('role') | map('first') | list }}{{ 'abc' | first }}{{ missing | first }}|{{ [] | first }}|{{ missing | list }}{{ missing | join }}|{{ missing | trim }}|{{ missing | upper }}|{{ missing ~ 'x' }}
{{ 'x' | truncate(3) }}{{ 'hello world and more' | truncate(10) }}{{ 'hello world and more' | truncate(10, true) }}{{ 'hello world and more' | truncate(11, false, '..', 0) }}
{% for a in [[1, 2], [3, 4]] %}{% for b in a %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }};{% endfor %}
{% for item in [{'c': [{'c': []}]}, {'c': []}] recursive %}[{{ loop.depth }}{% if item.c %}{{ loop(item.c) }}{% endif %}]{% endfor %}
{% for x in l %}{{ loop.changed(x > 1) }}{% endfor %}
{% set j = joiner('+') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %}
{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ (1, 2) == (1, 2) }}{{ [1, 2] == (1, 2) }}{{ {'a': 1} == {'a': 1.0} }}{{ 1 != 1.0 }}
{{ '%s' | format('x') }}{{ '%s-%s' | format(1, 2) }}{{ '<>' | escape | safe }}{{ ('<' | safe) + '<' }}{{ '<' + ('<' | safe) }}{{ ('<%s>' | safe) % '&' }}{{ ('a' | safe) ~ '<' }}
'''.strip('\n').split('\n') + EXTRA

errors = r'''
{{ l|map('string')|length }}
{{ l|select|tojson }}
{{ l|map('string')|last }}
{% macro outer() %}[{{ caller() }}]{% endmacro %}{% macro mid() %}{% call outer() %}mid{{ caller() }}{% endcall %}{% endmacro %}{% call mid() %}core{% endcall %}
{{ missing.foo }}
{{ missing + 1 }}
{{ missing() }}
{{ 'a' + 1 }}
{{ 1 + 'a' }}
{{ none | length }}
{% for x in none %}{% endfor %}
{{ l.append(4) }}
{{ d.update({}) }}
{{ d.pop('a') }}
{{ 1 / 0 }}
{{ 1 // 0 }}
{{ 1 % 0 }}
{{ 'a' < 1 }}
{{ raise_exception('custom boom') }}
{{ missing.strip() }}
{{ 5 | nosuchfilter }}
{{ 5 is nosuchtest }}
{% set x.y = 1 %}
{{ [1] | tojson(indent=none) ~ missing | tojson }}
{{ 1 in 5 }}
{{ 1 in 'abc' }}
{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}
{% macro m(a) %}{% endmacro %}{{ m(b=2) }}
{{ range(200000) | length }}
{{ 'abc'.nosuchmethod() }}
{{ l.sort() }}
{{ (d | items | list)[0].a.b }}
{{ 'x'.split('') }}
{% set a, b = [1, 2, 3] %}
'''.strip('\n').split('\n')

syntax = r'''
{% if x %}
{% for x in y %}
{% endif %}
{{ x
{{ 1 + }}
{% nosuchtag %}
{% break %}
{{ (1, 2 }}
{{ x | }}
{% macro m(a=1, b) %}{% endmacro %}
{# unclosed comment
{% set %}
{{ 'unterminated }}
{% for %}{% endfor %}
{% if x %}{% else %}{% else %}{% endif %}
{{ x is }}
{% do x %}
'''.strip('\n').split('\n')

out = []
for i, src in enumerate(snippets):
    tpl = src.replace('\\n', '\n') if False else src
    try:
        out.append({"name": f"render_{i:03d}", "template": src, "expected": env.from_string(src).render(**V)})
    except Exception as ex:
        print("RENDER FAIL", i, src[:80], type(ex).__name__, ex)
# multi-line whitespace-control templates
multi = [
 '{%- for i in l %}\n  {{ i }}\n{%- endfor %}\n  {%- if t -%}\n    yes\n  {%- endif -%}\n{% if t %}    indented {{ n }}\n{% endif %}\n',
 "{% for m in msgs %}\n  {% if m.role == 'user' %}\n    U: {{ m.content }}\n  {% else %}\n    O: {{ m.content }}\n  {% endif %}\n{% endfor %}\n",
 "a\n  {# c #}\nb\n  {#- c -#}  \nc\n",
 "{%- for m in msgs -%}\n{{- m.role }}\n{%- endfor %}\nend\n\n",
 "x  {%- set y = 1 %}  \n  {{ y }}\n    {%- if t %}\n\tz\n    {% endif -%}\n  w",
 "{% macro f(x) -%}\n  [{{ x }}]\n{%- endmacro %}\n{{ f(1) }}\n{{ f(2) }}\n",
 "line\r\nwin\rmac\n{% if t %}\r\nin\r\n{% endif %}\r\n",
 "  {% if t %}a{% endif %}  {% if t %}b{% endif %}\n  {%+ if t %}c{% endif %}\n",
 "{{ 'a' }}\n{{ 'b' }}\n\n",
 "{% raw -%}\n  {{ x }}\n{%- endraw %}\n",
 "{% set x %}\n  a\n  {% if t %}\n  b\n  {% endif %}\n{% endset %}{{ x | tojson }}",
]
for i, src in enumerate(multi):
    out.append({"name": f"multi_{i:03d}", "template": src, "expected": env.from_string(src).render(**V)})
for i, src in enumerate(errors):
    try:
        r = env.from_string(src).render(**V)
        out.append({"name": f"error_{i:03d}", "template": src, "expected": r})
    except jinja2.exceptions.TemplateSyntaxError as ex:
        out.append({"name": f"error_{i:03d}", "template": src, "error": "syntax", "message": str(ex)})
    except Exception as ex:
        kind = "raise" if type(ex) is jinja2.exceptions.TemplateError else "runtime"
        out.append({"name": f"error_{i:03d}", "template": src, "error": kind, "message": f"{type(ex).__name__}: {ex}"})
for i, src in enumerate(syntax):
    try:
        env.from_string(src)
        out.append({"name": f"syntax_{i:03d}", "template": src, "error": "none-at-parse"})
    except Exception as ex:
        out.append({"name": f"syntax_{i:03d}", "template": src, "error": "syntax", "message": str(ex)})
json.dump({"variables": V, "cases": out}, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
print(len(out))
for c in out:
    if c.get("error") and c["name"].startswith(("error","syntax")): print(c["name"], c["error"], c.get("message","")[:100])
