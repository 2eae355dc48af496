using System.Runtime.InteropServices;
using System.Text.Json;
using Fathom.Models;

namespace Fathom.Tests.Models;

/// <summary>One ../shared/fixtures/golden/&lt;model&gt;.json with its logits, and the comparison the README prescribes.</summary>
internal sealed class Golden
{
    private Golden(string name, JsonElement json, float[] logits)
    {
        Name = name;
        var tol = json.GetProperty("tolerance");
        PromptTokens = [.. json.GetProperty("prompt_tokens").EnumerateArray().Select(e => e.GetInt32())];
        GreedyTokens = [.. json.GetProperty("greedy_tokens").EnumerateArray().Select(e => e.GetInt32())];
        NextToken = json.GetProperty("next_token_after_last_row").GetInt32();
        Vocab = json.GetProperty("n_vocab").GetInt32();
        MaxAbs = tol.GetProperty("max_abs").GetDouble();
        MeanAbs = tol.GetProperty("mean_abs").GetDouble();
        MirroredMeanAbs = tol.GetProperty("mirrored_mean_abs").GetDouble();
        MustMatchFreeRunning = tol.GetProperty("greedy_tokens_must_match_free_running").GetBoolean();
        Logits = logits;
        TensorTypes = [.. json.GetProperty("tensor_types").EnumerateObject().Select(p => p.Name)];
    }

    public string[] TensorTypes { get; }

    /// <summary>Skips (visibly) while a tensor type of the model has no mat-mul kernel yet.</summary>
    public void SkipUnlessKernelsExist()
    {
        foreach (string type in TensorTypes)
        {
            Assert.True(Gguf.GgmlTypeInfo.TryParse(type, out var t), $"unknown type {type}");
            Assert.SkipUnless(Tensors.Kernels.Supports(t), $"no mat-mul kernel for {type} yet");
        }
    }

    public string Name { get; }
    public int[] PromptTokens { get; }
    public int[] GreedyTokens { get; }
    public int NextToken { get; }
    public int Vocab { get; }
    public double MaxAbs { get; }
    public double MeanAbs { get; }
    public double MirroredMeanAbs { get; }
    public bool MustMatchFreeRunning { get; }
    public float[] Logits { get; }

    public string ModelPath => Fixtures.Model(Name + ".gguf");

    public static Golden Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Golden, name + ".json")));
        var bytes = File.ReadAllBytes(Path.Combine(Fixtures.Golden, name + ".logits.f32"));
        return new Golden(name, doc.RootElement.Clone(), MemoryMarshal.Cast<byte, float>(bytes).ToArray());
    }

    /// <summary>Teacher-forced run: the prompt as one batch (all rows), then each golden token alone.</summary>
    public float[] RunTeacherForced(Model model, int threads = 1)
    {
        var session = model.CreateSession(64, threads);
        var rows = new List<float>();
        rows.AddRange(session.Forward(PromptTokens, allLogits: true).ToArray());
        foreach (int token in GreedyTokens)
            rows.AddRange(session.Forward([token]).ToArray());
        return [.. rows];
    }

    /// <summary>Free run: the prompt, then greedy argmax tokens; returns the 8 generated tokens and the next one.</summary>
    public int[] RunFree(Model model)
    {
        var session = model.CreateSession(64);
        var logits = session.Forward(PromptTokens);
        var tokens = new List<int>();
        for (int i = 0; i <= GreedyTokens.Length; i++)
        {
            int next = ArgMax(logits);
            tokens.Add(next);
            if (i < GreedyTokens.Length)
                logits = session.Forward([next]);
        }
        return [.. tokens];
    }

    public (double Max, double Mean) Compare(float[] mine)
    {
        Assert.Equal(Logits.Length, mine.Length);
        double max = 0, sum = 0;
        for (int i = 0; i < mine.Length; i++)
        {
            double d = Math.Abs((double)mine[i] - Logits[i]);
            max = Math.Max(max, d);
            sum += d;
        }
        return (max, sum / mine.Length);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
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
