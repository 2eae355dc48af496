using Fathom.Engine;
using Fathom.Gguf;
using Fathom.Models;
using Fathom.Sampling;
using Fathom.Tokenization;

namespace Fathom.Engine.Tests.Engine;

// The engine's own cancellation is under test here; the test-cancellation token would only blur which token cancelled.
#pragma warning disable xUnit1051

public class InferenceEngineTests
{
    private static readonly Lazy<Tokenizer> Vocab = new(() =>
    {
        using var gguf = GgufFile.Open(Fixtures.Model("tiny-llama-f32.gguf"));
        return Tokenizer.FromGguf(gguf);
    });

    private static int[] Eog => [.. Vocab.Value.EndOfGeneration];

    private static InferenceEngine Fake(out FakeRunner runner, EngineOptions? options = null, int context = 256)
    {
        runner = new FakeRunner(512, Eog);
        return new InferenceEngine(runner, Vocab.Value, null, options ?? new EngineOptions { PageSize = 8, MaxBatchTokens = 64, MaxSequences = 4 }, context);
    }

    private static int[] Prompt(int length, int seed) => Enumerable.Range(0, length).Select(i => 3 + (i * 13 + seed * 7) % 250).ToArray();

    /// <summary>What the fake model generates for a prompt, computed directly.</summary>
    private static int[] Expected(int[] prompt, int count)
    {
        var tokens = prompt.ToList();
        for (int i = 0; i < count; i++)
            tokens.Add(FakeRunner.Next(tokens[^1], tokens.Count, 512, Eog));
        return tokens.Skip(prompt.Length).ToArray();
    }

    private static async Task<(List<int> Tokens, GenerationUpdate Final)> Collect(IAsyncEnumerable<GenerationUpdate> stream)
    {
        var tokens = new List<int>();
        await foreach (var u in stream)
        {
            tokens.AddRange(u.TokenIds);
            if (u.IsFinal)
                return (tokens, u);
        }
        throw new InvalidOperationException("no final update");
    }

    private static async Task Drained(InferenceEngine engine)
    {
        for (int i = 0; i < 500 && (engine.Stats.Running + engine.Stats.Waiting > 0 || engine.Stats.PagesInUse > 0); i++)
            await Task.Delay(10);
        Assert.Equal(0, engine.Stats.Running + engine.Stats.Waiting);
        Assert.Equal(0, engine.Stats.PagesInUse);
    }

