using System.Runtime.CompilerServices;
using Fathom.Sampling;

namespace Fathom.Gguf.Synth;

/// <summary>
/// Counter-based normal samples for synthetic weights: each (seed, stream) pair is an independent
/// xoshiro256** generator, so chunks of a tensor can be filled in parallel and the result does not
/// depend on the thread count. Normals come from a 128-layer ziggurat (one table lookup and compare
/// for ~99% of samples).
/// </summary>
public static class SynthRandom
{
    /// <summary>Fills <paramref name="destination"/> with N(<paramref name="mean"/>, <paramref name="std"/>²) samples of stream (seed, stream).</summary>
    public static void FillNormal(Span<float> destination, ulong seed, ulong stream, float mean, float std)
    {
        var rng = new Xoshiro256(seed, stream);
        var tables = Ziggurat.Shared;
        for (int i = 0; i < destination.Length; i++)
            destination[i] = mean + std * (float)Ziggurat.Next(ref rng, tables);
    }

    /// <summary>A stream id for chunk <paramref name="chunk"/> of tensor <paramref name="tensor"/>.</summary>
    public static ulong Stream(int tensor, long chunk) => ((ulong)(uint)tensor << 40) ^ (ulong)chunk;
}

/// <summary>Marsaglia and Tsang's ziggurat for the standard normal, with 128 layers.</summary>
internal static class Ziggurat
{
    private const int Layers = 128;
    private const double R = 3.442619855899; // start of the tail
    private const double V = 9.91256303526217e-3; // area of each layer
    private const double Scale = 2147483648.0; // 2^31: hz is a signed 32-bit integer

    // Initialised inline (no static constructor), so tier-1 code reads the tables without init checks.
    private static readonly Tables T = new();

    internal sealed class Tables
    {
        public readonly uint[] K = new uint[Layers];
        public readonly double[] W = new double[Layers];
        public readonly double[] F = new double[Layers];

        public Tables()
        {
            double dn = R, tn = R;
            double q = V / Math.Exp(-0.5 * dn * dn);
            K[0] = (uint)(dn / q * Scale);
            K[1] = 0;
            W[0] = q / Scale;
            W[Layers - 1] = dn / Scale;
            F[0] = 1.0;
            F[Layers - 1] = Math.Exp(-0.5 * dn * dn);
            for (int i = Layers - 2; i >= 1; i--)
            {
                dn = Math.Sqrt(-2.0 * Math.Log(V / dn + Math.Exp(-0.5 * dn * dn)));
                K[i + 1] = (uint)(dn / tn * Scale);
                tn = dn;
                F[i] = Math.Exp(-0.5 * dn * dn);
                W[i] = dn / Scale;
            }
        }
    }

    /// <summary>|hz| as unsigned; int.MinValue gives 2^31, above every K, so it takes the slow path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Abs(int hz) => (uint)((hz ^ (hz >> 31)) - (hz >> 31));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Next(ref Xoshiro256 rng, Tables t)
    {
        ulong u = rng.NextUInt64();
        int iz = (int)(u & (Layers - 1));
        int hz = (int)(u >> 32); // layer index and value come from disjoint bits
        if (Abs(hz) < t.K[iz])
            return hz * t.W[iz];
        return Slow(ref rng, t, hz, iz);
    }

    public static Tables Shared => T;

    private static double Slow(ref Xoshiro256 rng, Tables t, int hz, int iz)
    {
        while (true)
        {
            double x = hz * t.W[iz];
            if (iz == 0)
            {
                double tx, ty;
                do
                {
                    tx = -Math.Log(rng.NextOpenUnit()) / R;
                    ty = -Math.Log(rng.NextOpenUnit());
                }
                while (ty + ty < tx * tx);
                return hz > 0 ? R + tx : -R - tx;
            }
            double uniform = (rng.NextUInt64() >> 11) * (1.0 / (1UL << 53));
            if (t.F[iz] + uniform * (t.F[iz - 1] - t.F[iz]) < Math.Exp(-0.5 * x * x))
                return x;
            ulong u = rng.NextUInt64();
            iz = (int)(u & (Layers - 1));
            hz = (int)(u >> 32);
            if (Abs(hz) < t.K[iz])
                return hz * t.W[iz];
        }
    }
}
