using System.CommandLine;
using System.Text.Json;
using Fathom.Engine;
using Fathom.Sampling;

namespace Fathom.Cli.Commands;

/// <summary>`fathom chat`: a multi-turn terminal chat on the engine; each turn extends the previous tokens so only the new message is prefilled.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CliModel.ModelOption();
        var system = new Option<string>("--system") { Description = "System message." };
        var count = new Option<int>("--n-predict", "-n") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 512 };
        var temp = new Option<float>("--temp") { Description = "Temperature; 0 = greedy.", DefaultValueFactory = _ => 0.8f };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed (default: random)." };
        var threads = CliModel.ThreadsOption(CliModel.DefaultThreads);
        var context = new Option<int>("--ctx-size", "-c") { Description = "Context length (default: the model's, at most 4096)." };
        var command = new Command("chat", "Chat with a GGUF model: reads lines from stdin; /clear, /save FILE, /load FILE, /exit.")
        {
            model, system, count, temp, seed, threads, context,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int t = parse.GetValue(threads), n = parse.GetValue(count), ctx = parse.GetValue(context);
            CliModel.CheckThreads(t);
            if (n < 1)
                throw new CliUsageException($"--n-predict {n} must be positive");
            if (ctx < 0)
                throw new CliUsageException($"--ctx-size {ctx} must not be negative");
            float temperature = parse.GetValue(temp);
            if (!(temperature >= 0))
                throw new CliUsageException($"--temp {temperature} must not be negative");
            using var engine = InferenceEngine.Load(CliModel.CheckModel(parse.GetValue(model)),
                new EngineOptions { ContextLength = ctx, Threads = t, MaxSequences = 1, ParkedSessions = 2 });
            var chat = new Conversation(engine, parse.GetValue(system));
            var sampling = new SamplingOptions { Temperature = temperature, TopK = 40, TopP = 0.95f, MinP = 0.05f, Seed = parse.GetValue(seed) };
            while (Console.In.ReadLine() is { } line)
            {
                line = line.Trim();
                if (line.Length == 0)
                    continue;
                if (line.StartsWith('/'))
                {
                    if (!chat.Command(line, stdout, stderr))
                        break;
                    continue;
                }
                chat.Turn(line, sampling, n, stdout, stderr);
            }
            return 0;
        });
        return command;
    }

    /// <summary>The messages so far, and the exact tokens the engine saw, so the next prompt extends them.</summary>
    private sealed class Conversation(InferenceEngine engine, string? system)
    {
        private readonly List<EngineMessage> _messages = Initial(system);
        private List<int> _tokens = [];
        private string _rendered = "";

        public bool Command(string line, TextWriter stdout, TextWriter stderr)
        {
            string[] parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string arg = parts.Length > 1 ? parts[1] : "";
            switch (parts[0])
            {
                case "/exit" or "/quit":
                    return false;
                case "/clear":
                    Reset(Initial(system));
                    stderr.WriteLine("fathom: conversation cleared");
                    return true;
                case "/save" when arg.Length > 0:
                    try
                    {
                        File.WriteAllText(arg, JsonSerializer.Serialize(_messages.Select(m => new Dictionary<string, string> { ["role"] = m.Role, ["content"] = m.Content })));
                        stderr.WriteLine($"fathom: saved {_messages.Count} messages to {arg}");
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        stderr.WriteLine($"fathom: cannot save '{arg}': {ex.Message}");
                    }
                    return true;
                case "/load" when arg.Length > 0:
                    try
                    {
                        var loaded = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(File.ReadAllText(arg))
                            ?? throw new JsonException("not a list of messages");
                        Reset(loaded.Select(d => new EngineMessage(
                            d.TryGetValue("role", out var r) ? r : throw new JsonException("a message has no role"),
                            d.TryGetValue("content", out var c) ? c : "")).ToList());
                        stderr.WriteLine($"fathom: loaded {_messages.Count} messages from {arg}");
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
                    {
                        stderr.WriteLine($"fathom: cannot load '{arg}': {ex.Message}");
                    }
                    return true;
                default:
                    stderr.WriteLine("fathom: commands are /clear, /save FILE, /load FILE, /exit");
                    return true;
            }
        }

        public void Turn(string user, SamplingOptions sampling, int maxTokens, TextWriter stdout, TextWriter stderr)
        {
            _messages.Add(new EngineMessage("user", user));
            string full = engine.RenderChat(_messages);
            int[] prompt;
            if (_tokens.Count > 0 && full.StartsWith(_rendered, StringComparison.Ordinal))
                prompt = [.. _tokens, .. engine.Tokenizer.Encode(full[_rendered.Length..], addSpecial: false, parseSpecial: true)];
            else
                prompt = engine.RenderPrompt(_messages);

            var reply = new System.Text.StringBuilder();
            var generated = new List<int>();
            GenerationUpdate? final = null;
            try
            {
                foreach (var u in engine.Submit(new GenerationRequest { PromptTokens = prompt, Sampling = sampling, MaxTokens = maxTokens }).ToBlockingEnumerable())
                {
                    stdout.Write(u.Text);
                    stdout.Flush();
                    reply.Append(u.Text);
                    foreach (int id in u.TokenIds)
                        generated.Add(id);
                    final = u.IsFinal ? u : final;
                }
            }
            catch (ArgumentException ex)
            {
                _messages.RemoveAt(_messages.Count - 1);
                stderr.WriteLine($"fathom: {ex.Message}");
                return;
            }
            stdout.WriteLine();
            _messages.Add(new EngineMessage("assistant", reply.ToString()));
            _tokens = [.. prompt, .. generated];
            _rendered = full + reply;
            if (final?.Usage is { } usage)
                stderr.WriteLine($"[{usage.InputTokens} prompt tokens, {usage.CachedInputTokens} cached; {usage.OutputTokens} generated, {usage.DecodeTokensPerSecond:F1} tok/s; {final.StopReason}]");
        }

        private void Reset(List<EngineMessage> messages)
        {
            _messages.Clear();
            _messages.AddRange(messages);
            _tokens = [];
            _rendered = "";
        }

        private static List<EngineMessage> Initial(string? system) => system is null ? [] : [new EngineMessage("system", system)];
    }
}
