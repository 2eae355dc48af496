using Fathom.Models;

namespace Fathom.Tests.Models;

public class ModelSessionTests
{
    public static TheoryData<string> GoldenModels => new(
        "tiny-llama-f32", "tiny-llama-rope-f32", "tiny-qwen2-f32", "tiny-qwen3-f32", "tiny-qwen3moe-f32",
        "tiny-llama-f16");

    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void Logits_match_llama_cpp_within_tolerance(string name)
    {
        var golden = Golden.Load(name);
        using var model = Model.Load(golden.ModelPath);
        var (max, mean) = golden.Compare(golden.RunTeacherForced(model));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{name}: max {max:E3} (tol {golden.MaxAbs}), mean {mean:E3} (tol {golden.MeanAbs}, mirrored target {golden.MirroredMeanAbs})");
        Assert.True(max <= golden.MaxAbs, $"{name}: max |d| {max:E3} > {golden.MaxAbs}");
        Assert.True(mean <= golden.MeanAbs, $"{name}: mean |d| {mean:E3} > {golden.MeanAbs}");
    }

    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void Free_running_greedy_tokens_match_llama_cpp(string name)
    {
        var golden = Golden.Load(name);
        Assert.SkipUnless(golden.MustMatchFreeRunning, "quantized: free-running tokens may legitimately differ");
        using var model = Model.Load(golden.ModelPath);
        Assert.Equal([.. golden.GreedyTokens, golden.NextToken], model.Apply(golden.RunFree));
    }
}

internal static class ModelExtensions
{
    public static T Apply<T>(this Model model, Func<Model, T> f) => f(model);
}
