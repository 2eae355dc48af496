using System.CommandLine;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Fathom.Context;
using Fathom.KvCache;
using Fathom.Models;
using Fathom.Server.Backends;
using Fathom.Templates;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>
/// `fathom ask DIR "question"`: packs the repository into the model's context (minus the answer's reserve), renders the
/// chat template and streams the answer. The prompt up to the end of the pack is saved as a prompt cache keyed by the
/// model and those tokens, so a follow-up question on an unchanged repository prefills only the question.
/// </summary>
internal static class AskCommand
{
    // Stand-ins for the message contents when the template is rendered, so template markup and content are tokenized apart.
    private const string SystemMark = "\u0001FATHOM-SYSTEM\u0001";
    private const string UserMark = "\u0001FATHOM-USER\u0001";

    /// <summary>Questions are given room in steps of this many tokens.</summary>
    private const int QuestionQuantum = 128;

    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "Repository or directory to ask about." };
        var question = new Argument<string>("question") { Description = "The question." };
        var model = new Option<FileInfo>("--model", "-m") { Description = "GGUF model (default: the built-in demo model, whose answers are meaningless)." };
        var count = new Option<int>("--n-predict", "-n") { Description = "Most tokens in the answer; also the reserve kept free in the context.", DefaultValueFactory = _ => 512 };
        var context = new Option<int>("--ctx-size", "-c") { Description = "Context length (default: the model's, at most 32768)." };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 = greedy.", DefaultValueFactory = _ => 0.7f };
        var seed = new Option<int?>("--seed", "-s") { Description = "Random seed (default: time)." };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var system = new Option<string>("--system") { Description = "System prompt (default: answer from the repository, cite paths)." };
        var include = new Option<string[]>("--include") { Description = "Only files matching this glob (gitignore syntax; repeatable)." };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave out files or directories matching this glob (gitignore syntax; repeatable)." };
        var cacheDir = new Option<DirectoryInfo>("--cache-dir") { Description = "Where prompt caches (and the demo model) live (default: $FATHOM_CACHE, else ~/.cache/fathom)." };
        var noCache = new Option<bool>("--no-prompt-cache") { Description = "Neither reuse nor save the packed prefix." };
        var command = new Command("ask", "Ask a question about a repository: pack it into the model's context, stream the answer; the packed prefix is cached for follow-up questions.")
        {
            dir, question, model, count, context, temp, seed, threads, system, include, exclude, cacheDir, noCache,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var root = parse.GetValue(dir)!;
            if (!root.Exists)
                throw new CliUsageException($"directory '{root.FullName}' not found");
            string text = (parse.GetValue(question) ?? "").Trim();
            if (text.Length == 0)
                throw new CliUsageException("the question is empty");
            int n = parse.GetValue(count), ctx = parse.GetValue(context), t = parse.GetValue(threads);
            CliModel.CheckThreads(t);
            if (n < 1)
                throw new CliUsageException($"--n-predict {n} must be at least 1");
            if (ctx < 0)
                throw new CliUsageException($"--ctx-size {ctx} must not be negative");
            string cache = parse.GetValue(cacheDir)?.FullName ?? ServeCommand.CacheDirectory();

            string path;
            if (parse.GetValue(model) is { } file)
            {
                path = CliModel.CheckModel(file);
            }
            else
            {
                path = DemoModel.Ensure(cache);
                stderr.WriteLine("fathom: no --model given: using the built-in DEMO model (random weights); ITS ANSWER IS MEANINGLESS.");
            }
            using var m = Model.Load(path);
            var tokenizer = Tokenizer.FromGguf(m.File);
            int contextLength = ctx > 0 ? ctx : Math.Min(m.Config.ContextLength, 32768);
            var prompt = AskPrompt.Render(m, tokenizer, parse.GetValue(system) ?? RepoQuestion.DefaultSystemPrompt);

            var clock = Stopwatch.StartNew();
            RepoQuestion q;
            try
            {
                var options = new PackOptions
                {
                    Budget = 1,
                    Walk = new WalkOptions { Include = parse.GetValue(include) ?? [], Exclude = parse.GetValue(exclude) ?? [] },
                };
                // The question's room is rounded up to a whole quantum, so follow-up questions of similar length get the
                // same pack (and hit its cache); a few more tokens cover the seams between separately tokenized pieces.
                var counter = new TokenizerCounter(tokenizer);
                int questionTokens = counter.CountTokens(RepoQuestion.QuestionSeparator + text);
                int padding = (questionTokens + QuestionQuantum - 1) / QuestionQuantum * QuestionQuantum - questionTokens;
                q = RepoQuestion.Build(root.FullName, text, counter, contextLength, n, prompt.OverheadTokens + 4 + padding, prompt.System, options);
            }
            catch (Exception ex) when (ex is ContextBudgetException or ArgumentException)
            {
                throw new CliUsageException($"{ex.Message} (context {contextLength}, --n-predict {n})");
            }
            double packSeconds = clock.Elapsed.TotalSeconds;
            var (prefix, ids) = prompt.Encode(tokenizer, q.Pack.Output, q.User[q.Pack.Output.Length..]);
            if (ids.Length >= contextLength)
                throw new CliUsageException($"the prompt is {ids.Length} tokens but the context is {contextLength}");
            if (prompt.Fallback is { } fallback)
                stderr.WriteLine($"fathom: the model has no chat template; using the built-in '{fallback}' template");
            int whole = q.Pack.Packed.Count(p => p.As == PackedAs.Whole);
            stderr.WriteLine($"ask: packed {q.Pack.Packed.Count} of {q.Pack.FilesFound} files ({whole} whole, {q.Pack.Packed.Count - whole} outlined, "
                + $"{q.Pack.Left.Count} left out) into {q.Pack.Tokens:N0} of {q.Budget.Available:N0} tokens in {packSeconds:F2} s; "
                + $"prompt {ids.Length:N0} tokens, context {contextLength:N0}, answer up to {Math.Min(n, contextLength - ids.Length):N0}");

            using var session = m.CreateSession(contextLength, t);
            clock.Restart();
            int reused = 0;
            string? cachePath = parse.GetValue(noCache) ? null : CachePath(cache, m, session, ids.AsSpan(0, prefix));
            if (cachePath is not null)
            {
                try
                {
                    reused = PromptCache.Load(session, cachePath, ids);
                    if (reused > 0)
                        File.SetLastWriteTimeUtc(cachePath, DateTime.UtcNow);
                }
                catch (PromptCacheException ex)
                {
                    stderr.WriteLine($"fathom: prompt cache not used ({ex.Message}); it will be rewritten");
                    session.Reset();
                }
            }
            ReadOnlySpan<float> logits;
            if (cachePath is not null && reused < prefix)
            {
                session.Forward(ids.AsSpan(reused, prefix - reused));
                Directory.CreateDirectory(Path.GetDirectoryName(cachePath)!);
                PromptCache.Save(session, ids.AsSpan(0, prefix), cachePath);
                Prune(Path.GetDirectoryName(cachePath)!, keep: 8);
                logits = session.Forward(ids.AsSpan(prefix));
            }
            else
            {
                logits = session.Forward(ids.AsSpan(reused));
            }
            double prefillSeconds = clock.Elapsed.TotalSeconds;
            int prefilled = ids.Length - reused;
            stderr.WriteLine($"ask: prompt cache: {reused} tokens cached, {prefilled} prefilled in {prefillSeconds:F2} s"
                + (cachePath is null ? " (cache off)" : reused >= prefix ? $" (hit: {cachePath})" : $" (saved the {prefix}-token prefix: {cachePath})"));

            var sampler = new SimpleSampler(parse.GetValue(temp), 40, 0.95f, 0.05f, 1f, parse.GetValue(seed) ?? Environment.TickCount);
            var decoder = new UTF8Encoding(false).GetDecoder();
            var chars = new char[64];
            var history = new List<int>(ids);
            int generated = 0, limit = Math.Min(n, contextLength - ids.Length);
            clock.Restart();
            while (generated < limit)
            {
                int next = sampler.Sample(logits, history);
                generated++;
                history.Add(next);
                if (tokenizer.IsEndOfGeneration(next))
                    break;
                var piece = tokenizer.TokenToPiece(next, renderSpecial: false);
                if (chars.Length < piece.Length * 2)
                    chars = new char[piece.Length * 2];
                int written = decoder.GetChars(piece, 0, piece.Length, chars, 0);
                stdout.Write(chars, 0, written);
                stdout.Flush();
                if (generated < limit)
                    logits = session.Forward([next]);
            }
            double genSeconds = clock.Elapsed.TotalSeconds;
            stdout.WriteLine();
            stderr.WriteLine($"ask: answer {generated} tokens in {genSeconds:F2} s ({(generated > 0 ? generated / genSeconds : 0):F1} t/s)");
            return CliHost.ExitOk;
        });
        return command;
    }

    /// <summary>One file per model and packed prefix: SHA-256 of the model's fingerprint, the cache types and the prefix token ids.</summary>
    private static string CachePath(string cacheDirectory, Model model, ModelSession session, ReadOnlySpan<int> prefix)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(PromptCache.Fingerprint(model));
        var o = session.KvCache.Options;
        hash.AppendData(BitConverter.GetBytes(((long)o.KeyType << 32) | (uint)o.ValueType));
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(prefix));
        return Path.Combine(cacheDirectory, "prompts", "ask-" + Convert.ToHexStringLower(hash.GetHashAndReset())[..32] + ".kv");
    }

    /// <summary>Keeps the most recently used ask caches; older ones (other models, earlier states of a repository) go.</summary>
    private static void Prune(string directory, int keep)
    {
        var old = new DirectoryInfo(directory).GetFiles("ask-*.kv").OrderByDescending(f => f.LastWriteTimeUtc).Skip(keep);
        foreach (var f in old)
        {
            try
            {
                f.Delete();
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The chat template split around the two message contents, and how the pieces are tokenized.</summary>
    internal sealed class AskPrompt
    {
        private readonly string _head;
        private readonly string _middle;
        private readonly string _tail;
        private readonly bool _systemInUser;

        private AskPrompt(string head, string middle, string tail, string system, bool systemInUser, int overhead)
        {
            (_head, _middle, _tail, System, _systemInUser, OverheadTokens) = (head, middle, tail, system, systemInUser, overhead);
        }

        /// <summary>The system prompt as a message; empty when the template has no system role (it then leads the user turn).</summary>
        public string System { get; }

        /// <summary>The built-in template's name when the model has none of its own.</summary>
        public string? Fallback { get; private init; }

        /// <summary>Tokens of the template's own markup (and BOS) around the contents.</summary>
        public int OverheadTokens { get; }

        public static AskPrompt Render(Model model, Tokenizer tokenizer, string system)
        {
            var selection = ChatTemplateFallbacks.Select(model.File);
            var options = new ChatTemplateOptions
            {
                AddGenerationPrompt = true,
                BosToken = tokenizer.Bos >= 0 ? tokenizer.TokenText(tokenizer.Bos) : "",
                EosToken = tokenizer.Eos >= 0 ? tokenizer.TokenText(tokenizer.Eos) : "",
            };
            string rendered = selection.Template.Render(new List<Dictionary<string, object?>>
            {
                new() { ["role"] = "system", ["content"] = SystemMark },
                new() { ["role"] = "user", ["content"] = UserMark },
            }, options);
            int s = rendered.IndexOf(SystemMark, StringComparison.Ordinal), u = rendered.IndexOf(UserMark, StringComparison.Ordinal);
            bool once = s >= 0 && u > s && rendered.IndexOf(SystemMark, s + 1, StringComparison.Ordinal) < 0 && rendered.IndexOf(UserMark, u + 1, StringComparison.Ordinal) < 0;
            if (once)
            {
                string head = rendered[..s], middle = rendered[(s + SystemMark.Length)..u], tail = rendered[(u + UserMark.Length)..];
                return Create(tokenizer, head, middle, tail, system, false, selection);
            }
            // A template without a system role: the system prompt leads the user turn.
            rendered = selection.Template.Render(new List<Dictionary<string, object?>> { new() { ["role"] = "user", ["content"] = UserMark } }, options);
            u = rendered.IndexOf(UserMark, StringComparison.Ordinal);
            if (u < 0 || rendered.IndexOf(UserMark, u + 1, StringComparison.Ordinal) >= 0)
                throw new CliUsageException($"the chat template '{selection.Name}' does not place the user message verbatim; ask cannot use it");
            return Create(tokenizer, rendered[..u], "", rendered[(u + UserMark.Length)..], system, true, selection);
        }

        private static AskPrompt Create(Tokenizer tokenizer, string head, string middle, string tail, string system, bool systemInUser, ChatTemplateSelection selection)
        {
            int overhead = Markup(tokenizer, head, first: true).Length + Markup(tokenizer, middle, false).Length + Markup(tokenizer, tail, false).Length;
            // Folded into the user turn, the system prompt is counted by RepoQuestion as its System part all the same.
            return new AskPrompt(head, middle, tail, systemInUser ? system + "\n\n" : system, systemInUser, overhead)
            {
                Fallback = selection.IsFallback ? selection.Name : null,
            };
        }

        /// <summary>
        /// The prompt's token ids and the length of its cacheable prefix (everything up to the end of the pack).
        /// Markup is parsed for special tokens; contents never are, so a repository cannot inject control tokens.
        /// </summary>
        public (int Prefix, int[] Ids) Encode(Tokenizer tokenizer, string pack, string questionTail)
        {
            var ids = new List<int>();
            ids.AddRange(Markup(tokenizer, _head, first: true));
            if (!_systemInUser)
            {
                ids.AddRange(Content(tokenizer, System));
                ids.AddRange(Markup(tokenizer, _middle, false));
                ids.AddRange(Content(tokenizer, pack));
            }
            else
            {
                ids.AddRange(Content(tokenizer, System + pack));
            }
            int prefix = ids.Count;
            ids.AddRange(Content(tokenizer, questionTail));
            ids.AddRange(Markup(tokenizer, _tail, false));
            return (prefix, [.. ids]);
        }

        private static int[] Content(Tokenizer tokenizer, string text) => tokenizer.Encode(text, addSpecial: false, parseSpecial: false);

        private static int[] Markup(Tokenizer tokenizer, string text, bool first)
        {
            // The model's BOS, unless the template already writes it.
            bool add = first && !(tokenizer.Bos >= 0 && text.StartsWith(tokenizer.TokenText(tokenizer.Bos), StringComparison.Ordinal));
            return add ? tokenizer.Encode(text, addSpecial: true, parseSpecial: true) : tokenizer.Encode(text, addSpecial: false, parseSpecial: true);
        }
    }
}
