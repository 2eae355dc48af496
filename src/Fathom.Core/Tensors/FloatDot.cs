using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Fathom.Tensors;

/// <summary>Dot products of F32 and F16 rows; each SIMD kernel has its plain reference beside it.</summary>
internal static class FloatDot
{
    /// <summary>ggml_vec_dot_f32's generic form: float products summed in double.</summary>
    public static float F32Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return (float)sum;
    }

    public static float F32(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length;
        if (b.Length < n)
            throw new ArgumentException("Second operand is shorter than the first.", nameof(b));
        ref float pa = ref MemoryMarshal.GetReference(a);
        ref float pb = ref MemoryMarshal.GetReference(b);
        int i = 0;
        float sum = 0;
        if (Simd.Use512 && n >= 16)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i), Vector512.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i + 16), Vector512.LoadUnsafe(ref pb, (nuint)i + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i + 32), Vector512.LoadUnsafe(ref pb, (nuint)i + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i + 48), Vector512.LoadUnsafe(ref pb, (nuint)i + 48), s3);
            }
            for (; i + 16 <= n; i += 16)
                s0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref pa, (nuint)i), Vector512.LoadUnsafe(ref pb, (nuint)i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i + 8), Vector256.LoadUnsafe(ref pb, (nuint)i + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i + 16), Vector256.LoadUnsafe(ref pb, (nuint)i + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i + 24), Vector256.LoadUnsafe(ref pb, (nuint)i + 24), s3);
            }
            for (; i + 8 <= n; i += 8)
                s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pa, (nuint)i), Vector256.LoadUnsafe(ref pb, (nuint)i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector128.IsHardwareAccelerated && n >= 4)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                s0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref pa, (nuint)i), Vector128.LoadUnsafe(ref pb, (nuint)i), s0);
                s1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref pa, (nuint)i + 4), Vector128.LoadUnsafe(ref pb, (nuint)i + 4), s1);
            }
            for (; i + 4 <= n; i += 4)
                s0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref pa, (nuint)i), Vector128.LoadUnsafe(ref pb, (nuint)i), s0);
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++)
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref pa, i), Unsafe.Add(ref pb, i), sum);
        return sum;
    }

    /// <summary>ggml_vec_dot_f16's generic form: both sides F16, products in float, summed in double.</summary>
    public static float F16Reference(ReadOnlySpan<ushort> a, ReadOnlySpan<ushort> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += F16.ToFloat(a[i]) * F16.ToFloat(b[i]);
        return (float)sum;
    }

    public static float F16Dot(ReadOnlySpan<ushort> a, ReadOnlySpan<ushort> b)
    {
        int n = a.Length;
        if (b.Length < n)
            throw new ArgumentException("Second operand is shorter than the first.", nameof(b));
        ref ushort pa = ref MemoryMarshal.GetReference(a);
        ref ushort pb = ref MemoryMarshal.GetReference(b);
        int i = 0;
        float sum = 0;
        if (Simd.Use512 && n >= 32)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= n; i += 32)
            {
                var (al, ah) = Vector512.Widen(Vector512.LoadUnsafe(ref pa, (nuint)i));
                var (bl, bh) = Vector512.Widen(Vector512.LoadUnsafe(ref pb, (nuint)i));
                s0 = Vector512.FusedMultiplyAdd(F16.ToFloat(al), F16.ToFloat(bl), s0);
                s1 = Vector512.FusedMultiplyAdd(F16.ToFloat(ah), F16.ToFloat(bh), s1);
            }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (al, ah) = Vector256.Widen(Vector256.LoadUnsafe(ref pa, (nuint)i));
                var (bl, bh) = Vector256.Widen(Vector256.LoadUnsafe(ref pb, (nuint)i));
                s0 = Vector256.FusedMultiplyAdd(F16.ToFloat(al), F16.ToFloat(bl), s0);
                s1 = Vector256.FusedMultiplyAdd(F16.ToFloat(ah), F16.ToFloat(bh), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        else if (Vector128.IsHardwareAccelerated && n >= 8)
        {
            Vector128<float> s0 = default, s1 = default;
            for (; i + 8 <= n; i += 8)
            {
                var (al, ah) = Vector128.Widen(Vector128.LoadUnsafe(ref pa, (nuint)i));
                var (bl, bh) = Vector128.Widen(Vector128.LoadUnsafe(ref pb, (nuint)i));
                s0 = Vector128.FusedMultiplyAdd(F16.ToFloat(al), F16.ToFloat(bl), s0);
                s1 = Vector128.FusedMultiplyAdd(F16.ToFloat(ah), F16.ToFloat(bh), s1);
            }
            sum = Vector128.Sum(s0 + s1);
        }
        for (; i < n; i++)
            sum = MathF.FusedMultiplyAdd(F16.ToFloat(Unsafe.Add(ref pa, i)), F16.ToFloat(Unsafe.Add(ref pb, i)), sum);
        return sum;
    }

    /// <summary>Rounds activations to F16 as ggml does before an F16 mat-vec.</summary>
    public static void ToF16(ReadOnlySpan<float> x, Span<ushort> y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = F16.FromFloat(x[i]);
    }
}
