using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Fathom.Gguf;

namespace Fathom.Tensors.Quants;

/// <summary>
/// Quantizes float32 activations to the 8-bit "vec_dot" formats exactly as llama.cpp's CPU backend does
/// before an integer dot product (its <c>from_float</c> functions on x86): Q8_0 and Q8_1 take
/// d = f16(amax/127) and q = round-half-even(x·(127/amax)); Q8_1 adds s = f16(d·Σq) with d unrounded;
/// Q8_K takes the element of largest |x| (first on ties) as max, d = 1/(−127/max) in float32,
/// q = min(127, round-half-even(x·(−127/max))) and the sum of every 16 quants.
/// These differ from the file-writing rules in <see cref="Quantize"/> (Q8_0 weights round half away from zero).
/// Each has a scalar reference (<c>*Reference</c>) and a SIMD path; both give identical bytes.
/// </summary>
internal static unsafe class Q8Activations
{
    /// <summary>The activation format llama.cpp pairs with weights of <paramref name="weightType"/>; F32 for float dots.</summary>
    public static GgmlType VecDotType(GgmlType weightType) => weightType switch
    {
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.IQ4_NL => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS => GgmlType.Q8_K,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        _ => GgmlType.F32,
    };

    /// <summary>Quantizes <paramref name="x"/> into <paramref name="y"/> in <paramref name="type"/> (Q8_0, Q8_1, Q8_K, F16, BF16).</summary>
    public static void Row(GgmlType type, ReadOnlySpan<float> x, Span<byte> y)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        if (x.Length % block != 0)
            throw new ArgumentException($"{x.Length} activations is not a whole number of {GgmlTypeInfo.Name(type)} blocks of {block}.", nameof(x));
        long need = GgmlTypeInfo.RowSize(type, x.Length);
        if (y.Length < need)
            throw new ArgumentException($"Destination holds {y.Length} bytes; {need} needed.", nameof(y));
        fixed (float* px = x)
        fixed (byte* py = y)
        {
            int nb = x.Length / block;
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(px, (BlockQ8_0*)py, nb); break;
                case GgmlType.Q8_1: Q8_1(px, (BlockQ8_1*)py, nb); break;
                case GgmlType.Q8_K: Q8_K(px, (BlockQ8_K*)py, nb); break;
                case GgmlType.F16: for (int i = 0; i < x.Length; i++) ((ushort*)py)[i] = Fp16.FromFloat(px[i]); break;
                case GgmlType.BF16: for (int i = 0; i < x.Length; i++) ((ushort*)py)[i] = Bf16.FromFloat(px[i]); break;
                default: throw new NotSupportedException($"{GgmlTypeInfo.Name(type)} is not an activation format.");
            }
        }
    }

    public static void Q8_0(ReadOnlySpan<float> x, Span<BlockQ8_0> y)
    {
        int nb = CheckBlocks(x.Length, y.Length, 32);
        fixed (float* px = x)
        fixed (BlockQ8_0* py = y)
            Q8_0(px, py, nb);
    }

    public static void Q8_1(ReadOnlySpan<float> x, Span<BlockQ8_1> y)
    {
        int nb = CheckBlocks(x.Length, y.Length, 32);
        fixed (float* px = x)
        fixed (BlockQ8_1* py = y)
            Q8_1(px, py, nb);
    }

    public static void Q8_K(ReadOnlySpan<float> x, Span<BlockQ8_K> y)
    {
        int nb = CheckBlocks(x.Length, y.Length, 256);
        fixed (float* px = x)
        fixed (BlockQ8_K* py = y)
            Q8_K(px, py, nb);
    }

    private static int CheckBlocks(int elements, int blocks, int blockSize)
    {
        if (elements % blockSize != 0)
            throw new ArgumentException($"{elements} activations is not a whole number of blocks of {blockSize}.");
        if (blocks < elements / blockSize)
            throw new ArgumentException($"Destination holds {blocks} blocks; {elements / blockSize} needed.");
        return elements / blockSize;
    }

    /// <summary>Q8_0 of <paramref name="nb"/> blocks of 32.</summary>
    public static void Q8_0(float* x, BlockQ8_0* y, int nb)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            for (int i = 0; i < nb; i++, x += 32, y++)
                Block32V256(x, &y->D, y->Qs);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (int i = 0; i < nb; i++, x += 32, y++)
                Block32V128(x, &y->D, y->Qs);
        }
        else
        {
            Q8_0Reference(x, y, nb);
        }
    }

    /// <summary>Q8_1 of <paramref name="nb"/> blocks of 32.</summary>
    public static void Q8_1(float* x, BlockQ8_1* y, int nb)
    {
        if (!Vector128.IsHardwareAccelerated)
        {
            Q8_1Reference(x, y, nb);
            return;
        }
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float d = Vector256.IsHardwareAccelerated ? Block32V256(x, &y->D, y->Qs) : Block32V128(x, &y->D, y->Qs);
            int sum = 0;
            for (int j = 0; j < 32; j++)
                sum += y->Qs[j];
            y->S = Fp16.FromFloat(d * sum);
        }
    }

    /// <summary>Q8_K of <paramref name="nb"/> blocks of 256.</summary>
    public static void Q8_K(float* x, BlockQ8_K* y, int nb)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            Q8_KReference(x, y, nb);
            return;
        }
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            var vmax = Vector256<float>.Zero;
            for (int j = 0; j < 256; j += 8)
                vmax = Vector256.Max(vmax, Vector256.Abs(Vector256.Load(x + j)));
            float amax = HorizontalMax(vmax);
            if (!(amax > 0f))
            {
                // amax == 0 (or NaN input): take the reference path, which handles both like ggml.
                Q8_KReference(x, y, 1);
                continue;
            }
            int first = 0;
            while (MathF.Abs(x[first]) != amax)
                first++;
            float iscale = -127f / x[first];
            var vs = Vector256.Create(iscale);
            var v127 = Vector256.Create(127);
            for (int j = 0; j < 256; j += 32)
            {
                var q0 = Vector256.Min(v127, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + j) * vs)));
                var q1 = Vector256.Min(v127, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + j + 8) * vs)));
                var q2 = Vector256.Min(v127, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + j + 16) * vs)));
                var q3 = Vector256.Min(v127, Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + j + 24) * vs)));
                y->BSums[j / 16] = (short)Vector256.Sum(q0 + q1);
                y->BSums[j / 16 + 1] = (short)Vector256.Sum(q2 + q3);
                var bytes = Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3));
                bytes.Store(y->Qs + j);
            }
            y->D = 1 / iscale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>One block of 32 (Q8_0/Q8_1 body): writes d and q; returns the unrounded d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Block32V256(float* x, ushort* dOut, sbyte* qs)
    {
        var v0 = Vector256.Load(x);
        var v1 = Vector256.Load(x + 8);
        var v2 = Vector256.Load(x + 16);
        var v3 = Vector256.Load(x + 24);
        var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        float amax = HorizontalMax(m);
        float d = amax / 127f;
        *dOut = Fp16.FromFloat(d);
        var id = Vector256.Create(amax != 0f ? 127f / amax : 0f);
        var q0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id));
        var q1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
        var q2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id));
        var q3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
        Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).Store(qs);
        return d;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Block32V128(float* x, ushort* dOut, sbyte* qs)
    {
        var m = Vector128<float>.Zero;
        for (int j = 0; j < 32; j += 4)
            m = Vector128.Max(m, Vector128.Abs(Vector128.Load(x + j)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        float amax = m.ToScalar();
        float d = amax / 127f;
        *dOut = Fp16.FromFloat(d);
        var id = Vector128.Create(amax != 0f ? 127f / amax : 0f);
        for (int j = 0; j < 32; j += 16)
        {
            var q0 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j) * id));
            var q1 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 4) * id));
            var q2 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 8) * id));
            var q3 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 12) * id));
            Vector128.Narrow(Vector128.Narrow(q0, q1), Vector128.Narrow(q2, q3)).Store(qs + j);
        }
        return d;
    }

    /// <summary>Scalar reference of <see cref="Q8_0(float*, BlockQ8_0*, int)"/>.</summary>
    public static void Q8_0Reference(float* x, BlockQ8_0* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
            Block32Scalar(x, &y->D, y->Qs);
    }

    /// <summary>Scalar reference of <see cref="Q8_1(float*, BlockQ8_1*, int)"/>.</summary>
    public static void Q8_1Reference(float* x, BlockQ8_1* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float d = Block32Scalar(x, &y->D, y->Qs);
            int sum = 0;
            for (int j = 0; j < 32; j++)
                sum += y->Qs[j];
            y->S = Fp16.FromFloat(d * sum);
        }
    }

    /// <summary>Scalar reference of <see cref="Q8_K(float*, BlockQ8_K*, int)"/> (ggml's quantize_row_q8_K_ref).</summary>
    public static void Q8_KReference(float* x, BlockQ8_K* y, int nb) => Quantize.Q8_K(x, y, nb);

    private static float Block32Scalar(float* x, ushort* dOut, sbyte* qs)
    {
        float amax = 0f;
        for (int j = 0; j < 32; j++)
            amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127f;
        *dOut = Fp16.FromFloat(d);
        float id = amax != 0f ? 127f / amax : 0f;
        for (int j = 0; j < 32; j++)
            qs[j] = (sbyte)(int)MathF.Round(x[j] * id, MidpointRounding.ToEven);
        return d;
    }
}
