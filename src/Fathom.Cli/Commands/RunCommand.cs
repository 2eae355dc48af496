using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Fathom.Models;
using Fathom.Sampling;
using Fathom.Templates;
using Fathom.Tokenization;

namespace Fathom.Cli.Commands;

/// <summary>`fathom run`: generate text from a prompt, streaming it as it is produced.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text." };
        var file = new Option<FileInfo>("--file", "-f") { Description = "Read the prompt from a file." };
        var tokens = new Option<string>("--tokens") { Description = "Prompt as token ids (1,2,3) instead of text." };
        var count = new Option<int>("--n-predict", "-n") { Description = "Tokens to generate.", DefaultValueFactory = _ => 128 };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 = greedy.", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens (0 = all).", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Keep the smallest set of tokens with this total probability.", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens less likely than this fraction of the most likely.", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "Penalty for the last 64 tokens (1 = off).", DefaultValueFactory = _ => 1f };
        var seed = new Option<int?>("--seed", "-s") { Description = "Random seed (default: time)." };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var context = new Option<int>("--ctx-size", "-c") { Description = "Context length (default: the model's, at most 4096)." };
        var chat = new Option<bool>("--chat") { Description = "Wrap the prompt as a user turn in the model's chat template (or a built-in fallback)." };
        var system = new Option<string>("--system") { Description = "System message for --chat." };
        var command = new Command("run", "Generate text from a prompt with a GGUF model; prints prompt and generation speed on stderr.")
        {
            model, prompt, file, tokens, count, temp, topK, topP, minP, repeat, seed, threads, context, chat, system,
        };
        var kv = new KvOptions();
        kv.AddTo(command);
        var promptCache = new Option<FileInfo>("--prompt-cache") { Description = "Reuse the longest matching prefix saved in this file, then save the prefilled prompt to it." };
        command.Options.Add(promptCache);
        var overflow = new Option<string>("--overflow") { Description = "When the context is full: error (stop and say so), shift (keep --keep tokens, drop the oldest half of the rest) or policy (the KV policy bounds memory).", DefaultValueFactory = _ => "error" };
        var keep = new Option<int>("--keep") { Description = "Tokens kept at the start by --overflow shift.", DefaultValueFactory = _ => 0 };
        command.Options.Add(overflow);
        command.Options.Add(keep);
        var grammarFile = new Option<FileInfo>("--grammar") { Description = "Constrain the output to this GBNF grammar (llama.cpp format, root rule 'root')." };
        var schemaFile = new Option<FileInfo>("--json-schema") { Description = "Constrain the output to JSON valid against this JSON Schema." };
        command.Options.Add(grammarFile);
        command.Options.Add(schemaFile);
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int t = parse.GetValue(threads), n = parse.GetValue(count), ctx = parse.GetValue(context);
            CliModel.CheckThreads(t);
            if (n < 0)
                throw new CliUsageException($"--n-predict {n} must not be negative");
            if (ctx < 0)
                throw new CliUsageException($"--ctx-size {ctx} must not be negative");
            var sampler = new SimpleSampler(parse.GetValue(temp), parse.GetValue(topK), parse.GetValue(topP), parse.GetValue(minP),
                parse.GetValue(repeat), parse.GetValue(seed) ?? Environment.TickCount);
            var grammar = LoadGrammar(parse.GetValue(grammarFile), parse.GetValue(schemaFile));

            using var m = Model.Load(CliModel.CheckModel(parse.GetValue(model)));
            var tokenizer = Tokenizer.FromGguf(m.File);
            var constraint = grammar is null ? null : new GrammarConstraint(grammar, tokenizer);
            float[] masked = [];
            string? text = PromptText(parse.GetValue(prompt), parse.GetValue(file), parse.GetValue(tokens));
            if (parse.GetValue(system) is not null && !parse.GetValue(chat))
                throw new CliUsageException("--system needs --chat");
            if (parse.GetValue(chat))
            {
                if (text is null)
                    throw new CliUsageException("--chat needs a text prompt (--prompt or --file), not --tokens");
                text = ChatPrompt(m, tokenizer, text, parse.GetValue(system), stderr);
            }
            int[] ids = text is null ? CliModel.ParseTokens(parse.GetValue(tokens)!, m.Config.VocabSize) : Encode(tokenizer, text);
            int contextLength = ctx > 0 ? ctx : Math.Min(m.Config.ContextLength, 4096);
            if (ids.Length > contextLength)
                throw new CliUsageException($"the prompt is {ids.Length} tokens but the context is {contextLength} (raise --ctx-size)");

            string overflowMode = parse.GetValue(overflow)!;
            if (overflowMode is not ("error" or "shift" or "policy"))
                throw new CliUsageException($"--overflow '{overflowMode}' must be error, shift or policy");
            int nKeep = parse.GetValue(keep);
            if (nKeep < 0 || nKeep >= contextLength - 1)
                throw new CliUsageException($"--keep {nKeep} must be between 0 and {contextLength - 2}");
            var options = kv.Build(parse, contextLength, t);
            var policy = KvPolicies.KvPolicy.Create(options.KvPolicy!, options.KvBudget > 0 ? options.KvBudget : contextLength);
            bool full = policy.Name == "full";
            if (overflowMode == "policy")
            {
                if (!policy.BoundsDecodeMemory)
                    throw new CliUsageException($"--overflow policy needs a --kv-policy that evicts while decoding (window or h2o); '{policy.Name}' does not");
                // A layer holds the union of its KV heads' positions: window keeps one set, h2o one per head.
                long held = (long)options.KvBudget * (policy.Name == "window" ? 1 : m.Config.HeadCountKv);
                if (options.KvBudget == 0 || held >= contextLength)
                    throw new CliUsageException($"--overflow policy with {policy.Name} needs a --budget{(policy.Name == "window" ? "" : $" × {m.Config.HeadCountKv} KV heads")} below the context of {contextLength}");
                options = options with { MaxPositions = ids.Length + n + 1 };
            }
            if (overflowMode == "shift" && !full)
                throw new CliUsageException($"--overflow shift does not combine with --kv-policy {policy.Name}; use --overflow policy");
            if (parse.GetValue(promptCache) is not null && !full)
                throw new CliUsageException($"--prompt-cache does not combine with --kv-policy {policy.Name}");
            using var session = m.CreateSession(options);
            bool overflowReported = false;
            using var stop = new CancelOnCtrlC();
            var clock = Stopwatch.StartNew();
            int reused = 0;
            string? cachePath = parse.GetValue(promptCache)?.FullName;
            if (cachePath is not null)
            {
                try
                {
                    reused = KvCache.PromptCache.Load(session, cachePath, ids);
                }
                catch (KvCache.PromptCacheException ex)
                {
                    throw new CliUsageException($"--prompt-cache: {ex.Message}");
                }
                stderr.WriteLine($"prompt cache: reused {reused} of {ids.Length} prompt tokens");
            }
            var logits = session.Forward(ids.AsSpan(reused));
            double promptSeconds = clock.Elapsed.TotalSeconds;
            if (cachePath is not null)
                KvCache.PromptCache.Save(session, ids, cachePath);

            var decoder = new UTF8Encoding(false).GetDecoder();
            var chars = new char[64];
            var history = new List<int>(ids);
            int generated = 0;
            clock.Restart();
            while (generated < n && !stop.Requested)
            {
                int next;
                if (constraint is null)
                {
                    next = sampler.Sample(logits, history);
                }
                else
                {
                    // the grammar's mask goes first, so no filter can leave only tokens it forbids
                    if (masked.Length != logits.Length)
                        masked = new float[logits.Length];
                    logits.CopyTo(masked);
                    constraint.Mask(masked);
                    next = sampler.Sample(masked, history);
                    constraint.Accept(next);
                }
                generated++;
                history.Add(next);
                if (tokenizer.IsEndOfGeneration(next))
                    break;
                var piece = tokenizer.TokenToPiece(next, renderSpecial: false);
                int written = decoder.GetChars(piece, 0, piece.Length, chars.Length < piece.Length * 2 ? chars = new char[piece.Length * 2] : chars, 0);
                stdout.Write(chars, 0, written);
                stdout.Flush();
                // complete with nothing allowed after it: stop rather than spend a step on the end token
                if (constraint is { CanContinue: false })
                    break;
                if (overflowMode == "policy")
                {
                    if (!overflowReported && session.Position >= session.ContextLength)
                    {
                        stderr.WriteLine();
                        stderr.WriteLine($"fathom: context of {session.ContextLength} tokens is full: KV policy {policy.Name} ({policy.Parameters}) bounds memory from here, evicting as it decodes");
                        overflowReported = true;
                    }
                }
                else if (session.Position >= session.ContextLength)
                {
                    if (overflowMode == "shift")
                    {
                        int dropped = session.Shift(Math.Min(nKeep, ids.Length));
                        stderr.WriteLine();
                        stderr.WriteLine($"fathom: context of {session.ContextLength} tokens is full: shifted, dropping {dropped} tokens after the first {Math.Min(nKeep, ids.Length)}");
                    }
                    else
                    {
                        stderr.WriteLine();
                        stderr.WriteLine($"fathom: context of {session.ContextLength} tokens is full ({session.Position} positions used of {session.ContextLength}); use --overflow shift or a larger --ctx-size");
                        break;
                    }
                }
                if (generated < n)
                    logits = session.Forward([next]);
            }
            double genSeconds = clock.Elapsed.TotalSeconds;
            stdout.WriteLine();
            if (!full)
            {
                int held = session.KvHeldPositions(0);
                var acc = session.KvCache.Accounting;
                stderr.WriteLine($"kv policy {policy.Name} ({policy.Parameters}): {session.Position} positions run, {held} held in layer 0, " +
                    $"{session.KvEvictedSlots} evicted (all layers), {acc.PagesUsed} pages = {acc.BytesUsed / (1024.0 * 1024.0):F2} MiB of KV");
            }
            stderr.WriteLine($"prompt: {ids.Length} tokens in {promptSeconds * 1000:F1} ms ({ids.Length / promptSeconds:F1} t/s); " +
                $"generation: {generated} tokens in {genSeconds * 1000:F1} ms ({(generated > 0 ? generated / genSeconds : 0):F1} t/s)");
            return CliHost.ExitOk;
        });
        return command;
    }

    private static Grammar? LoadGrammar(FileInfo? gbnf, FileInfo? schema)
    {
        if (gbnf is not null && schema is not null)
            throw new CliUsageException("give --grammar or --json-schema, not both");
        try
        {
            if (gbnf is not null)
                return Grammar.Parse(File.ReadAllText(CheckFile(gbnf, "--grammar")));
            if (schema is not null)
                return JsonSchemaGrammar.Compile(File.ReadAllText(CheckFile(schema, "--json-schema")));
            return null;
        }
        catch (GrammarException ex)
        {
            throw new CliUsageException($"--grammar {gbnf!.Name}: {ex.Message}");
        }
        catch (JsonSchemaException ex)
        {
            throw new CliUsageException($"--json-schema {schema!.Name}: {ex.Message}");
        }
    }

    private static string CheckFile(FileInfo file, string option)
        => file.Exists ? file.FullName : throw new CliUsageException($"{option}: file '{file.FullName}' does not exist");

    private static string? PromptText(string? prompt, FileInfo? file, string? tokens)
    {
        int given = (prompt is null ? 0 : 1) + (file is null ? 0 : 1) + (tokens is null ? 0 : 1);
        if (given != 1)
            throw new CliUsageException("give exactly one of --prompt, --file or --tokens");
        return tokens is not null ? null : prompt ?? File.ReadAllText(file!.FullName);
    }

    private static int[] Encode(Tokenizer tokenizer, string text)
    {
        // A rendered chat prompt that already starts with BOS must not get a second one.
        bool hasBos = tokenizer.Bos >= 0 && text.StartsWith(tokenizer.TokenText(tokenizer.Bos), StringComparison.Ordinal);
        var ids = tokenizer.Encode(text, addSpecial: !hasBos, parseSpecial: true);
        if (ids.Length == 0)
            throw new CliUsageException("the prompt is empty");
        return ids;
    }

    private static string ChatPrompt(Model model, Tokenizer tokenizer, string user, string? system, TextWriter stderr)
    {
        var selection = ChatTemplateFallbacks.Select(model.File);
        if (selection.IsFallback)
            stderr.WriteLine($"fathom: the model has no chat template; using the built-in '{selection.Name}' template");
        var messages = new List<Dictionary<string, object?>>();
        if (system is not null)
            messages.Add(new() { ["role"] = "system", ["content"] = system });
        messages.Add(new() { ["role"] = "user", ["content"] = user });
        return selection.Template.Render(messages, new ChatTemplateOptions
        {
            AddGenerationPrompt = true,
            BosToken = tokenizer.Bos >= 0 ? tokenizer.TokenText(tokenizer.Bos) : "",
            EosToken = tokenizer.Eos >= 0 ? tokenizer.TokenText(tokenizer.Eos) : "",
        });
    }

    /// <summary>Ctrl-C ends generation after the current token instead of killing the process.</summary>
    private sealed class CancelOnCtrlC : IDisposable
    {
        private volatile bool _requested;

        public CancelOnCtrlC() => Console.CancelKeyPress += OnCancel;

        public bool Requested => _requested;

        private void OnCancel(object? sender, ConsoleCancelEventArgs e)
        {
            e.Cancel = true;
            _requested = true;
        }

        public void Dispose() => Console.CancelKeyPress -= OnCancel;
    }
}

