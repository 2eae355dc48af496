namespace Fathom.Tokenization;

/// <summary>
/// Splits text (as code points) into pre-tokens the way llama.cpp's <c>unicode_regex_split</c> does for a
/// given <c>tokenizer.ggml.pre</c>: a sequence of passes, each splitting every piece the previous pass made.
/// The regexes are implemented as linear scanners with the semantics llama.cpp gives them: its hand-written
/// splitters for the GPT-2 / Llama-3 / Qwen2 expressions, and leftmost-first <c>std::regex</c> matching over its
/// "collapsed" text (non-ASCII code points reduced to their category; non-ASCII whitespace to \v) for the rest.
/// </summary>
internal sealed class PreTokenizer
{
    private readonly SplitPass[] _passes;

    private PreTokenizer(string name, params SplitPass[] passes)
    {
        Name = name;
        _passes = passes;
    }

    public string Name { get; }

    /// <summary>Splits <paramref name="cps"/>; <paramref name="lengths"/> receives the piece lengths in code points.</summary>
    public void Split(ReadOnlySpan<int> cps, List<int> lengths, List<int> scratch)
    {
        lengths.Clear();
        if (cps.Length == 0)
            return;
        var current = lengths;
        var next = scratch;
        current.Add(cps.Length);
        foreach (var pass in _passes)
        {
            next.Clear();
            int start = 0;
            foreach (int len in current)
            {
                pass.Split(cps, start, start + len, next);
                start += len;
            }
            (current, next) = (next, current);
        }
        if (!ReferenceEquals(current, lengths))
        {
            lengths.Clear();
            lengths.AddRange(current);
        }
    }

    // ---- the pre-tokenizers llama.cpp names ---------------------------------------------------------

    private const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    private const string Cjk = "\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF";
    private const string DeepSeekLetters =
        "A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-" +
        "\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-" +
        "\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF" +
        "\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-" +
        "\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC" +
        "\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115" +
        "\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E" +
        "\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-" +
        "\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A" +
        "\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-" +
        "\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943";
    private const string DeepSeekPunct = "!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002";

    /// <summary>Settings llama.cpp attaches to a pre-tokenizer name besides its regexes.</summary>
    internal readonly record struct Traits(bool IgnoreMerges, bool CleanSpaces, bool? AddBos, bool AddSep, bool NoBos);

    /// <summary>The pre-tokenizer for a <c>tokenizer.ggml.pre</c> value (null or empty: llama.cpp's "default").</summary>
    public static PreTokenizer ForName(string? pre, out Traits traits)
    {
        string name = string.IsNullOrEmpty(pre) ? "default" : pre;
        traits = new Traits(false, true, null, false, false);
        switch (name)
        {
            case "default":
                return new PreTokenizer(name,
                    new ClassRunPass(CharClass.Parse(@"\p{P}\$\+<=>\^~\|")),
                    new Gpt2Pass(),
                    new ClassRunPass(CharClass.Parse(@"\p{N}")),
                    new TripleDigitPass());
            case "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" or "jina-v5-nano":
                traits = traits with { IgnoreMerges = true, AddBos = true };
                return new PreTokenizer(name, new Llama3Pass(3));
            case "dbrx" or "smaug-bpe":
                return new PreTokenizer(name, new Llama3Pass(3));
            case "glm4" or "chatglm-bpe":
                traits = traits with { NoBos = true };
                return new PreTokenizer(name, new Llama3Pass(3));
            case "deepseek-llm":
                traits = traits with { CleanSpaces = false };
                return new PreTokenizer(name,
                    new ClassSinglePass(CharClass.Parse("\r\n")),
                    new SpaceClassRunPass(CharClass.Parse(DeepSeekLetters)),
                    new SpaceClassRunPass(CharClass.Parse(DeepSeekPunct)),
                    new TrailingSpacePass(),
                    new ClassRunPass(CharClass.Parse(Cjk)),
                    new ClassRunPass(CharClass.Parse(@"\p{N}")));
            case "deepseek-coder":
                traits = traits with { CleanSpaces = false };
                return new PreTokenizer(name,
                    new ClassSinglePass(CharClass.Parse("\r\n")),
                    new SpaceClassRunPass(CharClass.Parse(@"\p{L}")),
                    new SpaceClassRunPass(CharClass.Parse(@"\p{P}")),
                    new ClassRunPass(CharClass.Parse(Cjk)),
                    new ClassSinglePass(CharClass.Parse(@"\p{N}")));
            case "falcon":
                return new PreTokenizer(name,
                    new ClassRunPass(CharClass.Parse(@"\p{P}\$\+<=>\^~\|`")),
                    new Gpt2Pass(),
                    new TripleDigitPass());
            case "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b":
                return new PreTokenizer(name, new ClassSinglePass(CharClass.Parse(@"\p{N}")), new Gpt2Pass());
            case "command-r" or "smollm":
                traits = traits with { CleanSpaces = false };
                return new PreTokenizer(name, new ClassSinglePass(CharClass.Parse(@"\p{N}")), new Gpt2Pass());
            case "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0"
                or "mellum" or "modern-bert" or "exaone4" or "mpt" or "olmo" or "jais":
                return new PreTokenizer(name, new Gpt2Pass());
            case "jina-v1-en" or "jina-v2-code" or "roberta-bpe":
                traits = traits with { AddSep = true };
                return new PreTokenizer(name, new Gpt2Pass());
            case "trillion" or "granite-docling":
                traits = traits with { CleanSpaces = false };
                return new PreTokenizer(name, new Gpt2Pass());
            case "qwen2" or "deepseek-r1-qwen" or "kormo" or "f2llmv2" or "megrez":
                traits = traits with { CleanSpaces = name == "megrez" };
                return new PreTokenizer(name, new Llama3Pass(1));
            case "stablelm2":
                return new PreTokenizer(name, new Llama3Pass(1));
            case "hunyuan" or "solar-open" or "grok-2":
                traits = traits with { CleanSpaces = false };
                return new PreTokenizer(name, new Llama3Pass(1));
            default:
                throw new TokenizerException(
                    $"unsupported pre-tokenizer '{name}' ({GgufKeysPre}); supported: default, gpt-2, llama-bpe, qwen2, deepseek-llm, " +
                    "deepseek-coder, starcoder, falcon, refact, mpt, olmo, command-r, smollm and their aliases");
        }
    }

