using System.Runtime.CompilerServices;
using Fathom.Gguf;

namespace Fathom.Tensors.Quants;

/// <summary>
/// Converts float32 weights to GGUF block formats with llama.cpp's deterministic rules (the
/// <c>quantize_row_*_ref</c> paths llama-quantize takes without an importance matrix), with the same
/// float operations in the same order, so the bytes equal llama.cpp's.
/// Activations for dot products use <see cref="Q8Activations"/> instead (the CPU backend's rules differ).
/// </summary>
public static unsafe partial class Quantize
{
    /// <summary>True when <see cref="Row"/> can produce <paramref name="type"/>.</summary>
    public static bool IsSupported(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
            or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
            or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K
            or GgmlType.IQ4_NL or GgmlType.IQ4_XS => true,
        _ => false,
    };

    /// <summary>
    /// Quantizes <paramref name="src"/> (a whole number of blocks) into <paramref name="dst"/>, which must hold
    /// at least <see cref="GgmlTypeInfo.RowSize"/> bytes. Returns the bytes written.
    /// </summary>
    public static int Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!IsSupported(type))
            throw new NotSupportedException($"Quantizing to {GgmlTypeInfo.Name(type)} is not supported.");
        int block = GgmlTypeInfo.BlockSize(type);
        if (src.Length % block != 0)
            throw new ArgumentException($"{src.Length} elements is not a whole number of {GgmlTypeInfo.Name(type)} blocks of {block}.", nameof(src));
        int need = checked((int)GgmlTypeInfo.RowSize(type, src.Length));
        if (dst.Length < need)
            throw new ArgumentException($"Destination holds {dst.Length} bytes; {src.Length} {GgmlTypeInfo.Name(type)} elements need {need}.", nameof(dst));
        int nb = src.Length / block;
        fixed (float* x = src)
        fixed (byte* y = dst)
        {
            switch (type)
            {
                case GgmlType.F32: src.CopyTo(new Span<float>(y, src.Length)); break;
                case GgmlType.F16: F16(x, (ushort*)y, src.Length); break;
                case GgmlType.BF16: BF16(x, (ushort*)y, src.Length); break;
                case GgmlType.Q4_0: Q4_0(x, (BlockQ4_0*)y, nb); break;
                case GgmlType.Q4_1: Q4_1(x, (BlockQ4_1*)y, nb); break;
                case GgmlType.Q5_0: Q5_0(x, (BlockQ5_0*)y, nb); break;
                case GgmlType.Q5_1: Q5_1(x, (BlockQ5_1*)y, nb); break;
                case GgmlType.Q8_0: Q8_0(x, (BlockQ8_0*)y, nb); break;
                case GgmlType.Q8_1: Q8_1(x, (BlockQ8_1*)y, nb); break;
                case GgmlType.Q2_K: Q2_K(x, (BlockQ2_K*)y, nb); break;
                case GgmlType.Q3_K: Q3_K(x, (BlockQ3_K*)y, nb); break;
                case GgmlType.Q4_K: Q4_K(x, (BlockQ4_K*)y, nb); break;
                case GgmlType.Q5_K: Q5_K(x, (BlockQ5_K*)y, nb); break;
                case GgmlType.Q6_K: Q6_K(x, (BlockQ6_K*)y, nb); break;
                case GgmlType.Q8_K: Q8_K(x, (BlockQ8_K*)y, nb); break;
                case GgmlType.IQ4_NL: IQ4_NL(x, (BlockIQ4_NL*)y, nb); break;
                case GgmlType.IQ4_XS: IQ4_XS(x, (BlockIQ4_XS*)y, nb); break;
            }
        }
        return need;
    }

    /// <summary>ggml's nearest_int: round half to even through the 1.5·2²³ float trick (valid for |v| ≤ 4194303).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NearestInt(float v)
    {
        float biased = v + 12582912f;
        return (BitConverter.SingleToInt32Bits(biased) & 0x007fffff) - 0x00400000;
    }

    private static void F16(float* x, ushort* y, int n)
    {
        for (int i = 0; i < n; i++)
            y[i] = Fp16.FromFloat(x[i]);
    }

    private static void BF16(float* x, ushort* y, int n)
    {
        for (int i = 0; i < n; i++)
            y[i] = Bf16.FromFloat(x[i]);
    }

    /// <summary>The value of largest magnitude (the first one on ties), with its sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SignedAbsMax(float* x, int n, out float amax)
    {
        amax = 0f;
        float max = 0f;
        for (int j = 0; j < n; j++)
        {
            float a = MathF.Abs(x[j]);
            if (amax < a)
            {
                amax = a;
                max = x[j];
            }
        }
        return max;
    }

    private static void MinMax(float* x, int n, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        for (int j = 0; j < n; j++)
        {
            float v = x[j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    private static void Q4_0(float* x, BlockQ4_0* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float max = SignedAbsMax(x, 32, out _);
            float d = max / -8f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
                y->Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    private static void Q4_1(float* x, BlockQ4_1* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            MinMax(x, 32, out float min, out float max);
            float d = (max - min) / 15f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            y->M = Fp16.FromFloat(min);
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)(sbyte)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)(sbyte)((x[j + 16] - min) * id + 0.5f));
                y->Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    private static void Q5_0(float* x, BlockQ5_0* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float max = SignedAbsMax(x, 32, out _);
            float d = max / -16f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(sbyte)(x[j + 16] * id + 16.5f));
                y->Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            Unsafe.WriteUnaligned(y->Qh, qh);
        }
    }

    private static void Q5_1(float* x, BlockQ5_1* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            MinMax(x, 32, out float min, out float max);
            float d = (max - min) / 31f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            y->M = Fp16.FromFloat(min);
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = (byte)((x[j] - min) * id + 0.5f);
                int q1 = (byte)((x[j + 16] - min) * id + 0.5f);
                y->Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            Unsafe.WriteUnaligned(y->Qh, qh);
        }
    }

    private static float AbsMax(float* x, int n)
    {
        float amax = 0f;
        for (int j = 0; j < n; j++)
        {
            float a = MathF.Abs(x[j]);
            amax = amax > a ? amax : a;
        }
        return amax;
    }

    // Weights use roundf (half away from zero); activations use Q8Activations (half to even).
    private static void Q8_0(float* x, BlockQ8_0* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float d = AbsMax(x, 32) / 127f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            for (int j = 0; j < 32; j++)
                y->Qs[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    private static void Q8_1(float* x, BlockQ8_1* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 32, y++)
        {
            float d = AbsMax(x, 32) / 127f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            y->D = Fp16.FromFloat(d);
            int sum = 0;
            for (int j = 0; j < 32; j++)
            {
                sbyte q = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
                y->Qs[j] = q;
                sum += q;
            }
            y->S = Fp16.FromFloat(sum * d);
        }
    }

    /// <summary>Q8_K as quantize_row_q8_K_ref (also the CPU backend's activation quantizer for K-quants).</summary>
    internal static void Q8_K(float* x, BlockQ8_K* y, int nb)
    {
        for (int i = 0; i < nb; i++, x += 256, y++)
        {
            float max = SignedAbsMax(x, 256, out float amax);
            if (amax == 0f)
            {
                y->D = 0f;
                new Span<byte>(y->Qs, 256).Clear();
                // ggml leaves bsums untouched here; zero them so the block is deterministic.
                new Span<short>(y->BSums, 16).Clear();
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < 256; j++)
                y->Qs[j] = (sbyte)Math.Min(127, NearestInt(iscale * x[j]));
            for (int j = 0; j < 16; j++)
            {
                int sum = 0;
                for (int k = 0; k < 16; k++)
                    sum += y->Qs[j * 16 + k];
                y->BSums[j] = (short)sum;
            }
            y->D = 1 / iscale;
        }
    }
}
