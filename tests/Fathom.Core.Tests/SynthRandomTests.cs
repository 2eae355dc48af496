using Fathom.Gguf.Synth;

namespace Fathom.Tests;

public class SynthRandomTests
{
    private const int N = 1 << 20;

    [Fact]
    public void Samples_are_standard_normal()
    {
        var v = new float[N];
        SynthRandom.FillNormal(v, seed: 1, stream: 0, mean: 0, std: 1);
        var (mean, variance) = ModelSynthesizerTests.Moments(v);
        Assert.True(Math.Abs(mean) < 5 / Math.Sqrt(N), $"mean {mean}");
        Assert.True(Math.Abs(variance - 1) < 5 * Math.Sqrt(2.0 / N), $"variance {variance}");
        double skew = 0, kurt = 0;
        foreach (float x in v)
        {
            skew += (double)x * x * x;
            kurt += (double)x * x * x * x;
        }
        Assert.True(Math.Abs(skew / N) < 5 * Math.Sqrt(15.0 / N), $"third moment {skew / N}");
        Assert.True(Math.Abs(kurt / N - 3) < 5 * Math.Sqrt(96.0 / N), $"fourth moment {kurt / N}");

        // Tails, including the ziggurat's base strip beyond 3.44: P(|x| > 2) = 4.550%, P(|x| > 3.5) = 0.0465%.
        double beyond2 = v.Count(x => Math.Abs(x) > 2) / (double)N;
        double beyond35 = v.Count(x => Math.Abs(x) > 3.5) / (double)N;
        Assert.InRange(beyond2, 0.0455 - 5 * Math.Sqrt(0.0455 / N), 0.0455 + 5 * Math.Sqrt(0.0455 / N));
        Assert.InRange(beyond35, 0.000465 - 5 * Math.Sqrt(0.000465 / N), 0.000465 + 5 * Math.Sqrt(0.000465 / N));
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Mean_and_std_are_applied()
    {
        var v = new float[N];
        SynthRandom.FillNormal(v, 2, 0, mean: 1f, std: 0.05f);
        var (mean, variance) = ModelSynthesizerTests.Moments(v);
        Assert.True(Math.Abs(mean - 1) < 5 * 0.05 / Math.Sqrt(N));
        Assert.True(Math.Abs(variance / 0.0025 - 1) < 5 * Math.Sqrt(2.0 / N));
    }

    [Fact]
    public void Streams_are_reproducible_and_independent()
    {
        var a = new float[4096];
        var b = new float[4096];
        var c = new float[4096];
        var d = new float[4096];
        SynthRandom.FillNormal(a, 9, SynthRandom.Stream(3, 5), 0, 1);
        SynthRandom.FillNormal(b, 9, SynthRandom.Stream(3, 5), 0, 1);
        SynthRandom.FillNormal(c, 9, SynthRandom.Stream(3, 6), 0, 1);
        SynthRandom.FillNormal(d, 10, SynthRandom.Stream(3, 5), 0, 1);
        Assert.Equal(a, b);
        // Correlation between different streams (or seeds) is sampling noise: |r| < 5/√n.
        Assert.True(Math.Abs(Correlation(a, c)) < 5 / Math.Sqrt(a.Length));
        Assert.True(Math.Abs(Correlation(a, d)) < 5 / Math.Sqrt(a.Length));
        // A prefix of a stream is the start of the longer stream: chunk sizes never change values.
        var prefix = new float[100];
        SynthRandom.FillNormal(prefix, 9, SynthRandom.Stream(3, 5), 0, 1);
        Assert.Equal(a[..100], prefix);
        Assert.NotEqual(SynthRandom.Stream(1, 0), SynthRandom.Stream(0, 1));
    }

    private static double Correlation(float[] x, float[] y)
    {
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sx += x[i];
            sy += y[i];
            sxx += (double)x[i] * x[i];
            syy += (double)y[i] * y[i];
            sxy += (double)x[i] * y[i];
        }
        double n = x.Length;
        return (sxy - sx * sy / n) / Math.Sqrt((sxx - sx * sx / n) * (syy - sy * sy / n));
    }
}