    private const string GgufKeysPre = "tokenizer.ggml.pre";

    internal static string Gpt2Expression => Gpt2Regex;

    // ---- passes ----------------------------------------------------------------------------------

    internal abstract class SplitPass
    {
        /// <summary>Appends the lengths of the pieces of cps[start, end) to <paramref name="output"/>.</summary>
        public abstract void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output);
    }

    /// <summary>Emits pieces between match boundaries, skipping empty ones, as llama.cpp's _add_token does.</summary>
    private struct Emitter(List<int> output, int start)
    {
        private int _prev = start;

        public void To(int end)
        {
            if (end > _prev)
                output.Add(end - _prev);
            _prev = end;
        }
    }

    private static ushort FlagsAt(ReadOnlySpan<int> cps, ushort[] table, int pos, int start, int end)
        => pos >= start && pos < end ? (uint)cps[pos] <= Unicode.MaxCodePoint ? table[cps[pos]] : Unicode.Undefined : (ushort)0;

    private const ushort Lnw = Unicode.Letter | Unicode.Number | Unicode.Whitespace;

    /// <summary>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</summary>
    private sealed class Gpt2Pass : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var table = Unicode.FlagsTable;
            var emit = new Emitter(output, start);
            int pos = start;
            while (pos < end)
            {
                int cp = cps[pos];
                ushort flags = FlagsAt(cps, table, pos, start, end);
                if (cp == '\'' && pos + 1 < end)
                {
                    int next = cps[pos + 1];
                    if (next is 's' or 't' or 'm' or 'd')
                    {
                        pos += 2;
                        emit.To(pos);
                        continue;
                    }
                    if (pos + 2 < end)
                    {
                        int next2 = cps[pos + 2];
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += 3;
                            emit.To(pos);
                            continue;
                        }
                    }
                }

                ushort f2 = cp == ' ' ? FlagsAt(cps, table, pos + 1, start, end) : flags;
                if ((f2 & Unicode.Letter) != 0)
                {
                    if (cp == ' ')
                        pos++;
                    while ((FlagsAt(cps, table, pos, start, end) & Unicode.Letter) != 0)
                        pos++;
                    emit.To(pos);
                    continue;
                }
                if ((f2 & Unicode.Number) != 0)
                {
                    if (cp == ' ')
                        pos++;
                    while ((FlagsAt(cps, table, pos, start, end) & Unicode.Number) != 0)
                        pos++;
                    emit.To(pos);
                    continue;
                }
                if ((f2 & Lnw) == 0 && f2 != 0)
                {
                    if (cp == ' ')
                        pos++;
                    while (true)
                    {
                        ushort f = FlagsAt(cps, table, pos, start, end);
                        if ((f & Lnw) != 0 || f == 0)
                            break;
                        pos++;
                    }
                    emit.To(pos);
                    continue;
                }

                int ws = 0;
                while ((FlagsAt(cps, table, pos + ws, start, end) & Unicode.Whitespace) != 0)
                    ws++;
                if (ws > 1 && pos + ws < end)
                {
                    pos += ws - 1;
                    emit.To(pos);
                    continue;
                }
                if (ws > 0)
                {
                    pos += ws;
                    emit.To(pos);
                    continue;
                }
                emit.To(++pos);
            }
        }
    }

    /// <summary>
    /// Llama-3 (maxDigits 3): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ ;
    /// Qwen2 (maxDigits 1) is the same with \p{N}.
    /// </summary>
    private sealed class Llama3Pass(int maxDigits) : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var table = Unicode.FlagsTable;
            var emit = new Emitter(output, start);
            int pos = start;
            while (pos < end)
            {
                int cp = cps[pos];
                ushort flags = FlagsAt(cps, table, pos, start, end);
                if (cp == '\'' && pos + 1 < end)
                {
                    int next = Unicode.ToLowerAscii(cps[pos + 1]);
                    if (next is 's' or 't' or 'm' or 'd')
                    {
                        pos += 2;
                        emit.To(pos);
                        continue;
                    }
                    if (pos + 2 < end)
                    {
                        int next2 = Unicode.ToLowerAscii(cps[pos + 2]);
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        {
                            pos += 3;
                            emit.To(pos);
                            continue;
                        }
                    }
                }

                if (!(cp == '\r' || cp == '\n' || (flags & Unicode.Number) != 0)
                    && ((flags & Unicode.Letter) != 0 || (FlagsAt(cps, table, pos + 1, start, end) & Unicode.Letter) != 0))
                {
                    pos++;
                    while ((FlagsAt(cps, table, pos, start, end) & Unicode.Letter) != 0)
                        pos++;
                    emit.To(pos);
                    continue;
                }

                if ((flags & Unicode.Number) != 0)
                {
                    int ini = pos;
                    while ((FlagsAt(cps, table, pos, start, end) & Unicode.Number) != 0)
                    {
                        if (++pos - ini >= maxDigits)
                        {
                            emit.To(pos);
                            ini = pos;
                        }
                    }
                    emit.To(pos);
                    continue;
                }

                ushort f2 = cp == ' ' ? FlagsAt(cps, table, pos + 1, start, end) : flags;
                if ((f2 & Lnw) == 0 && flags != 0)
                {
                    if (cp == ' ')
                        pos++;
                    while (true)
                    {
                        ushort f = FlagsAt(cps, table, pos, start, end);
                        if ((f & Lnw) != 0 || f == 0)
                            break;
                        pos++;
                    }
                    while (pos < end && cps[pos] is '\r' or '\n')
                        pos++;
                    emit.To(pos);
                    continue;
                }

                int ws = 0;
                int lastNewlineEnd = 0;
                while ((FlagsAt(cps, table, pos + ws, start, end) & Unicode.Whitespace) != 0)
                {
                    if (cps[pos + ws] is '\r' or '\n')
                        lastNewlineEnd = pos + ws + 1;
                    ws++;
                }
                if (lastNewlineEnd > 0)
                {
                    pos = lastNewlineEnd;
                    emit.To(pos);
                    continue;
                }
                if (ws > 1 && pos + ws < end)
                {
                    pos += ws - 1;
                    emit.To(pos);
                    continue;
                }
                if (ws > 0)
                {
                    pos += ws;
                    emit.To(pos);
                    continue;
                }
                emit.To(++pos);
            }
        }
    }

    /// <summary>The \s of std::regex over llama.cpp's collapsed text: ASCII isspace or a non-ASCII whitespace.</summary>
    private static bool IsSpace(int cp) => Unicode.IsWhitespace(cp);

    /// <summary>[C]+ : maximal runs of class members become pieces.</summary>
    private sealed class ClassRunPass(CharClass cls) : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var emit = new Emitter(output, start);
            int pos = start;
            while (pos < end)
            {
                if (!cls.Contains(cps[pos]))
                {
                    pos++;
                    continue;
                }
                emit.To(pos);
                while (pos < end && cls.Contains(cps[pos]))
                    pos++;
                emit.To(pos);
            }
            emit.To(end);
        }
    }

    /// <summary>[C] : every class member is a piece of its own.</summary>
    private sealed class ClassSinglePass(CharClass cls) : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var emit = new Emitter(output, start);
            for (int pos = start; pos < end; pos++)
            {
                if (cls.Contains(cps[pos]))
                {
                    emit.To(pos);
                    emit.To(pos + 1);
                }
            }
            emit.To(end);
        }
    }

    /// <summary>\s?[C]+ : a run of class members, with one whitespace before it when there is one.</summary>
    private sealed class SpaceClassRunPass(CharClass cls) : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var emit = new Emitter(output, start);
            int pos = start;
            while (pos < end)
            {
                if (IsSpace(cps[pos]) && pos + 1 < end && cls.Contains(cps[pos + 1]))
                {
                    emit.To(pos);
                    pos++;
                }
                else if (cls.Contains(cps[pos]))
                    emit.To(pos);
                else
                {
                    pos++;
                    continue;
                }
                while (pos < end && cls.Contains(cps[pos]))
                    pos++;
                emit.To(pos);
            }
            emit.To(end);
        }
    }

    /// <summary>\s+$ : the whitespace at the end of a piece (std::regex's $ matches at the end of each piece).</summary>
    private sealed class TrailingSpacePass : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            int ws = end;
            while (ws > start && IsSpace(cps[ws - 1]))
                ws--;
            var emit = new Emitter(output, start);
            emit.To(ws);
            emit.To(end);
        }
    }

    /// <summary>[0-9][0-9][0-9] : leftmost triples of ASCII digits.</summary>
    private sealed class TripleDigitPass : SplitPass
    {
        public override void Split(ReadOnlySpan<int> cps, int start, int end, List<int> output)
        {
            var emit = new Emitter(output, start);
            int pos = start;
            while (pos + 3 <= end)
            {
                if (IsDigit(cps[pos]) && IsDigit(cps[pos + 1]) && IsDigit(cps[pos + 2]))
                {
                    emit.To(pos);
                    pos += 3;
                    emit.To(pos);
                }
                else
                    pos++;
            }
            emit.To(end);
        }

        private static bool IsDigit(int cp) => cp is >= '0' and <= '9';
    }
}