/// <summary>
/// llama.cpp's default sampling, simplified: repeat penalty, top-k, temperature, top-p, min-p, then a
/// seeded draw; temperature 0 is greedy (lowest id on ties). The full sampler chain replaces it.
/// </summary>
internal sealed class SimpleSampler(float temperature, int topK, float topP, float minP, float repeatPenalty, int seed)
{
    private readonly Random _random = new(seed);
    private (int Id, float Logit)[] _candidates = [];

    public int Sample(ReadOnlySpan<float> logits, IReadOnlyList<int> history)
    {
        if (temperature <= 0 && repeatPenalty == 1f)
            return ArgMax(logits);
        if (_candidates.Length < logits.Length)
            _candidates = new (int, float)[logits.Length];
        var c = _candidates.AsSpan(0, logits.Length);
        for (int i = 0; i < c.Length; i++)
            c[i] = (i, logits[i]);
        if (repeatPenalty != 1f)
        {
            for (int h = Math.Max(0, history.Count - 64); h < history.Count; h++)
            {
                ref var x = ref c[history[h]];
                if (x.Logit == logits[x.Id])
                    x.Logit = x.Logit > 0 ? x.Logit / repeatPenalty : x.Logit * repeatPenalty;
            }
        }
        c.Sort((a, b) => b.Logit != a.Logit ? b.Logit.CompareTo(a.Logit) : a.Id.CompareTo(b.Id));
        if (temperature <= 0)
            return c[0].Id;
        int keep = topK > 0 ? Math.Min(topK, c.Length) : c.Length;
        var probs = new double[keep];
        double max = c[0].Logit / temperature, sum = 0;
        for (int i = 0; i < keep; i++)
            sum += probs[i] = Math.Exp(c[i].Logit / temperature - max);
        double cumulative = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++)
        {
            probs[i] /= sum;
            if (probs[i] < minP * probs[0])
            {
                cut = Math.Max(1, i);
                break;
            }
            cumulative += probs[i];
            if (cumulative >= topP)
            {
                cut = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < cut; i++)
            total += probs[i];
        double r = _random.NextDouble() * total;
        for (int i = 0; i < cut; i++)
        {
            r -= probs[i];
            if (r <= 0)
                return c[i].Id;
        }
        return c[cut - 1].Id;
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
                best = i;
        }
        return best;
    }
}