    [Fact]
    public async Task Many_simultaneous_requests_get_their_own_outputs_and_return_every_page()
    {
        using var engine = Fake(out var runner);
        var rng = new Random(3);
        var prompts = Enumerable.Range(0, 24).Select(i => Prompt(rng.Next(1, 90), i)).ToArray();
        var max = prompts.Select(_ => rng.Next(1, 30)).ToArray();
        var results = await Task.WhenAll(prompts.Select((p, i) => Task.Run(() => Collect(engine.Submit(new GenerationRequest { PromptTokens = p, MaxTokens = max[i] })))));
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(Expected(prompts[i], max[i]), results[i].Tokens);
            Assert.Equal(StopReason.MaxTokens, results[i].Final.StopReason);
            Assert.Equal(prompts[i].Length, results[i].Final.Usage!.InputTokens);
            Assert.Equal(max[i], results[i].Final.Usage!.OutputTokens);
        }
        await Drained(engine);
        Assert.Equal(0, runner.Live);
        Assert.True(runner.MostSequencesInAStep > 1, "concurrent sequences should share steps");
    }

    [Fact]
    public async Task Pool_exhaustion_preempts_and_recomputes_without_losing_output()
    {
        var options = new EngineOptions { PageSize = 4, KvPages = 12, MaxBatchTokens = 32, MaxSequences = 6 };
        using var engine = Fake(out var runner, options);
        var prompts = Enumerable.Range(0, 8).Select(i => Prompt(10 + i * 3, i)).ToArray();
        var results = await Task.WhenAll(prompts.Select(p => Task.Run(() => Collect(engine.Submit(new GenerationRequest { PromptTokens = p, MaxTokens = 12 })))));
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(Expected(prompts[i], 12), results[i].Tokens);
        Assert.True(runner.ForwardTokens > prompts.Sum(p => p.Length) + 11 * prompts.Length - results.Sum(r => r.Final.Usage!.CachedInputTokens), "some sequence should have been recomputed");
        await Drained(engine);
        Assert.Equal(0, runner.Live);
    }

    [Fact]
    public async Task A_sequence_longer_than_the_pool_ends_with_context_length()
    {
        var options = new EngineOptions { PageSize = 4, KvPages = 4, MaxBatchTokens = 32, MaxSequences = 2 };
        using var engine = Fake(out _, options);
        var (tokens, final) = await Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(10, 1), MaxTokens = 100 }));
        Assert.Equal(StopReason.ContextLength, final.StopReason);
        Assert.InRange(tokens.Count, 1, 7);
        await Drained(engine);
    }

    [Fact]
    public async Task Cancellation_and_abandoned_streams_free_their_pages()
    {
        using var engine = Fake(out var runner);
        using var cts = new CancellationTokenSource();
        var cancelled = Task.Run(async () =>
        {
            int n = 0;
            await foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = Prompt(40, 1), MaxTokens = 200 }, cts.Token))
            {
                if (++n == 3)
                    await cts.CancelAsync();
            }
        });
        var abandoned = Task.Run(async () =>
        {
            int n = 0;
            await foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = Prompt(30, 2), MaxTokens = 200 }))
            {
                if (++n == 2)
                    break;
            }
        });
        var normal = Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(20, 3), MaxTokens = 50 }));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await abandoned;
        Assert.Equal(Expected(Prompt(20, 3), 50), (await normal).Tokens);
        await Drained(engine);
        Assert.Equal(0, runner.Live);
    }

    [Fact]
    public async Task A_full_queue_is_a_typed_overload_error()
    {
        using var engine = Fake(out var runner, new EngineOptions { PageSize = 8, MaxPendingRequests = 2 });
        runner.Gate.Reset();
        var a = Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(5, 1), MaxTokens = 2 }));
        var b = Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(5, 2), MaxTokens = 2 }));
        Assert.Throws<EngineOverloadedException>(() => engine.Submit(new GenerationRequest { PromptTokens = Prompt(5, 3), MaxTokens = 2 }));
        runner.Gate.Set();
        await Task.WhenAll(a, b);
        await Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(5, 3), MaxTokens = 2 }));
        await Drained(engine);
    }

    [Fact]
    public async Task Disposing_the_engine_ends_waiting_and_running_streams()
    {
        var engine = Fake(out var runner, new EngineOptions { PageSize = 8, MaxSequences = 1 });
        runner.Gate.Reset();
        var streams = Enumerable.Range(0, 3).Select(i => Collect(engine.Submit(new GenerationRequest { PromptTokens = Prompt(5, i), MaxTokens = 50 }))).ToArray();
        await Task.Delay(50);
        var disposing = Task.Run(engine.Dispose);
        // Let Dispose mark the engine before the runner may move: otherwise a stream can finish its tokens first.
        await Task.Delay(200);
        runner.Gate.Set();
        await disposing;
        foreach (var s in streams)
            await Assert.ThrowsAsync<ObjectDisposedException>(() => s);
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { PromptTokens = [5] }));
    }

    [Fact]
    public async Task Bad_requests_are_argument_errors()
    {
        using var engine = Fake(out _, context: 64);
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest()));
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest { PromptTokens = [] }));
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest { PromptTokens = [600] }));
        Assert.Throws<ArgumentException>(() => engine.Submit(new GenerationRequest { PromptTokens = Prompt(64, 1) }));
        Assert.ThrowsAny<ArgumentException>(() => engine.Submit(new GenerationRequest { PromptTokens = [5], MaxTokens = 0 }));
        Assert.Throws<SamplingException>(() => engine.Submit(new GenerationRequest { PromptTokens = [5], Sampling = new SamplingOptions { TopP = -1 } }));
        await Drained(engine);
    }

    [Fact]
    public async Task A_repeated_prompt_reports_cached_input_tokens()
    {
        using var engine = Fake(out _);
        var prompt = Prompt(50, 9);
        var first = await Collect(engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3 }));
        var second = await Collect(engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3 }));
        var other = await Collect(engine.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3, Tenant = "t2" }));
        Assert.Equal(0, first.Final.Usage!.CachedInputTokens);
        Assert.Equal(48, second.Final.Usage!.CachedInputTokens);
        Assert.Equal(0, other.Final.Usage!.CachedInputTokens);
        Assert.Equal(first.Tokens, second.Tokens);
        Assert.True(engine.Stats.PagesCached > 0);
    }

    [Fact]
    public async Task The_real_model_generates_what_a_plain_session_does_also_under_concurrency()
    {
        using var model = Model.Load(Fixtures.Model("tiny-llama-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = new[] { Prompt(7, 1), Prompt(23, 2), Prompt(40, 3) };
        var expected = prompts.Select(p => Greedy(model, p, 8, tokenizer)).ToArray();
        using var engine = new InferenceEngine(model, tokenizer, null, new EngineOptions { ContextLength = 128, PageSize = 8, MaxBatchTokens = 32 });
        var results = await Task.WhenAll(prompts.Select(p => Collect(engine.Submit(new GenerationRequest { PromptTokens = p, MaxTokens = 8 }))));
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(expected[i], results[i].Tokens);

        // The next turn extends a finished sequence: its full pages are mapped from the prefix cache, only the rest is computed.
        var turn2 = prompts[1].Concat(results[1].Tokens).Concat(Prompt(5, 4)).ToArray();
        var next = await Collect(engine.Submit(new GenerationRequest { PromptTokens = turn2, MaxTokens = 4 }));
        Assert.Equal(prompts[1].Length + results[1].Tokens.Count - 1, next.Final.Usage!.CachedInputTokens);
        Assert.Equal(Greedy(model, turn2, 4, tokenizer), next.Tokens);
        await Drained(engine);
        AssertOnlyCachedPagesHeld(engine);
    }

    /// <summary>With nothing running, the only physical KV left is the prefix cache's and the parked last pages: one page per layer each.</summary>
    private static void AssertOnlyCachedPagesHeld(InferenceEngine engine)
    {
        var runner = Assert.IsType<BatchRunner>(engine.Executor);
        Assert.Equal(engine.Stats.PagesCached, runner.CachedPages);
        Assert.Equal((runner.CachedPages + runner.ParkedTails) * runner.Layers, runner.PhysicalPagesUsed);
    }

    [Fact]
    public async Task The_real_model_shares_cached_prefix_pages_and_computes_only_the_rest()
    {
        using var model = Model.Load(Fixtures.Model("tiny-llama-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        var system = Prompt(45, 7);
        int[] a = [.. system, .. Prompt(6, 8)], b = [.. system, .. Prompt(9, 9)];
        using var engine = new InferenceEngine(model, tokenizer, null, new EngineOptions { ContextLength = 128, PageSize = 8, MaxBatchTokens = 64 });
        var first = await Collect(engine.Submit(new GenerationRequest { PromptTokens = a, MaxTokens = 5 }));
        var runner = Assert.IsType<BatchRunner>(engine.Executor);
        int pagesAfterA = runner.PhysicalPagesUsed;
        var second = await Collect(engine.Submit(new GenerationRequest { PromptTokens = b, MaxTokens = 5 }));
        var isolated = await Collect(engine.Submit(new GenerationRequest { PromptTokens = b, MaxTokens = 5, Tenant = "other" }));
        Assert.Equal(0, first.Final.Usage!.CachedInputTokens);
        Assert.Equal(40, second.Final.Usage!.CachedInputTokens);
        Assert.Equal(0, isolated.Final.Usage!.CachedInputTokens);
        Assert.Equal(Greedy(model, a, 5, tokenizer), first.Tokens);
        Assert.Equal(Greedy(model, b, 5, tokenizer), second.Tokens);
        Assert.Equal(second.Tokens, isolated.Tokens);
        Assert.True(pagesAfterA > 0);
        await Drained(engine);
        AssertOnlyCachedPagesHeld(engine);
    }

    [Fact]
    public async Task The_prefix_cache_survives_a_restart_and_a_damaged_file_is_ignored()
    {
        using var model = Model.Load(Fixtures.Model("tiny-llama-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        using var tree = new TempTree();
        var options = new EngineOptions { ContextLength = 128, PageSize = 8, MaxBatchTokens = 64, PrefixCacheDirectory = tree.Root };
        var prompt = Prompt(37, 5);
        using (var first = new InferenceEngine(model, tokenizer, null, options))
            Assert.Equal(0, (await Collect(first.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3 }))).Final.Usage!.CachedInputTokens);

        using (var second = new InferenceEngine(model, tokenizer, null, options))
        {
            Assert.True(second.RestoredPages > 0);
            var again = await Collect(second.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3 }));
            Assert.Equal(32, again.Final.Usage!.CachedInputTokens);
            Assert.Equal(Greedy(model, prompt, 3, tokenizer), again.Tokens);
            await Drained(second);
            AssertOnlyCachedPagesHeld(second);
        }

        string file = Directory.GetFiles(tree.Root).Single();
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        using (var truncated = new InferenceEngine(model, tokenizer, null, options))
        {
            var run = await Collect(truncated.Submit(new GenerationRequest { PromptTokens = prompt, MaxTokens = 3 }));
            Assert.Equal(Greedy(model, prompt, 3, tokenizer), run.Tokens);
            await Drained(truncated);
        }
        File.WriteAllBytes(file, [.. "garbage"u8]);
        using (var garbage = new InferenceEngine(model, tokenizer, null, options))
            Assert.Equal(0, garbage.RestoredPages);
        using (var other = new InferenceEngine(model, tokenizer, null, options with { PageSize = 16 }))
            Assert.Equal(0, other.RestoredPages);
    }

    [Fact]
    public async Task The_real_model_survives_concurrency_cancellation_and_pool_exhaustion_returning_every_page()
    {
        using var model = Model.Load(Fixtures.Model("tiny-llama-q8_0.gguf"));
        var tokenizer = Tokenizer.FromGguf(model.File);
        var rng = new Random(12);
        var prompts = Enumerable.Range(0, 10).Select(i => Prompt(rng.Next(3, 50), 20 + i)).ToArray();
        // Every other request shares a 24-token prefix, so pages are shared while the pool runs dry.
        for (int i = 0; i < prompts.Length; i += 2)
            prompts[i] = [.. Prompt(24, 99), .. prompts[i]];
        var options = new EngineOptions { ContextLength = 128, PageSize = 8, KvPages = 24, MaxBatchTokens = 48, MaxSequences = 6 };
        using var engine = new InferenceEngine(model, tokenizer, null, options);
        using var cts = new CancellationTokenSource();
        // Submit enqueues at once: all ten arrive together, so the pool runs dry however the consumers are scheduled.
        var streams = prompts.Select((p, i) => engine.Submit(new GenerationRequest { PromptTokens = p, MaxTokens = 12 }, i % 4 == 3 ? cts.Token : default)).ToArray();
        var tasks = streams.Select((stream, i) => Task.Run(async () =>
        {
            var tokens = new List<int>();
            await foreach (var u in stream)
            {
                tokens.AddRange(u.TokenIds);
                if (i % 4 == 3 && tokens.Count >= 2)
                    await cts.CancelAsync();
                if (i == 5 && tokens.Count == 3)
                    break; // an abandoned stream
            }
            return tokens;
        })).ToArray();
        for (int i = 0; i < prompts.Length; i++)
        {
            if (i % 4 == 3)
            {
                try
                {
                    await tasks[i];
                }
                catch (OperationCanceledException)
                {
                }
                continue;
            }
            var got = await tasks[i];
            var want = Greedy(model, prompts[i], 12, tokenizer);
            Assert.Equal(i == 5 ? want[..3] : want, got.ToArray());
        }
        await Drained(engine);
        AssertOnlyCachedPagesHeld(engine);
        Assert.True(engine.Preemptions > 0, "the pool should have run out");
    }

    private static int[] Greedy(Model model, int[] prompt, int count, Tokenizer tokenizer)
    {
        using var session = model.CreateSession(128);
        var logits = session.Forward(prompt);
        var output = new List<int>();
        for (int i = 0; i < count; i++)
        {
            int best = 0;
            for (int t = 1; t < logits.Length; t++)
            {
                if (logits[t] > logits[best])
                    best = t;
            }
            output.Add(best);
            if (tokenizer.IsEndOfGeneration(best))
                break;
            if (i + 1 < count)
                logits = session.Forward([best]);
        }
        return [.. output];
    }
}
