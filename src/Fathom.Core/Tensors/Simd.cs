using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Fathom.Tensors;

/// <summary>
/// The one place that decides which vector width the kernels use. Each property is a JIT-time
/// constant, so the branches on it vanish; IsHardwareAccelerated honours DOTNET_EnableAVX512F=0,
/// DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0.
/// </summary>
internal static class Simd
{
    /// <summary>
    /// A prefetch hint for one line in each of four rows stride bytes apart (the next four-row pass of a decode
    /// kernel: rows this short end before the hardware prefetchers ramp up). A hint never faults.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void PrefetchFourRows(byte* first, long stride)
    {
        if (!Sse.IsSupported)
            return;
        Sse.Prefetch0(first);
        Sse.Prefetch0(first + stride);
        Sse.Prefetch0(first + 2 * stride);
        Sse.Prefetch0(first + 3 * stride);
    }

    /// <summary>512-bit vectors are accelerated: the widest path.</summary>
    public static bool Use512
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated;
    }

    /// <summary>256-bit vectors are the widest accelerated ones.</summary>
    public static bool Use256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated;
    }

    /// <summary>128-bit vectors are the widest accelerated ones.</summary>
    public static bool Use128
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !Vector512.IsHardwareAccelerated && !Vector256.IsHardwareAccelerated && Vector128.IsHardwareAccelerated;
    }

    /// <summary>x86 byte multiply-add kernels (vpmaddubsw) at 512 bits.</summary>
    public static bool UseAvx512BW
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated && Avx512BW.IsSupported;
    }

    /// <summary>x86 byte multiply-add kernels at 256 bits (used when 512 is off).</summary>
    public static bool UseAvx2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !UseAvx512BW && Vector256.IsHardwareAccelerated && Avx2.IsSupported;
    }

    /// <summary>The quantized dot kernels' path: 256-bit byte multiply-adds (vpmaddubsw/vpsignb, or AVX-VNNI vpdpbusd in the decode kernels); else 128-bit or scalar.</summary>
    public static bool UseAvx2Kernels
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256.IsHardwareAccelerated && Avx2.IsSupported;
    }

    /// <summary>
    /// Horizontal sum in ggml's order (hsum_float_8): r = lo + hi, then (r0 + r2) + (r1 + r3).
    /// Vector256.Sum adds in another order, which moves the last bit and, through later roundings, logits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector256<float> v)
    {
        var r = v.GetLower() + v.GetUpper();
        return (r.GetElement(0) + r.GetElement(2)) + (r.GetElement(1) + r.GetElement(3));
    }

    /// <summary>A short name of the chosen path, for benchmarks and logs.</summary>
    public static string Describe() =>
        (UseAvx512BW ? "avx512bw" : Use512 ? "vector512" : UseAvx2 ? "avx2" : Use256 ? "vector256" : Use128 ? "vector128" : "scalar")
        + (UseAvx2Kernels && AvxVnni.IsSupported ? "+avxvnni" : "");
}