/// <summary>
/// A bracket expression as llama.cpp's std::regex sees it: ASCII members literally; non-ASCII whitespace as \v;
/// other non-ASCII code points by category (for \p{..}) or by literal range (for expressions without \p).
/// </summary>
internal sealed class CharClass
{
    private readonly bool[] _ascii = new bool[128];
    private ushort _categories;
    private readonly List<(int First, int Last)> _ranges = [];

    public bool Contains(int cp)
    {
        if ((uint)cp < 128)
            return _ascii[cp];
        ushort f = Unicode.Flags(cp);
        if ((f & Unicode.Whitespace) != 0)
            return _ascii[0x0B];
        if ((f & _categories) != 0)
            return true;
        foreach (var (first, last) in _ranges)
            if (cp >= first && cp <= last)
                return true;
        return false;
    }

    /// <summary>Parses the inside of a bracket expression: literals, ranges a-b, \p{L|N|P|M|S}, \r, \n, \x escapes.</summary>
    public static CharClass Parse(string pattern)
    {
        var cls = new CharClass();
        var cps = new List<int>();
        for (int i = 0; i < pattern.Length; i += char.IsSurrogatePair(pattern, i) ? 2 : 1)
            cps.Add(char.ConvertToUtf32(pattern, i));
        for (int i = 0; i < cps.Count; i++)
        {
            int c = cps[i];
            if (c == '\\' && i + 1 < cps.Count)
            {
                int e = cps[++i];
                if (e == 'p' && i + 3 < cps.Count && cps[i + 1] == '{')
                {
                    int close = cps.IndexOf('}', i);
                    string name = string.Concat(cps.GetRange(i + 2, close - i - 2).Select(char.ConvertFromUtf32));
                    cls.AddCategory(name);
                    i = close;
                    continue;
                }
                c = e switch { 'r' => '\r', 'n' => '\n', 't' => '\t', _ => e };
            }
            int last = c;
            if (i + 2 < cps.Count && cps[i + 1] == '-')
            {
                last = cps[i + 2];
                i += 2;
            }
            cls.AddRange(c, last);
        }
        return cls;
    }

    private void AddRange(int first, int last)
    {
        for (int c = first; c <= Math.Min(last, 127); c++)
            _ascii[c] = true;
        if (last >= 128)
            _ranges.Add((Math.Max(first, 128), last));
    }

    private void AddCategory(string name)
    {
        switch (name)
        {
            case "N":
                _categories |= Unicode.Number;
                AddRange('0', '9');
                break;
            case "L" or "Lu" or "Ll" or "Lt" or "Lm" or "Lo":
                _categories |= Unicode.Letter;
                AddRange('A', 'Z');
                AddRange('a', 'z');
                break;
            case "P":
                _categories |= Unicode.Punctuation;
                foreach (char ch in "!\"#%&'()*,-./:;?@[\\]_{}")
                    _ascii[ch] = true;
                break;
            case "M":
                _categories |= Unicode.Mark;
                break;
            case "S":
                _categories |= Unicode.Symbol;
                foreach (char ch in "$+<=>^`|~")
                    _ascii[ch] = true;
                break;
            default:
                throw new ArgumentException($"unsupported class \\p{{{name}}}");
        }
    }
}
