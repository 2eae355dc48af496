using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Fathom.Models;
using Fathom.Sampling;
using Fathom.Templates;
using Fathom.Tokenization;

namespace Fathom.Engine;

/// <summary>
/// Runs generations for many callers on one model. One scheduler thread beats schedule → execute →
/// update: the <see cref="Scheduler"/> picks {sequence → tokens} under a token budget, the runner
/// computes them, sampled tokens stream back through each request's channel. Thread-safe.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly ISequenceRunner _runner;
    private readonly Scheduler _scheduler;
    private readonly Model? _ownedModel;
    private readonly Channel<Job> _commands = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<Job> _cancels = new();
    private readonly Thread _thread;
    private readonly EngineOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private long _nextId;
    private int _pending;
    private EngineStats _stats;
    private readonly ThinkingFormat? _thinking;
    private readonly List<(Sequence Sequence, int Tokens)> _batch = [];

    /// <summary>Loads a GGUF and serves it; the engine owns (and disposes) the model.</summary>
    public static InferenceEngine Load(string path, EngineOptions? options = null)
    {
        var model = Model.Load(path);
        try
        {
            var tokenizer = Tokenizer.FromGguf(model.File);
            var template = ChatTemplateFallbacks.Select(model.File).Template;
            return new InferenceEngine(model, tokenizer, template, options, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Serves <paramref name="model"/> (the caller keeps ownership).</summary>
    public InferenceEngine(Model model, Tokenizer tokenizer, ChatTemplate? template = null, EngineOptions? options = null)
        : this(model, tokenizer, template, options, ownsModel: false)
    {
    }

    private InferenceEngine(Model model, Tokenizer tokenizer, ChatTemplate? template, EngineOptions? options, bool ownsModel)
        : this(CreateRunner(model, options ?? new EngineOptions()), tokenizer, template ?? ChatTemplateFallbacks.Select(model.File).Template, options, Context(model, options ?? new EngineOptions()))
    {
        ModelConfig = model.Config;
        if (ownsModel)
            _ownedModel = model;
    }

    internal InferenceEngine(ISequenceRunner runner, Tokenizer tokenizer, ChatTemplate? template, EngineOptions? options, int contextLength)
    {
        _options = options ?? new EngineOptions();
        _options.Validate();
        _runner = runner;
        Tokenizer = tokenizer;
        Template = template;
        ContextLength = contextLength;
        _thinking = template is null ? null : ThinkingFormat.Detect(template.Source);
        int pages = _options.KvPages > 0 ? _options.KvPages : _options.MaxSequences * ((contextLength + _options.PageSize - 1) / _options.PageSize);
        var pool = new PagePool(pages, _options.PageSize, _options.Clock) { Dropped = runner.Dropped };
        _scheduler = new Scheduler(pool, _options.MaxBatchTokens, _options.MaxSequences, _options.Clock, runner.Attach);
        if (_options.PrefixCacheDirectory is { } dir && runner is BatchRunner batch)
            RestoredPages = PrefixCacheStore.Load(dir, pool, batch);
        _stats = new EngineStats(0, 0, 0, pages, pool.CachedPages, 0);
        _thread = new Thread(Loop) { IsBackground = true, Name = "fathom-engine" };
        _thread.Start();
    }

    public Tokenizer Tokenizer { get; }

    /// <summary>The executor (tests check its page accounting).</summary>
    internal ISequenceRunner Executor => _runner;

    /// <summary>Prefix-cache pages read back from <see cref="EngineOptions.PrefixCacheDirectory"/> at start.</summary>
    internal int RestoredPages { get; }

    /// <summary>Sequences sent back to recompute because the pool ran out (scheduler thread only writes it).</summary>
    internal long Preemptions { get; private set; }
    public ChatTemplate? Template { get; }
    public ModelConfig? ModelConfig { get; }

    /// <summary>Most tokens (prompt + output) of one sequence.</summary>
    public int ContextLength { get; }

    /// <summary>A snapshot of the queue and the KV pool, taken after each step.</summary>
    public EngineStats Stats => Volatile.Read(ref _stats);

    /// <summary>Renders messages with the model's chat template, with the generation prompt when <paramref name="addGenerationPrompt"/>.</summary>
    public string RenderChat(IReadOnlyList<EngineMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var template = Template ?? throw new InvalidOperationException("the engine has no chat template");
        var list = messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList();
        return template.Render(list, new ChatTemplateOptions
        {
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = Tokenizer.Bos >= 0 ? Tokenizer.TokenText(Tokenizer.Bos) : "",
            EosToken = Tokenizer.Eos >= 0 ? Tokenizer.TokenText(Tokenizer.Eos) : "",
        });
    }

    /// <summary>Renders messages with the model's chat template and a generation prompt, and tokenizes them (BOS added unless the template wrote it).</summary>
    public int[] RenderPrompt(IReadOnlyList<EngineMessage> messages)
    {
        string text = RenderChat(messages);
        bool hasBos = Tokenizer.Bos >= 0 && text.StartsWith(Tokenizer.TokenText(Tokenizer.Bos), StringComparison.Ordinal);
        return Tokenizer.Encode(text, addSpecial: !hasBos, parseSpecial: true);
    }

    /// <summary>
    /// Queues a generation and returns its stream. Throws <see cref="EngineOverloadedException"/> at once
    /// when the queue is full. Cancelling <paramref name="cancellationToken"/> or abandoning the stream
    /// frees the sequence's pages at the next step boundary.
    /// </summary>
    public IAsyncEnumerable<GenerationUpdate> Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        int[] prompt = request.PromptTokens is { } t ? [.. t]
            : request.Messages is { Count: > 0 } m ? RenderPrompt(m)
            : throw new ArgumentException("the request has neither prompt tokens nor messages", nameof(request));
        Validate(request, prompt);
        var seq = new Sequence(Interlocked.Increment(ref _nextId), prompt, PageHash.Root(request.Tenant), request.CacheBreakpoints);
        ThinkingSplitter? thinking = null;
        if (_thinking is not null)
        {
            string tail = Tokenizer.Decode(prompt.AsSpan(Math.Max(0, prompt.Length - 32)));
            thinking = new ThinkingSplitter(_thinking, ThinkingSplitter.PromptOpensThinking(tail, _thinking), request.ThinkingBudget);
        }
        var job = new Job(request, seq, Tokenizer, _options.Clock.GetTimestamp(), thinking);
        if (Interlocked.Increment(ref _pending) > _options.MaxPendingRequests)
        {
            Interlocked.Decrement(ref _pending);
            throw new EngineOverloadedException($"the engine already has {_options.MaxPendingRequests} requests waiting or running");
        }
        job.Sequence.Owner = job;
        if (cancellationToken.CanBeCanceled)
            job.Registration = cancellationToken.Register(() => Cancel(job, cancellationToken));
        _commands.Writer.TryWrite(job);
        return Read(job, cancellationToken);
    }

    /// <summary>Generates to the end and returns the text and the final update.</summary>
    public async Task<(string Text, GenerationUpdate Final)> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var u in Submit(request, cancellationToken).WithCancellation(cancellationToken))
        {
            text.Append(u.Text);
            if (u.IsFinal)
                return (text.ToString(), u);
        }
        throw new InvalidOperationException("the stream ended without a final update");
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _commands.Writer.TryComplete();
        _thread.Join();
        try
        {
            if (_options.PrefixCacheDirectory is { } dir && _runner is BatchRunner batch)
                PrefixCacheStore.Save(dir, _scheduler.Pool, batch);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Losing the saved cache costs a prefill later; failing shutdown would cost more.
        }
        _runner.Dispose();
        _ownedModel?.Dispose();
        _stop.Dispose();
    }

    private void Validate(GenerationRequest r, int[] prompt)
    {
        if (prompt.Length == 0)
            throw new ArgumentException("the prompt is empty", nameof(r));
        foreach (int id in prompt)
        {
            if ((uint)id >= (uint)_runner.VocabSize)
                throw new ArgumentException($"token id {id} is outside the vocabulary of {_runner.VocabSize}", nameof(r));
        }
        if (prompt.Length >= ContextLength)
            throw new ArgumentException($"the prompt has {prompt.Length} tokens; the context holds {ContextLength} (one must be left to generate)", nameof(r));
        if (_scheduler.Pool.PagesFor(prompt.Length + 1) > _scheduler.Pool.Capacity)
            throw new ArgumentException($"the prompt needs more KV pages than the pool's {_scheduler.Pool.Capacity}", nameof(r));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(r.MaxTokens, nameof(r));
        ArgumentOutOfRangeException.ThrowIfNegative(r.TopLogprobs, nameof(r));
        ArgumentNullException.ThrowIfNull(r.Sampling);
        if (r.ThinkingBudget is < 0)
            throw new ArgumentException("the thinking budget is negative", nameof(r));
    }

    private async IAsyncEnumerable<GenerationUpdate> Read(Job job, [EnumeratorCancellation] CancellationToken token = default)
    {
        using var reg = token.CanBeCanceled ? token.Register(() => Cancel(job, token)) : default;
        try
        {
            await foreach (var u in job.Output.Reader.ReadAllAsync(token))
                yield return u;
        }
        finally
        {
            // A consumer that stops reading early (break, dispose, exception) no longer wants the sequence.
            if (!job.Completed)
                Cancel(job, CancellationToken.None);
        }
    }

    private void Cancel(Job job, CancellationToken token)
    {
        job.CancelledBy = token;
        _cancels.Enqueue(job);
        _commands.Writer.TryWrite(Job.Wake);
    }

    private void Loop()
    {
        var reader = _commands.Reader;
        while (!_stop.IsCancellationRequested)
        {
            while (reader.TryRead(out var job))
            {
                if (job != Job.Wake && !job.Completed)
                    _scheduler.Add(job.Sequence);
            }
            while (_cancels.TryDequeue(out var job))
            {
                if (!job.Completed)
                    End(job, null, new OperationCanceledException("the generation was cancelled", job.CancelledBy));
            }
            if (!_scheduler.HasWork)
            {
                Publish();
                try
                {
                    if (!reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult())
                        break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            Step();
            Publish();
        }
        foreach (var s in _scheduler.Running.Concat(_scheduler.Waiting).ToList())
            End((Job)s.Owner!, null, new ObjectDisposedException(nameof(InferenceEngine)));
        while (reader.TryRead(out var job))
        {
            if (job != Job.Wake && !job.Completed)
                End(job, null, new ObjectDisposedException(nameof(InferenceEngine)));
        }
    }

    private void Step()
    {
        var plan = _scheduler.Schedule();
        foreach (var s in plan.Preempted)
            _runner.Release(s, keep: false);
        Preemptions += plan.Preempted.Count;
        foreach (var s in plan.Exhausted)
            End((Job)s.Owner!, StopReason.ContextLength, null);
        long now = _options.Clock.GetTimestamp();
        _batch.Clear();
        foreach (var (s, n) in plan.Scheduled)
        {
            var job = (Job)s.Owner!;
            if (job.Completed)
                continue;
            job.FirstScheduled ??= now;
            _batch.Add((s, n));
        }
        if (_batch.Count == 0)
            return;
        ReadOnlySpan<float> logits;
        try
        {
            logits = _runner.Forward(_batch);
        }
        catch (Exception ex)
        {
            foreach (var (s, _) in _batch)
                End((Job)s.Owner!, null, ex);
            return;
        }
        // Continuous batching: all sequences computed together above, each samples from its own row.
        int vocab = _runner.VocabSize, row = 0;
        foreach (var (s, n) in _batch)
        {
            var job = (Job)s.Owner!;
            _scheduler.Advance(s, n);
            if (s.Computed == s.Tokens.Count)
                Emit(job, logits.Slice(row++ * vocab, vocab));
        }
    }

    private void Emit(Job job, ReadOnlySpan<float> logits)
    {
        var s = job.Sequence;
        var r = job.Request;
        int token;
        TokenLogprobs[]? lp = null;
        var history = CollectionsMarshal.AsSpan(s.Tokens);
        if (r.Logprobs)
        {
            var top = new Fathom.Sampling.TokenLogprob[Math.Min(r.TopLogprobs, logits.Length)];
            token = job.Sampler.Sample(logits, history, top, out float logprob);
            lp = [new TokenLogprobs(token, logprob, top)];
        }
        else
        {
            token = job.Sampler.Sample(logits, history);
        }
        job.FirstToken ??= _options.Clock.GetTimestamp();
        s.Tokens.Add(token);
        if (Tokenizer.IsEndOfGeneration(token))
        {
            End(job, StopReason.EndOfGeneration, null);
            return;
        }
        string raw = job.Stop.Push(job.Detokenizer.Push(token));
        var (text, thought) = Split(job, raw, 1);
        job.Output.Writer.TryWrite(new GenerationUpdate { Text = text, Thinking = thought, TokenIds = [token], Logprobs = lp });
        if (job.Stop.Stopped)
            End(job, StopReason.StopSequence, null, job.Stop.MatchedSequence);
        else if (s.OutputCount >= r.MaxTokens)
            End(job, StopReason.MaxTokens, null);
        else if (s.Tokens.Count >= ContextLength)
            End(job, StopReason.ContextLength, null);
        else if (job.Thinking?.Decision == ThinkingDecision.InjectClose)
        {
            // Budget spent: the close marker goes into the sequence unsampled, and the answer follows it.
            var close = Tokenizer.Encode(job.Thinking.CloseText, addSpecial: false, parseSpecial: true);
            if (s.Tokens.Count + close.Length < ContextLength)
            {
                s.Tokens.AddRange(close);
                Split(job, job.Thinking.CloseText, close.Length);
            }
        }
    }

    private static (string Text, string Thinking) Split(Job job, string raw, int tokens)
    {
        if (job.Thinking is null)
            return (raw, "");
        job.Parts.Clear();
        job.Thinking.Push(raw, job.Parts, tokens);
        return Join(job.Parts);
    }

    private static (string Text, string Thinking) Join(List<ThinkingPart> parts)
    {
        if (parts.Count == 0)
            return ("", "");
        var text = new System.Text.StringBuilder();
        var thought = new System.Text.StringBuilder();
        foreach (var p in parts)
            (p.IsThinking ? thought : text).Append(p.Text);
        return (text.ToString(), thought.ToString());
    }

    private void End(Job job, StopReason? reason, Exception? error, string? stopText = null)
    {
        if (job.Completed)
            return;
        job.Completed = true;
        var s = job.Sequence;
        _scheduler.Finish(s);
        _runner.Release(s, keep: error is null);
        job.Registration.Dispose();
        Interlocked.Decrement(ref _pending);
        if (error is not null)
        {
            job.Output.Writer.TryComplete(error);
            return;
        }
        string tail = reason == StopReason.StopSequence ? "" : job.Stop.Push(job.Detokenizer.Flush()) + job.Stop.Flush();
        var (tailText, tailThought) = Split(job, tail, 0);
        if (job.Thinking is not null)
        {
            job.Parts.Clear();
            job.Thinking.Flush(job.Parts);
            var (t2, th2) = Join(job.Parts);
            tailText += t2;
            tailThought += th2;
        }
        long end = _options.Clock.GetTimestamp();
        long submitted = job.Submitted, first = job.FirstScheduled ?? end, tok = job.FirstToken ?? end;
        var usage = new GenerationUsage(
            s.PromptLength,
            Math.Max(0, s.OutputCount),
            Math.Max(0, s.CachedPromptTokens),
            _options.Clock.GetElapsedTime(submitted, first),
            _options.Clock.GetElapsedTime(first, tok),
            _options.Clock.GetElapsedTime(tok, end));
        job.Output.Writer.TryWrite(new GenerationUpdate { Text = tailText, Thinking = tailThought, StopReason = reason, StopSequence = stopText, Usage = usage });
        job.Output.Writer.TryComplete();
    }

    private void Publish()
    {
        var p = _scheduler.Pool;
        Volatile.Write(ref _stats, new EngineStats(_scheduler.RunningCount, _scheduler.WaitingCount, p.InUse, p.Capacity, p.CachedPages, p.Evictions));
    }

    private static int Context(Model model, EngineOptions o) => o.ContextLength > 0 ? o.ContextLength : Math.Min(model.Config.ContextLength, 4096);

    private static BatchRunner CreateRunner(Model model, EngineOptions o) => new(model, Context(model, o), o.Threads, o.PageSize, o.ParkedSessions);

    private sealed class Job
    {
        public static readonly Job Wake = new();

        private Job()
        {
            Request = new GenerationRequest();
            Sequence = null!;
            Sampler = null!;
            Detokenizer = null!;
            Stop = null!;
        }

        public Job(GenerationRequest request, Sequence sequence, Tokenizer tokenizer, long submitted, ThinkingSplitter? thinking)
        {
            Request = request;
            Sequence = sequence;
            Sampler = new SamplerChain(request.Sampling, request.Grammar is { } g ? new GrammarConstraint(g, tokenizer) : null);
            // Thinking markers are often special tokens, so they must reach the splitter as text.
            Detokenizer = new StreamingDetokenizer(tokenizer, renderSpecial: thinking is not null || request.RenderSpecialTokens);
            Stop = new StopSequenceMatcher(request.Stop);
            Thinking = thinking;
            Submitted = submitted;
        }

        public GenerationRequest Request { get; }
        public Sequence Sequence { get; }
        public SamplerChain Sampler { get; }
        public StreamingDetokenizer Detokenizer { get; }
        public StopSequenceMatcher Stop { get; }
        public ThinkingSplitter? Thinking { get; }
        public List<ThinkingPart> Parts { get; } = [];
        public Channel<GenerationUpdate> Output { get; } = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleWriter = true });
        public long Submitted { get; }
        public long? FirstScheduled { get; set; }
        public long? FirstToken { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public CancellationToken CancelledBy { get; set; }

        // Written and read on the scheduler thread; the reader's check is a hint only.
        public volatile bool Completed;
    }
}

/// <summary>Queue and KV pool at the end of the last step.</summary>
public sealed record EngineStats(int Running, int Waiting, int PagesInUse, int PagesTotal, int PagesCached, long Evictions);
